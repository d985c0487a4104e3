"""The verifier Protocol, the request a verifier gets, and what its result becomes (a `Check`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.context import TokenCounter
from langgraph_pdr.state.records import Check, Draft

#: What a verifier's runs answer with: `program`, the draft's last fenced Python block (its prompts ask
#: for one); `text`, the last `\\boxed{}` (or the whole text), as runs without a verifier.
Answers = Literal["program", "text"]


@dataclass(frozen=True)
class CheckRequest:
    """What a verifier gets: the task and one draft.

    Attributes:
        question: the task, as the model was asked it.
        draft: the draft to check (its `text`, `round`, `index`, its tool calls in `turns`).
        answer: what the run would answer with this draft: its program for a verifier that answers
            with programs (`python_tests`), else its last `\\boxed{}` (or whole text); None when it
            has none (no closed code block, say).
        tests: the run's visible tests (`run_pdr(..., tests=...)`), or None.
        config: the run's configuration.
        counter: counts tokens, to bound feedback.

    Example:
        ```python
        from langgraph_pdr import CheckRequest, Draft, PDRConfig, Utf8TokenCounter, get_verifier

        program = "def add(a, b):\\n    return a - b"
        draft = Draft(round=1, index=0, text=f"Here:\\n{'`' * 3}python\\n{program}\\n{'`' * 3}")
        request = CheckRequest(question="Write add(a, b).", draft=draft, answer=program,
                               tests="assert add(2, 2) == 4", config=PDRConfig(), counter=Utf8TokenCounter())
        check = get_verifier("python_tests").check(request)
        assert not check.passed and check.score == 0.0
        assert "assert add(2, 2) == 4" in check.feedback and "got 0" in check.feedback
        ```
    """

    question: str
    draft: Draft
    answer: str | None
    tests: str | None
    config: PDRConfig
    counter: TokenCounter


@runtime_checkable
class Verifier(Protocol):
    """Checks one draft: `check` (and its async twin `acheck`) returns a `Check`.

    `name` is what `PDRConfig(verifier=...)` calls it; `answers` says what its runs answer with
    (`program` or `text`, see `Answers`). Subclass `BaseVerifier` for the defaults, or register a
    function with `register_verifier`.

    Example:
        ```python
        from langgraph_pdr import Verifier, get_verifier

        verifier = get_verifier("python_tests")
        assert isinstance(verifier, Verifier) and verifier.answers == "program"
        ```
    """

    name: ClassVar[str]
    answers: ClassVar[Answers]

    def check(self, request: CheckRequest) -> Check: ...

    async def acheck(self, request: CheckRequest) -> Check: ...


class BaseVerifier:
    """Defaults for the Protocol: runs answer with text; `acheck` runs `check` in a worker thread.

    Example:
        ```python
        from langgraph_pdr import BaseVerifier, Check, CheckRequest, Draft, PDRConfig, Utf8TokenCounter

        class Short(BaseVerifier):  # passes answers of at most 10 characters
            name = "short"

            def check(self, request: CheckRequest) -> Check:
                ok = len(request.answer or "") <= 10
                return Check(round=request.draft.round, index=request.draft.index, verifier=self.name,
                             passed=ok, score=float(ok), feedback="" if ok else "Answer is too long.")

        draft = Draft(round=1, index=0, text="\\\\boxed{42}", answer="42")
        request = CheckRequest(question="?", draft=draft, answer="42", tests=None, config=PDRConfig(),
                               counter=Utf8TokenCounter())
        assert Short().check(request).passed
        ```
    """

    name: ClassVar[str] = ""
    answers: ClassVar[Answers] = "text"

    def check(self, request: CheckRequest) -> Check:
        raise NotImplementedError

    async def acheck(self, request: CheckRequest) -> Check:
        return await asyncio.to_thread(self.check, request)


def as_check(request: CheckRequest, value: Any, verifier: str) -> Check:
    """A verifier function's result as a `Check`: a `Check` as it is (its draft and verifier filled
    in), a bool (passed, score 1 or 0), or a number (the score; passed at 1)."""
    where = {"round": request.draft.round, "index": request.draft.index, "verifier": verifier}
    if isinstance(value, Check):
        return value.model_copy(update=where)
    if isinstance(value, bool):
        return Check(**where, passed=value, score=float(value))
    if isinstance(value, (int, float)):
        score = min(max(float(value), 0.0), 1.0)
        return Check(**where, passed=score >= 1.0, score=score)
    raise TypeError(
        f"verifier {verifier!r}: returned {type(value).__name__}; expected a Check, a bool or a score"
    )
