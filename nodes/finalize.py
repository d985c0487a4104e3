"""The `finalize` node: pick the answer text, read its answer, and total the budgets.

A refining run answers with the vote of its last round (one draft, or several: PDR may end in a vote);
self-consistency with its vote; best-of-N with its best-scored draft. A run that stopped early (a cap,
`converged`) answers with the best it paid for: the vote of its last round, or, when that round has no
finished draft, the vote of the round before (`state["best"]`); a completed run whose last round was
cut off before any answer says so with `stop_reason` `unfinished`.

With `PDRConfig(selector="tournament")`, a PDR run that completed its schedule answers with the winner of
a tournament among its last round's finished drafts instead of their vote: pairwise comparisons judged by
the model (role `judge`, one stage per bracket level; see `langgraph_pdr.runtime.knockout`). A cap that
refuses a level ends the tournament: the run answers with the vote and stops with the cap's reason.
"""

from __future__ import annotations

from typing import Any

from langgraph_pdr.budgets.accounting import BILLING, spent
from langgraph_pdr.calls.model_call import KEPT
from langgraph_pdr.calls.steps import Call, Steps, arun_steps, run_steps
from langgraph_pdr.nodes.collect import NO_DRAFTS
from langgraph_pdr.nodes.verify import scored
from langgraph_pdr.runtime.environment import NodeEnv, node_env
from langgraph_pdr.runtime.knockout import Selection, final_selection
from langgraph_pdr.selection.answer_votes import best_scored, finished, vote
from langgraph_pdr.selection.check_rank import best_checked, with_checks
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.graph_state import merge_max
from langgraph_pdr.state.records import Draft, RunOutcome

#: A completed run whose last round finished no draft: it answers with an earlier round's vote.
UNFINISHED = "unfinished"


def pick(
    drafts: list[Draft], config: PDRConfig, best: Draft | None = None, *, checked: bool = False
) -> Draft | None:
    """The draft whose text is the answer: the vote of `drafts` (best-of-N: the best-scored), ties to
    the answer of `best`, the previous round's vote; `best` itself when no draft of `drafts` finished.
    A run that checks its drafts (`checked`) answers with the best-checked of `drafts` and `best`."""
    if checked:
        return best_checked([*drafts, *([best] if best is not None else [])]) or vote(drafts) or best
    if config.method == "best_of_n":
        return best_scored(finished(drafts)) or best
    return vote(drafts, previous=best.answer if best is not None else None) or best


def last_resort(drafts: list[Draft]) -> Draft | None:
    """With no finished draft in the whole run: the last successful draft, to show what was written."""
    ok = [d for d in drafts if d.ok]
    return ok[-1] if ok else None


def _outcome(state: dict[str, Any], env: NodeEnv, selection: Selection) -> tuple[RunOutcome, dict[str, Any]]:
    """The run's outcome and the state update that ends it (the tournament's calls booked)."""
    stop_reason = state.get("stop_reason") or selection.stop or "completed"
    drafts = scored(state.get("drafts") or [], state.get("verifications") or [])
    drafts = with_checks(drafts, state.get("checks") or [])
    checked = state.get("verifier") is not None
    # a failed round ends the run as failed (resumable), not with an answer
    chosen = (
        None
        if stop_reason == NO_DRAFTS
        else selection.winner or pick(drafts, env.config, state.get("best"), checked=checked)
    )
    if stop_reason == "completed" and drafts and not finished(drafts):
        stop_reason = UNFINISHED
    shown = chosen or last_resort(drafts)
    usage = selection.usage(env, int(state.get("round") or 0)) if selection.calls or selection.stop else {}
    b_total, _ = spent(state)
    b_total += usage.get("b_total", 0)
    b_seq = sum(merge_max(state.get("stage_max") or {}, usage.get("stage_max") or {}).values())
    outcome = RunOutcome(
        answer=chosen.answer if chosen else None,
        text=shown.text if shown else "",
        b_seq=b_seq,
        b_total=b_total,
        stop_reason=stop_reason,
    )
    update = {
        **usage,
        "answer": outcome.answer,
        "text": outcome.text,
        "b_seq": b_seq,
        "stop_reason": stop_reason,
    }
    return outcome, update


def _ended(env: NodeEnv, outcome: RunOutcome, update: dict[str, Any]) -> dict[str, Any]:
    BILLING.forget(env.thread_id)
    KEPT.forget(env.thread_id)
    env.emit("run_finished", **outcome.model_dump(exclude={"text"}))
    return update


def _finalize(state: dict[str, Any], env: NodeEnv) -> Steps[dict[str, Any]]:
    selection = yield from final_selection(state, env)
    outcome, update = _outcome(state, env, selection)
    yield Call.twin(env, "record", *selection.calls, *selection.judgments, outcome)
    return _ended(env, outcome, update)


def finalize(state: dict[str, Any], default_config: PDRConfig) -> dict[str, Any]:
    """End the run: its answer (the vote, or the tournament's winner), its budgets, its stop reason."""
    return run_steps(_finalize(state, node_env(default_config)))


async def afinalize(state: dict[str, Any], default_config: PDRConfig) -> dict[str, Any]:
    """Async twin of `finalize` (one implementation: `langgraph_pdr.calls.steps`)."""
    return await arun_steps(_finalize(state, node_env(default_config)))
