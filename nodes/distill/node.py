"""The `distill` node: joins a round, runs the configured distiller, books its calls."""

from __future__ import annotations

from typing import Any

from langgraph_pdr.calls.model_call import KEPT
from langgraph_pdr.calls.steps import Call, Steps, arun_steps, run_steps
from langgraph_pdr.nodes.distill import BudgetStop, Distiller, DistillRequest, get_distiller
from langgraph_pdr.nodes.distill.previous_solution import PreviousSolution
from langgraph_pdr.nodes.verify import scored
from langgraph_pdr.runtime.environment import NodeEnv, node_env
from langgraph_pdr.selection.check_rank import with_checks
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.records import Workspace


def distiller_for(config: PDRConfig) -> Distiller:
    """SR rewrites its previous solution; PDR uses the configured distiller."""
    if config.method in ("sr", "sr_error"):
        return PreviousSolution()
    return get_distiller(config.distiller)


def _request(state: dict[str, Any], env: NodeEnv) -> DistillRequest:
    cfg, r = env.config, state["round"]
    survivors = [d for d in state.get("drafts") or [] if d.ok]
    drafts = with_checks(scored(survivors, state.get("verifications") or []), state.get("checks") or [])
    return DistillRequest(
        question=state["question"],
        gold=state.get("gold"),
        round=r,
        drafts=drafts,
        next_width=cfg.width(r + 1),
        config=cfg,
        counter=env.counter,
        env=env,
        state=state,
    )


def _done(env: NodeEnv, request: DistillRequest, workspaces: list[Workspace]) -> dict[str, Any]:
    """The state update of recorded workspaces (and the calls that built them), and its event."""
    KEPT.forget(env.thread_id)  # the node ends: its kept replies are booked
    env.emit(
        "workspace_built",
        round=request.round,
        distiller=workspaces[0].distiller if workspaces else "",
        workspaces=[{"index": w.index, "tokens": w.tokens, "sources": w.sources} for w in workspaces],
        tokens=sum(c.total_tokens for c in request.calls),
    )
    return {"workspaces": workspaces, **env.usage(*request.calls)}


def _stopped(env: NodeEnv, request: DistillRequest, stop: BudgetStop) -> dict[str, Any]:
    """The state update of a distill stopped by a cap (its calls recorded), and its event."""
    KEPT.forget(env.thread_id)
    env.emit("run_stopping", reason=stop.reason, round=request.round)
    update = env.stopped_usage(request.calls, role="distill", round=request.round, refused=request.refused)
    return {"stop_reason": stop.reason, **update}


def _distill(state: dict[str, Any], env: NodeEnv) -> Steps[dict[str, Any]]:
    if state.get("stop_reason"):
        return {}
    request = _request(state, env)
    try:
        workspaces = yield Call.twin(distiller_for(env.config), "distill", request)
    except BudgetStop as stop:
        yield Call.twin(env, "record", *request.calls, *request.judgments)
        return _stopped(env, request, stop)
    yield Call.twin(env, "record", *request.calls, *request.judgments, *workspaces)
    return _done(env, request, workspaces)


def distill(state: dict[str, Any], default_config: PDRConfig) -> dict[str, Any]:
    """Build the next round's workspaces from this round's surviving drafts."""
    return run_steps(_distill(state, node_env(default_config)))


async def adistill(state: dict[str, Any], default_config: PDRConfig) -> dict[str, Any]:
    """Async twin of `distill` (one implementation: `langgraph_pdr.calls.steps`)."""
    return await arun_steps(_distill(state, node_env(default_config)))
