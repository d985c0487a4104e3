"""Self-verification: the model scores a draft from 0 to 10 (the scores rank drafts for top-k)."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.errors import NodeError
from langgraph.types import Send

from langgraph_pdr.calls.image_input import question_message
from langgraph_pdr.calls.model_call import ImagesNotSupported, call_model_steps
from langgraph_pdr.calls.steps import Call, Steps, arun_steps, run_steps
from langgraph_pdr.calls.token_count import prompt_bound
from langgraph_pdr.runtime.environment import NodeEnv, call_fields, node_env
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.graph_state import VerifyTask
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.state.records import CallRecord, Draft, Verification
from langgraph_pdr.tooling.transcript import draft_body

MAX_SCORE = 10.0
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_PATTERNS = (
    re.compile(r"score\s*[:=]?\s*\**\s*" + _NUMBER + r"\s*(?:/\s*10)?", re.IGNORECASE),
    re.compile(r"\\boxed\s*\{\s*" + _NUMBER + r"\s*(?:/\s*10)?\s*\}"),
    re.compile(_NUMBER + r"\s*/\s*10\b"),
    re.compile(r"rating\s*[:=]?\s*\**\s*" + _NUMBER, re.IGNORECASE),
)


def parse_score(text: str) -> float | None:
    """The last score in a verification reply, in [0, 10]; None when there is none or it is out of range."""
    for pattern in _PATTERNS:
        matches = pattern.findall(text or "")
        if matches:
            try:
                value = float(matches[-1])
            except ValueError:
                return None
            return value if 0.0 <= value <= MAX_SCORE else None
    return None


def verify_messages(task: VerifyTask, prompts: PromptSet) -> list[BaseMessage]:
    text = prompts.verify.format(question=task["question"], solution=draft_body(task["draft"]))
    return [question_message(text, task.get("images"))]


def verify_tasks(state: dict[str, Any], committed: int | None = None) -> list[VerifyTask]:
    """One verification per finished draft of the current round (a draft cut off before its answer
    has nothing to verify); `committed` is what the stage reserved."""
    return [
        VerifyTask(
            question=state["question"], draft=d, committed=committed, images=list(state.get("images") or [])
        )
        for d in state.get("drafts") or []
        if d.ok and not d.unfinished
    ]


def verify_costs(state: dict[str, Any], env: NodeEnv) -> list[int]:
    limit = env.config.max_tokens.verify
    return [prompt_bound(verify_messages(t, env.prompts), env.counter) + limit for t in verify_tasks(state)]


def send_verifications(state: dict[str, Any], committed: int | None = None) -> list[Send]:
    return [Send("verify", t) for t in verify_tasks(state, committed)]


def _verify_call(env: NodeEnv, task: VerifyTask) -> dict[str, Any]:
    cfg, d = env.config, task["draft"]
    return call_fields(
        env,
        role="verify",
        round=d.round,
        index=d.index,
        max_tokens=cfg.max_tokens.verify,
        temperature=cfg.temperature.verify,
        committed=task.get("committed"),
    )


def _verification(d: Draft, text: str, call: CallRecord) -> Verification:
    return Verification(round=d.round, index=d.index, score=parse_score(text), text=text, call=call)


def _verified(env: NodeEnv, v: Verification) -> dict[str, Any]:
    """The state update of a recorded verification, and its event."""
    tokens = v.call.total_tokens if v.call else 0
    env.emit("draft_verified", round=v.round, index=v.index, score=v.score, tokens=tokens)
    # the state keeps the score; the reply's text goes to the ledger only
    return {"verifications": [v.model_copy(update={"text": ""})], **env.usage(v.call)}


def _verify(task: VerifyTask, env: NodeEnv) -> Steps[dict[str, Any]]:
    messages = verify_messages(task, env.prompts)
    text, call = yield from call_model_steps(env.model, messages, **_verify_call(env, task))
    v = _verification(task["draft"], text, call)
    yield Call.twin(env, "record", v.call, v)
    return _verified(env, v)


def verify(task: VerifyTask, default_config: PDRConfig) -> dict[str, Any]:
    """Score one draft with one model call; an unparseable reply scores None (unknown)."""
    return run_steps(_verify(task, node_env(default_config)))


async def averify(task: VerifyTask, default_config: PDRConfig) -> dict[str, Any]:
    """Async twin of `verify` (one implementation: `langgraph_pdr.calls.steps`)."""
    return await arun_steps(_verify(task, node_env(default_config)))


def verify_failed(task: VerifyTask, error: NodeError, default_config: PDRConfig) -> dict[str, Any]:
    """A verification whose retries are spent leaves the draft's score unknown."""
    if isinstance(error.error, ImagesNotSupported):
        raise error.error
    env = node_env(default_config)
    d = task["draft"]
    v = Verification(round=d.round, index=d.index, error=f"{type(error.error).__name__}: {error.error}")
    env.record(v)
    return {"verifications": [v], **env.failed_usage("verify", d.round, d.index)}


def scored(drafts: list[Draft], verifications: list[Verification]) -> list[Draft]:
    """`drafts` with their verification scores filled in."""
    scores = {(v.round, v.index): v.score for v in verifications}
    return [d.model_copy(update={"score": scores.get((d.round, d.index), d.score)}) for d in drafts]
