"""The `collect` node joins a round's drafts and books the round; after the round's checks (when the run
has a verifier), the `checked` node joins them. Whichever comes last decides: stop (the drafts passed
or agreed), reserve the verification stage, or go on."""

from __future__ import annotations

from typing import Any

from langgraph.types import Send

from langgraph_pdr.budgets.accounting import reserve
from langgraph_pdr.nodes.check import VERIFIED, check_tasks, send_checks
from langgraph_pdr.nodes.distill import get_distiller
from langgraph_pdr.nodes.verify import send_verifications, verify_costs
from langgraph_pdr.runtime.environment import NodeEnv, node_env, run_config
from langgraph_pdr.selection.answer_votes import agreement_share, normalize, vote
from langgraph_pdr.selection.check_rank import agreeing_passes, passed, with_checks
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.records import Draft, RoundSummary

#: Every draft of a round failed; the run is resumable (it re-sends the round).
NO_DRAFTS = "no_drafts"
#: The drafts agreed enough (`early_stop`): the run ends with their answer, before its last round.
CONVERGED = "converged"


def converged(drafts: list[Draft], config: PDRConfig, round: int, best: Draft | None) -> bool:
    """Whether a round ends the run early: PDR when at least `early_stop` of its finished drafts (two
    or more) reached one answer; SR when its rewrite kept the previous round's answer; self-consistency
    when `early_stop` of the drafts of all its windows so far did (`drafts` holds them all)."""
    if config.early_stop is None or round >= config.rounds:
        return False
    if config.method in ("sr", "sr_error"):
        leader = vote(drafts)
        return (
            best is not None
            and leader is not None
            and best.answer is not None
            and leader.answer is not None
            and normalize(leader.answer) == normalize(best.answer)
        )
    _, count, total = agreement_share(drafts)
    return count >= 2 and count >= config.early_stop * total


def needs_verification(state: dict[str, Any], config: PDRConfig) -> bool:
    """Best-of-N scores its drafts (unless checks rank them); PDR does before a distiller that ranks by
    score."""
    if config.method == "best_of_n":
        return state.get("verifier") is None
    return (
        config.method == "pdr"
        and state["round"] < config.rounds
        and get_distiller(config.distiller).needs_scores
    )


def collect(state: dict[str, Any], default_config: PDRConfig) -> dict[str, Any]:
    """Close the round: at least one draft must survive, and verification must fit the caps."""
    env = node_env(default_config)
    cfg, r = env.config, state["round"]
    drafts = [d for d in state.get("drafts") or [] if d.round == r]
    survivors = sum(d.ok for d in drafts)
    env.record(RoundSummary(round=r, width=cfg.width(r), survivors=survivors))
    round_tokens = sum(d.call.total_tokens for d in drafts if d.call is not None)
    env.emit(
        "round_finished",
        round=r,
        drafts=len(drafts),
        survivors=survivors,
        round_tokens=round_tokens,
        b_total=int(state.get("b_total") or 0),
    )
    if not survivors:
        # drafts refused because failed attempts spent the budget end the run at its cap, not as a
        # failure to resume (it would only hit the cap again)
        stops = {(d.error or "").partition("BudgetStop: ")[2] for d in drafts}
        reason = stops.pop() if len(stops) == 1 and "" not in stops else NO_DRAFTS
        env.emit("run_stopping", reason=reason, round=r)
        return {"stop_reason": reason}
    if check_tasks(state):  # the round's checks come first; `checked` decides after them
        return {}
    return decide(state, env)


def checked(state: dict[str, Any], default_config: PDRConfig) -> dict[str, Any]:
    """Join the round's checks and decide what follows (see `decide`)."""
    return decide(state, node_env(default_config))


def decide(state: dict[str, Any], env: NodeEnv) -> dict[str, Any]:
    """After a round (and its checks): stop when a draft passed (`stop_on_pass`; with `pass_quorum`,
    when that many passing drafts agree) or the drafts agreed (`early_stop`) before the last round;
    else reserve the verification stage the run needs next."""
    cfg, r = env.config, state["round"]
    all_drafts = with_checks(state.get("drafts") or [], state.get("checks") or [])
    if (
        cfg.stop_on_pass
        and r < cfg.rounds
        and passed(all_drafts, r)
        and agreeing_passes(all_drafts) >= cfg.pass_quorum
    ):
        env.emit("run_stopping", reason=VERIFIED, round=r)
        return {"stop_reason": VERIFIED}
    voters = all_drafts if cfg.windowed else [d for d in all_drafts if d.round == r]
    if converged(voters, cfg, r, state.get("best")):
        env.emit("run_stopping", reason=CONVERGED, round=r)
        return {"stop_reason": CONVERGED}
    if needs_verification(state, cfg):
        reserved = reserve(state, cfg, verify_costs(state, env))
        if reserved.reason:
            env.emit("run_stopping", reason=reserved.reason, round=r)
            return {"stop_reason": reserved.reason}
        return {"committed": reserved.committed}
    return {}


def after_collect(state: dict[str, Any], default_config: PDRConfig) -> list[Send] | str:
    """Route a closed round: check its drafts, or (with no verifier) go on as `after_checked` does."""
    if state.get("stop_reason"):
        return "finalize"
    if check_tasks(state):
        return send_checks(state)
    return after_checked(state, default_config)


def after_checked(state: dict[str, Any], default_config: PDRConfig) -> list[Send] | str:
    """Route a decided round: verify, distill, critique, the next window, or finalize."""
    cfg = run_config(default_config)
    if state.get("stop_reason"):
        return "finalize"
    if needs_verification(state, cfg):
        return send_verifications(state, state.get("committed"))
    if state["round"] >= cfg.rounds:
        return "finalize"
    if cfg.windowed:
        return "begin_round"  # the next window of self-consistency
    return "critique" if cfg.method == "sr_error" else "distill"
