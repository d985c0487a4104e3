"""The `finalize` node: pick the answer text, read its last `\\boxed{}`, and total the budgets."""

from __future__ import annotations

from typing import Any

from langgraph_pdr.nodes.answers import best_scored, majority
from langgraph_pdr.nodes.runtime import node_env, spent
from langgraph_pdr.nodes.verify import scored
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.records import Draft, RunOutcome


def pick(drafts: list[Draft], config: PDRConfig, stop_reason: str) -> Draft | None:
    """The draft whose text is the answer.

    A completed refining run answers with its last round's single draft; self-consistency with the
    majority answer; best-of-N with the best-scored draft. A run stopped early answers with the best
    it has: the best-scored draft when scores exist, else the majority answer.
    """
    ok = [d for d in drafts if d.ok]
    if config.method == "self_consistency":
        return majority(ok)
    if config.method == "best_of_n" or (stop_reason != "completed" and any(d.score is not None for d in ok)):
        return best_scored(ok)
    if stop_reason == "completed" and len(ok) == 1:
        return ok[0]
    return majority(ok)


def finalize(state: dict[str, Any], default_config: PDRConfig) -> dict[str, Any]:
    env = node_env(default_config)
    stop_reason = state.get("stop_reason") or "completed"
    drafts = scored(state.get("drafts") or [], state.get("verifications") or [])
    chosen = pick(drafts, env.config, stop_reason)
    b_total, b_seq = spent(state)
    outcome = RunOutcome(
        answer=chosen.answer if chosen else None,
        text=chosen.text if chosen else "",
        b_seq=b_seq,
        b_total=b_total,
        stop_reason=stop_reason,
    )
    env.record(outcome)
    env.emit("run_finished", **outcome.model_dump(exclude={"text"}))
    return {
        "answer": outcome.answer,
        "text": outcome.text,
        "b_seq": b_seq,
        "stop_reason": stop_reason,
    }
