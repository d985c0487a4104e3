"""A scripted fake chat model that reports usage, for exact orchestration tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr


@dataclass
class FakeCall:
    role: str
    round: int
    index: int
    prompt: str
    kwargs: dict[str, Any]
    reply: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    started: float = 0.0
    ended: float = 0.0
    thread: str = field(default="")
    alone: bool = False  # with `together`: the others had not all started when its wait ran out

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def judging(self) -> bool:
        """A tournament's comparison: role `judge` (the final selection), or a judge prompt sent by the
        `tournament` distiller (role `distill`)."""
        return self.role == "judge" or judge_parts(self.prompt) is not None


#: Seconds a `together` call waits for the others to start.
TOGETHER_WAIT = 30.0


def words(text: str) -> int:
    return len(text.split())


def default_reply(call: FakeCall) -> str:
    if call.judging:
        return "Both look fine. Better: 1"
    if call.role == "verify":
        return "Looks fine. Score: 5"
    if call.role == "distill":
        return "summary of the attempts"
    if call.role == "critique":
        return "no mistakes found"
    return f"draft r{call.round} i{call.index} \\boxed{{{call.round * 10 + call.index}}}"


class ScriptedChatModel(BaseChatModel):
    """Replies with `script(call)`; reports usage from `usage(call)` (default: words in and out).

    The call's role, round and index come from the run metadata every PDR call carries.
    `delay` (seconds) is slept per call; `script` may raise to simulate failures. With `together`
    = N, each of the first N calls waits (up to `TOGETHER_WAIT` seconds) until all N have started:
    calls made one after another then show as `alone`, whatever the machine's load, where a bound on
    elapsed time would be a guess.
    """

    script: Callable[[FakeCall], str] = default_reply
    usage: Callable[[FakeCall], tuple[int, int]] | None = None
    delay: float = 0.0
    together: int = 0
    _started: int = PrivateAttr(default=0)
    _log: list[FakeCall] = PrivateAttr(default_factory=list)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    @property
    def log(self) -> list[FakeCall]:
        with self._lock:
            return list(self._log)

    def calls(self, role: str | None = None, round: int | None = None) -> list[FakeCall]:
        return [
            c for c in self.log if (role is None or c.role == role) and (round is None or c.round == round)
        ]

    def _start(self, messages: list[BaseMessage], run_manager: Any, kwargs: dict) -> FakeCall:
        meta = (run_manager.metadata if run_manager else None) or {}
        prompt = "\n".join(str(m.content) for m in messages)
        return FakeCall(
            role=meta.get("pdr_role", "draft"),
            round=meta.get("pdr_round", 0),
            index=meta.get("pdr_index", 0),
            prompt=prompt,
            kwargs=kwargs,
            started=time.monotonic(),
            thread=threading.current_thread().name,
        )

    def _finish(self, call: FakeCall) -> ChatResult:
        try:
            call.reply = self.script(call)
        finally:
            call.ended = time.monotonic()
        inp, out = self.usage(call) if self.usage else (words(call.prompt), words(call.reply))
        call.input_tokens, call.output_tokens = inp, out
        with self._lock:
            self._log.append(call)
        message = AIMessage(
            call.reply,
            usage_metadata={"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out},
            response_metadata={"finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _arrive(self) -> tuple[bool, float]:
        """Count this call's start; whether it must wait for the others, and until when."""
        with self._lock:
            self._started += 1
            return self._started <= self.together, time.monotonic() + TOGETHER_WAIT

    def _all_started(self) -> bool:
        with self._lock:
            return self._started >= self.together

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[override]
        call = self._start(messages, run_manager, {**kwargs, "stop": stop} if stop else kwargs)
        waits, deadline = self._arrive()
        while waits and not self._all_started() and time.monotonic() < deadline:
            time.sleep(0.005)
        call.alone = waits and not self._all_started()
        if self.delay:
            time.sleep(self.delay)
        return self._finish(call)

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[override]
        call = self._start(messages, run_manager, {**kwargs, "stop": stop} if stop else kwargs)
        waits, deadline = self._arrive()
        while waits and not self._all_started() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        call.alone = waits and not self._all_started()
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._finish(call)


def match_parts(prompt: str, field: str, prompts: Any = None) -> dict[str, str] | None:
    """The values a prompt was made with from template `field` of a prompt set (default: the default
    set; an optional template the set leaves out: `card`'s); None when it was made from another."""
    import re
    import string

    from langgraph_pdr import PDRConfig, get_prompts

    template = getattr(prompts or get_prompts(PDRConfig().prompts), field)
    template = template if template is not None else getattr(get_prompts("card"), field)
    pattern = ""
    for literal, name, _, _ in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if name is not None:
            pattern += f"(?P<{name}>.*)"
    match = re.fullmatch(pattern, prompt, re.DOTALL)
    return match.groupdict() if match is not None else None


def parts_of(prompt: str, field: str, prompts: Any = None) -> dict[str, str]:
    """The values a prompt was made with from template `field` of a prompt set (default: the default
    set), so tests read a prompt the way it was written whatever its wording."""
    parts = match_parts(prompt, field, prompts)
    assert parts is not None, f"not a {field!r} prompt: {prompt[:200]!r}"
    return parts


def judge_parts(prompt: str) -> dict[str, str] | None:
    """The question and the two solutions (`first`, `second`) of a tournament's judge prompt; None
    for another prompt."""
    return match_parts(prompt, "judge")
