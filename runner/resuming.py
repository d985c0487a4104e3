"""Resuming a run: `resume_pdr` and its async twin `aresume_pdr` finish an interrupted or failed run
from its last checkpoint, re-running only what did not finish. Both are one implementation (`_resume`,
a generator of steps: see `langgraph_pdr.calls.steps`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool
from langgraph.types import Overwrite

from langgraph_pdr.budgets.accounting import BILLING
from langgraph_pdr.calls.image_input import without_data
from langgraph_pdr.calls.steps import Call, Enter, Exit, Steps, arun_steps, run_steps
from langgraph_pdr.checking import ensure_verifier
from langgraph_pdr.checkpoints.ledger import FINISHED, NO_DRAFTS, RunNotFoundError, new_lock_owner
from langgraph_pdr.checkpoints.reads import stored_config
from langgraph_pdr.checkpoints.store import aopen_store, open_store
from langgraph_pdr.models import open_model
from langgraph_pdr.runner.execution import (
    EventHandler,
    ModelArg,
    check_context_of,
    check_tools,
    compact,
    compiled,
    estimate,
    invoked,
    leased,
    require_db,
)
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.context import TokenCounter
from langgraph_pdr.state.image_ref import ImageRef
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.state.records import CallRecord, RunOutcome
from langgraph_pdr.state.result import PDRResult
from langgraph_pdr.state.spec import RunSpec


def _stored(
    row: dict[str, Any] | None, thread_id: str, location: str
) -> tuple[dict[str, Any], PDRConfig, RunSpec]:
    """The run's row, config and spec; a user's prompt set it names is registered from its spec, and a
    user's verifier that this process has not registered is imported from the path stored with the run
    (when the run is to go on: a finished run is read, not run)."""
    if row is None:
        raise RunNotFoundError(f"thread_id: no run {thread_id!r} in {location}")
    config, spec = stored_config(row), RunSpec.model_validate(row["spec"] or {})
    if row["status"] not in FINISHED:
        ensure_verifier(config.verifier, spec.verifier)
    return row, config, spec


def _resumed_tools(spec: RunSpec, config: PDRConfig, tools: Sequence[BaseTool] | None) -> list[BaseTool]:
    """The tool objects a resume was given, checked against the names the run was started with."""
    extra = check_tools(config, tools)
    given = sorted(t.name for t in extra)
    if given != sorted(spec.tools):
        need = ", ".join(spec.tools) or "none"
        raise ValueError(
            f"tools: this run was started with the tool objects [{need}]; resume it with the same "
            f"tools=[...] (given: [{', '.join(given) or 'none'}])"
        )
    return extra


def _stored_prompts(config: PDRConfig, spec: RunSpec) -> PromptSet | None:
    """The prompt set a run was started with, as stored with it (None for runs stored before)."""
    return PromptSet(name=config.prompts, **spec.prompts) if spec.prompts else None


def _round_again(values: dict[str, Any]) -> dict[str, Any]:
    """The update that forks a failed run back to the start of its failed round, as if `begin_round`
    had just run, so resuming sends the round's drafts again (earlier windows of self-consistency
    keep their drafts: they vote)."""
    round = int(values.get("round") or 0)
    earlier = [d for d in values.get("drafts") or [] if d.round < round]
    return {
        "stop_reason": None,
        "answer": None,
        "text": "",
        "drafts": Overwrite(earlier),
        "verifications": Overwrite([]),
        "checks": Overwrite([c for c in values.get("checks") or [] if c.round < round]),
    }


@dataclass
class _Resume:
    """How a resume continues: `again` (a round whose every draft failed, sent again), `book` (the
    graph ended but the ledger never heard: `outcome` is written), or `invoke` with `inputs` (None:
    from the last checkpoint; the question: a run that died before its first checkpoint)."""

    how: str
    inputs: dict[str, Any] | None = None
    outcome: RunOutcome | None = None


def _resume_step(
    snapshot: Any, row: dict[str, Any], spec: RunSpec, loaded: Sequence[tuple[ImageRef, bytes | None]] = ()
) -> _Resume:
    values = snapshot.values or {}
    if not snapshot.next and values.get("stop_reason") == NO_DRAFTS:
        return _Resume("again")
    if values and not snapshot.next and values.get("stop_reason"):
        return _Resume(
            "book",
            outcome=RunOutcome(
                answer=values.get("answer"),
                text=values.get("text") or "",
                b_seq=values.get("b_seq") or 0,
                b_total=values.get("b_total") or 0,
                stop_reason=values["stop_reason"],
            ),
        )
    if values:
        return _Resume("invoke")
    return _Resume(
        "invoke",
        {
            **({"images": without_data([ref for ref, _ in loaded])} if loaded else {}),
            "question": row["question"],
            "gold": spec.gold,
            **({"history": spec.history} if spec.history else {}),
            **({"tests": spec.tests} if spec.tests is not None else {}),
        },
    )


def _seed_billing(thread_id: str, failed: list[CallRecord], snapshot: Any) -> None:
    """What failed attempts were billed and the state has not booked yet (a killed process's) counts
    toward B_total and the B_total cap from here on."""
    BILLING.seed(thread_id, failed, (snapshot.values or {}).get("billed") or {})


def _resume(
    thread_id: str,
    *,
    db: str | Path | None,
    model: ModelArg | None,
    base_url: str | None,
    token_counter: TokenCounter | None,
    on_event: EventHandler | None,
    timeout: float | None,
    tools: Sequence[BaseTool] | None,
) -> Steps[PDRResult]:
    """`resume_pdr`, written once for it and `aresume_pdr` (see `langgraph_pdr.calls.steps`)."""
    require_db(db, thread_id)
    store = yield Enter(lambda: open_store(db), lambda: aopen_store(db))
    row, config, spec = _stored(
        (yield Call.twin(store.ledger, "run_row", thread_id)), thread_id, store.location
    )
    if row["status"] in FINISHED:
        result: PDRResult = yield Call.twin(store.ledger, "load_result", thread_id)
        return result
    extra = _resumed_tools(spec, config, tools)
    question_tokens = estimate(row["question"])

    def resumed() -> Steps[None]:
        om = yield Enter(
            lambda: open_model(
                model if model is not None else spec.model,
                base_url=base_url,
                config=config,
                timeout=timeout,
                question_tokens=question_tokens,
            )
        )
        check_context_of(om, config, question_tokens)  # a model given anew may hold less
        counter = token_counter or om.token_counter
        run = compiled(store, config, om.model, thread_id, counter, _stored_prompts(config, spec), extra)
        snapshot = yield Call.twin(run.graph, "get_state", run.config)
        _seed_billing(thread_id, (yield Call.twin(store.ledger, "failed_attempts", thread_id)), snapshot)
        loaded = yield Call.twin(store.ledger, "run_images", thread_id)
        step = _resume_step(snapshot, row, spec, loaded)
        if step.how == "again":
            again = _round_again(snapshot.values or {})
            yield Call.twin(run.graph, "update_state", run.config, again, as_node="begin_round")
        if step.how == "book":
            yield Call.twin(store.ledger, "record_many", thread_id, [step.outcome])
            yield from compact(store, thread_id)
        else:  # the same image bytes the run started with
            yield from invoked(store, run, step.inputs, on_event, loaded)
        yield Exit()  # the model

    yield from leased(store.ledger, thread_id, new_lock_owner(), resumed(), acquire=True)
    result = yield Call.twin(store.ledger, "load_result", thread_id)
    return result


def resume_pdr(
    thread_id: str,
    *,
    db: str | Path | None = None,
    model: ModelArg | None = None,
    base_url: str | None = None,
    token_counter: TokenCounter | None = None,
    on_event: EventHandler | None = None,
    timeout: float | None = None,
    tools: Sequence[BaseTool] | None = None,
) -> PDRResult:
    """Finish an interrupted run, re-running only what did not finish.

    The model is rebuilt from the stored spec (keys from the environment) unless `model` is given.
    Resuming a finished run returns its stored result without calling the model.

    A run is resumable when it was interrupted (Ctrl-C, a killed process) or failed (every draft of a
    round failed: `stop_reason` `no_drafts`): it continues from its last checkpoint, with the config,
    prompts and token budget it was started with, and a failed round is sent again.

    Args:
        thread_id: the run's id (`PDRResult.thread_id`, or a row of `list_runs`).
        db: the database the run is in (as for `run_pdr`).
        model: a model to finish the run with, instead of the stored one (required for runs made
            with a model object, which cannot be rebuilt).
        base_url, token_counter, on_event, timeout: as for `run_pdr`.
        tools: the tool objects the run was started with (`run_pdr(tools=...)`), by the same names;
            the built-in tools its config names are rebuilt by themselves.

    Returns:
        The finished run's `PDRResult`, every round of it, before and after the resume.

    Raises:
        RunNotFoundError: no run with this id in `db` (a `ValueError`).
        RunLockedError: another process is running this thread right now.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, resume_pdr, run_pdr

        def replies():  # the first call answers; the second is rejected (an error that is not retried)
            yield AIMessage("17 * 23 = \\\\boxed{391}")
            raise ValueError("the provider rejected the request")

        first = GenericFakeChatModel(messages=replies())
        config = PDRConfig(method="sr", schedule="1,1")
        failed = run_pdr("What is 17 * 23?", model=first, config=config, db="resume.sqlite")
        assert (failed.status, failed.stop_reason, failed.answer) == ("failed", "no_drafts", None)
        model = GenericFakeChatModel(messages=iter([AIMessage("Checked: 17 * 23 = \\\\boxed{391}")]))
        result = resume_pdr(failed.thread_id, db="resume.sqlite", model=model)
        assert (result.status, result.answer, [c.round for c in result.calls]) == ("completed", "391", [1, 2])
        assert resume_pdr(failed.thread_id, db="resume.sqlite") == result  # finished: nothing is called
        ```
    """
    return run_steps(_resume(**locals()))  # the arguments, as given


async def aresume_pdr(
    thread_id: str,
    *,
    db: str | Path | None = None,
    model: ModelArg | None = None,
    base_url: str | None = None,
    token_counter: TokenCounter | None = None,
    on_event: EventHandler | None = None,
    timeout: float | None = None,
    tools: Sequence[BaseTool] | None = None,
) -> PDRResult:
    """Async twin of `resume_pdr` (the model is called with `ainvoke`; the database is never waited
    for on the event loop). It takes the arguments of `resume_pdr` and raises its errors.

    Example:
        ```python
        import asyncio
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, aresume_pdr, arun_pdr

        def rejected():  # a model whose first call fails with an error that is not retried
            raise ValueError("the provider rejected the request")
            yield

        first = GenericFakeChatModel(messages=rejected())
        failed = asyncio.run(arun_pdr("What is 17 * 23?", model=first, config=PDRConfig(method="single"),
                                      db="aresume.sqlite"))
        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")]))
        result = asyncio.run(aresume_pdr(failed.thread_id, db="aresume.sqlite", model=model))
        assert (failed.status, result.status, result.answer) == ("failed", "completed", "391")
        ```
    """
    return await arun_steps(_resume(**locals()))  # the arguments, as given
