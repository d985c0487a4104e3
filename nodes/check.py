"""The `check` node: the run's verifier checks each draft of a round, in parallel (one `Send` each), at
no model cost.

A check is recorded in the ledger as it ends (its wall time with it), and the state keeps it beside the
round's drafts (`PDRState.checks`), so every later decision reads the draft with its check
(`langgraph_pdr.selection.check_rank`: `with_checks`, and how checks rank drafts and pick the answer).
The join after the checks (`checked`, in `langgraph_pdr.nodes.collect`) decides whether the run stops
(`stop_on_pass`) and where it goes next.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.types import Send

from langgraph_pdr.calls.steps import Call, Steps, arun_steps, run_steps
from langgraph_pdr.checking import CheckRequest, Verifier, get_verifier
from langgraph_pdr.runtime.environment import NodeEnv, node_env
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.graph_state import CheckTask
from langgraph_pdr.state.records import Check

#: The stop reason of a run that ended at its first round with a passing draft (`stop_on_pass`).
VERIFIED = "verified"


def check_tasks(state: dict[str, Any]) -> list[CheckTask]:
    """One check per successful draft of the current round (a draft cut off is checked too: its check
    says what is missing)."""
    verifier = state.get("verifier")
    if verifier is None:
        return []
    return [
        CheckTask(question=state["question"], draft=d, verifier=verifier, tests=state.get("tests"))
        for d in state.get("drafts") or []
        if d.ok and d.round == state["round"]
    ]


def send_checks(state: dict[str, Any]) -> list[Send]:
    return [Send("check", t) for t in check_tasks(state)]


def _request(env: NodeEnv, task: CheckTask) -> CheckRequest:
    d = task["draft"]
    return CheckRequest(
        question=task["question"],
        draft=d,
        answer=d.answer,
        tests=task.get("tests"),
        config=env.config,
        counter=env.counter,
    )


def _failed_check(task: CheckTask, exc: Exception) -> Check:
    d = task["draft"]
    said = f"{type(exc).__name__}: {exc}"
    return Check(
        round=d.round,
        index=d.index,
        verifier=task["verifier"],
        passed=False,
        score=0.0,
        feedback=f"The check could not run: {said}",
        error=said,
    )


def _checked(env: NodeEnv, check: Check) -> dict[str, Any]:
    """The state update of a recorded check, and its event."""
    env.emit(
        "draft_checked",
        round=check.round,
        index=check.index,
        passed=check.passed,
        score=check.score,
        seconds=round(check.seconds, 3),
    )
    return {"checks": [check]}


def _verifier(task: CheckTask) -> Verifier:
    return get_verifier(task["verifier"])  # a verifier this process lacks fails the run (resumable)


def _check(task: CheckTask, env: NodeEnv) -> Steps[dict[str, Any]]:
    verifier = _verifier(task)
    started = time.monotonic()
    try:
        result = yield Call.twin(verifier, "check", _request(env, task))
    except Exception as exc:  # noqa: BLE001 - the check's failure is its result
        result = _failed_check(task, exc)
    result = result.model_copy(update={"seconds": time.monotonic() - started})
    yield Call.twin(env, "record", result)
    return _checked(env, result)


def check(task: CheckTask, default_config: PDRConfig) -> dict[str, Any]:
    """Check one draft with the run's verifier; a verifier that raises gives a failed check saying why."""
    return run_steps(_check(task, node_env(default_config)))


async def acheck(task: CheckTask, default_config: PDRConfig) -> dict[str, Any]:
    """Async twin of `check` (one implementation: `langgraph_pdr.calls.steps`)."""
    return await arun_steps(_check(task, node_env(default_config)))
