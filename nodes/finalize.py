"""The `finalize` node: pick the answer text, read its answer, and total the budgets.

A refining run answers with the vote of its last round (one draft, or several: PDR may end in a vote);
self-consistency with its vote; best-of-N with its best-scored draft. A run that stopped early (a cap,
`converged`) answers with the best it paid for: the vote of its last round, or, when that round has no
finished draft, the vote of the round before (`state["best"]`); a completed run whose last round was
cut off before any answer says so with `stop_reason` `unfinished`.
"""

from __future__ import annotations

from typing import Any

from langgraph_pdr.nodes.answers import best_scored, finished, vote
from langgraph_pdr.nodes.budget import BILLING, spent
from langgraph_pdr.nodes.collect import NO_DRAFTS
from langgraph_pdr.nodes.runtime import node_env
from langgraph_pdr.nodes.verify import scored
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.records import Draft, RunOutcome

#: A completed run whose last round finished no draft: it answers with an earlier round's vote.
UNFINISHED = "unfinished"


def pick(drafts: list[Draft], config: PDRConfig, best: Draft | None = None) -> Draft | None:
    """The draft whose text is the answer: the vote of `drafts` (best-of-N: the best-scored), ties to
    the answer of `best`, the previous round's vote; `best` itself when no draft of `drafts` finished."""
    if config.method == "best_of_n":
        return best_scored(finished(drafts)) or best
    return vote(drafts, previous=best.answer if best is not None else None) or best


def last_resort(drafts: list[Draft]) -> Draft | None:
    """With no finished draft in the whole run: the last successful draft, to show what was written."""
    ok = [d for d in drafts if d.ok]
    return ok[-1] if ok else None


def finalize(state: dict[str, Any], default_config: PDRConfig) -> dict[str, Any]:
    env = node_env(default_config)
    stop_reason = state.get("stop_reason") or "completed"
    drafts = scored(state.get("drafts") or [], state.get("verifications") or [])
    # a failed round ends the run as failed (resumable), not with an answer
    chosen = None if stop_reason == NO_DRAFTS else pick(drafts, env.config, state.get("best"))
    if stop_reason == "completed" and drafts and not finished(drafts):
        stop_reason = UNFINISHED
    shown = chosen or last_resort(drafts)
    b_total, b_seq = spent(state)
    outcome = RunOutcome(
        answer=chosen.answer if chosen else None,
        text=shown.text if shown else "",
        b_seq=b_seq,
        b_total=b_total,
        stop_reason=stop_reason,
    )
    env.record(outcome)
    BILLING.forget(env.thread_id)
    env.emit("run_finished", **outcome.model_dump(exclude={"text"}))
    return {
        "answer": outcome.answer,
        "text": outcome.text,
        "b_seq": b_seq,
        "stop_reason": stop_reason,
    }
