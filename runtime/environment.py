"""What every node reads from the LangGraph runtime: model, config, counter, recorder, thread id, prompts."""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.config import get_config, get_stream_writer
from langgraph.runtime import get_runtime

from langgraph_pdr.budgets.accounting import BILLING, BudgetStop, call_key, usage_update
from langgraph_pdr.calls.model_call import call_options, derive_seed
from langgraph_pdr.calls.retry import ATTEMPTS_METADATA, failure_reason, is_transient
from langgraph_pdr.calls.token_count import DEFAULT_COUNTER
from langgraph_pdr.calls.tracing import run_metadata
from langgraph_pdr.prompting.prompt_catalog import get_prompts
from langgraph_pdr.state.config import FAMILIES, PDRConfig
from langgraph_pdr.state.context import PDRContext, RunRecorder, TokenCounter
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.state.records import CallRecord, Draft, DraftTurn
from langgraph_pdr.tooling.toolbox import ALLOW_TOOLS_ENV, allowed_tools, check_allowed

log = logging.getLogger("langgraph_pdr")


@dataclass
class NodeEnv:
    model: Any
    config: PDRConfig
    counter: TokenCounter
    recorder: RunRecorder | None
    thread_id: str
    prompts: PromptSet
    stream_drafts: bool = False
    tools: Sequence[Any] = ()  # the context's tool objects (the config's built-in ones are by name)

    def failed_attempt(self, call: CallRecord, committed: int | None = None) -> None:
        """Book a failed attempt the provider billed (ledger, and the run's billing). With a B_total cap,
        a retry is allowed only while what the stage's failed attempts were billed still fits beside
        the total the stage committed (`committed`: spent + the stage's reservation)."""
        self.record(call)
        charged = BILLING.charge(self.thread_id, call)
        cap = self.config.max_b_total
        if cap is not None and (committed is None or committed + charged > cap):
            raise BudgetStop("max_b_total")

    def attempt_failed(
        self, exc: BaseException, record: CallRecord | None, *, role: str, round: int, index: int
    ) -> None:
        """A model call's attempt failed: keep `record` (its failure; None when `failed_attempt` kept it)
        in the run's failed calls, and, when the node's retry policy tries again, say so in a
        `call_retrying` event: `reason` (the HTTP status, or the error's type), `attempt` (the next
        one) and `attempts` (how many the policy makes)."""
        if not is_transient(exc):  # not retried: the draft (or node) fails with it
            return
        if record is not None:
            self.record(record)
        tried = attempts()
        if tried is not None and tried[0] < tried[1]:
            self.emit(
                "call_retrying",
                role=role,
                round=round,
                index=index,
                reason=failure_reason(exc),
                error=record.error if record is not None else f"{type(exc).__name__}: {exc}",
                attempt=tried[0] + 1,
                attempts=tried[1],
            )

    def usage(self, *calls: CallRecord | None) -> dict[str, Any]:
        """`usage_update(calls)` plus the tokens their failed attempts were billed."""
        update = usage_update(*calls)
        for c in calls:
            if c is not None:
                update = self._book_failures(update, c.role, c.round, c.index)
        return update

    def failed_usage(self, role: str, round: int, index: int) -> dict[str, Any]:
        """The B_total update of a call that failed for good: what its attempts were billed."""
        return self._book_failures({}, role, round, index)

    def stopped_usage(
        self, calls: Sequence[CallRecord], *, role: str, round: int, refused: Sequence[int]
    ) -> dict[str, Any]:
        """`usage(*calls)` of a stage a cap stopped, plus what the attempts of its calls that did not
        return (`refused`, by index) were billed."""
        update = self.usage(*calls)
        for index in refused:
            update = self._book_failures(update, role, round, index)
        return update

    def _book_failures(self, update: dict[str, Any], role: str, round: int, index: int) -> dict[str, Any]:
        key = call_key(role, round, index)
        billed = BILLING.take(self.thread_id, key)
        if billed:
            update["b_total"] = update.get("b_total", 0) + billed
            update.setdefault("billed", {})[key] = billed
        return update

    def keeping(self) -> dict[str, Any]:
        """Where a batch of calls keeps its replies until the node ends (`call_models`'s `thread_id`
        and `recorder`): this process, and the run's ledger."""
        return {"thread_id": self.thread_id, "recorder": self.recorder}

    def record(self, *records: Any) -> None:
        """Send records to the ledger, if the run has one."""
        if self.recorder is None or not records:
            return
        if hasattr(self.recorder, "record_many"):  # the ledger: one transaction
            self.recorder.record_many(self.thread_id, list(records))
        else:
            for r in records:
                self.recorder.record(self.thread_id, r)

    async def arecord(self, *records: Any) -> None:
        """`record` for async nodes: it never blocks the event loop waiting for the database."""
        if self.recorder is None or not records:
            return
        if hasattr(self.recorder, "arecord_many"):
            await self.recorder.arecord_many(self.thread_id, list(records))
        else:
            await asyncio.to_thread(self.record, *records)

    def recorded_turns(self, round: int, index: int) -> list[DraftTurn]:
        """The turns draft (`round`, `index`) recorded before (an attempt that was cut short), when the
        recorder can read them back (the ledger can); else none, and the draft starts over."""
        read = getattr(self.recorder, "draft_turns", None)
        return list(read(self.thread_id, round, index)) if read is not None else []

    async def arecorded_turns(self, round: int, index: int) -> list[DraftTurn]:
        """`recorded_turns` for async nodes."""
        read = getattr(self.recorder, "adraft_turns", None)
        if read is not None:
            return list(await read(self.thread_id, round, index))
        return await asyncio.to_thread(self.recorded_turns, round, index)

    def recorded_draft(self, round: int, index: int) -> Draft | None:
        """Draft (`round`, `index`) as recorded whole before (its node was cut short after recording
        it), when the recorder can read it back; else None, and the draft is written."""
        read = getattr(self.recorder, "recorded_draft", None)
        return read(self.thread_id, round, index) if read is not None else None

    async def arecorded_draft(self, round: int, index: int) -> Draft | None:
        """`recorded_draft` for async nodes."""
        read = getattr(self.recorder, "arecorded_draft", None)
        if read is not None:
            found: Draft | None = await read(self.thread_id, round, index)
            return found
        return await asyncio.to_thread(self.recorded_draft, round, index)

    def delta(self, text: str, pieces: int, *, role: str, round: int, index: int) -> None:
        """A piece of a reply being written, as a `draft_delta` event (`written`: pieces so far)."""
        self.emit("draft_delta", role=role, round=round, index=index, text=text, written=pieces)

    def emit(self, event: str, **data: Any) -> None:
        """A custom stream event (`stream_mode="custom"`) for progress displays."""
        try:
            writer = get_stream_writer()
        except RuntimeError:  # not inside a graph run
            return
        writer({"event": event, "thread_id": self.thread_id, **data})


def attempts() -> tuple[int, int] | None:
    """(this attempt, the attempts its retry policy makes) of the node running now, as LangGraph's
    runtime and the node's metadata (`ATTEMPTS_METADATA`) say; None outside a retried node."""
    try:
        made = get_config().get("metadata", {}).get(ATTEMPTS_METADATA)
        info = get_runtime().execution_info
    except (RuntimeError, AttributeError):  # not inside a graph run
        return None
    if not isinstance(made, int) or info is None:
        return None
    return info.node_attempt, made


def call_fields(
    env: NodeEnv,
    *,
    role: str,
    round: int,
    index: int,
    max_tokens: int,
    temperature: float,
    stage: str | None = None,
    committed: int | None = None,
    stream: bool = False,
) -> dict[str, Any]:
    """The keyword arguments of `call_model` for one call: provider options with a per-call seed,
    the token counter, what to do with a billed failed attempt (checked against `committed`, the total
    the call's stage reserved), the call's role, round, index and stage (default `r{round}.{role}`),
    and what tracers get besides (`trace`: thread id, method, distiller). With `stream` and a run that
    streams (`PDRContext.stream_drafts`), the reply is streamed as `draft_delta` events."""
    deltas = {}
    if stream and env.stream_drafts:
        deltas["on_delta"] = functools.partial(env.delta, role=role, round=round, index=index)
    return {
        **deltas,
        "options": call_options(
            env.model,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=derive_seed(env.config.seed, role, env.config.seed_round(round), index),
        ),
        "counter": env.counter,
        "on_failed": functools.partial(env.failed_attempt, committed=committed),
        "on_error": functools.partial(env.attempt_failed, role=role, round=round, index=index),
        "role": role,
        "round": round,
        "index": index,
        "stage": stage or f"r{round}.{role}",
        "trace": run_metadata(thread_id=env.thread_id, config=env.config),
    }


#: Builds a live model from the model name of a JSON context, `(model, base_url, timeout) -> model`.
#: Model resolution sits above the nodes: `langgraph_pdr.models` installs it (`use_model_builder`).
_model_builder: Callable[[str, str | None, float | None], Any] | None = None


def use_model_builder(builder: Callable[[str, str | None, float | None], Any]) -> None:
    """Install what builds a JSON context's model (done by `langgraph_pdr.models` when imported)."""
    global _model_builder
    _model_builder = functools.lru_cache(maxsize=32)(builder)


#: The module that installs the model builder when imported (by name: it sits above the nodes).
MODEL_RESOLUTION = "langgraph_pdr.models"


def _served_model(model: str, base_url: str | None, timeout: float | None) -> Any:
    if _model_builder is None:
        importlib.import_module(MODEL_RESOLUTION)  # installs it
    if _model_builder is None:
        raise ValueError(f"context: a JSON context names its model; import {MODEL_RESOLUTION} to build it")
    return _model_builder(model, base_url, timeout)


def context_from_json(ctx: dict[str, Any]) -> PDRContext:
    """A `PDRContext` from a JSON context (`ServerContext`), or from a dict of its own fields.

    A JSON context comes from a server's client: the built-in tools its config names must be allowed
    by the deployment's `PDR_ALLOW_TOOLS` (comma-separated names), else it is refused.

    Raises:
        ValueError: a bad config, or a tool the deployment does not allow.
    """
    model = ctx.get("model")
    if isinstance(model, str):
        config = PDRConfig.model_validate(ctx["config"]) if ctx.get("config") else None
        if config is not None and config.tools:
            check_allowed(
                config.tools, allowed_tools(), how=f"{ALLOW_TOOLS_ENV}={{names}} in the server's environment"
            )
        return PDRContext(
            model=_served_model(model, ctx.get("base_url"), ctx.get("timeout")),
            config=config,
        )
    return PDRContext(**ctx)


def _context() -> PDRContext | None:
    """The run's context; None outside a run (routers evaluated by `update_state`)."""
    runtime = get_runtime()
    ctx = runtime.context if runtime is not None else None
    return context_from_json(ctx) if isinstance(ctx, dict) else ctx


def run_config(default_config: PDRConfig) -> PDRConfig:
    """The config of the run going on: its context's (`PDRContext.config`), else the one the graph was
    built with (`default_config`: `create_pdr_graph(config)`), also outside a run (a router evaluated
    by `update_state`). The one place the two meet: every node and router reads its config here.

    Raises:
        ValueError: the context's config names a method of another family than the graph's.
    """
    ctx = _context()
    config = (ctx.config if ctx is not None else None) or default_config
    if FAMILIES[config.method] != FAMILIES[default_config.method]:
        raise ValueError(
            f"config: method {config.method!r} cannot run on the graph built for "
            f"{default_config.method!r}; build the graph with create_pdr_graph(config)"
        )
    return config


def node_env(default_config: PDRConfig) -> NodeEnv:
    """The environment of the node running now (its config from `run_config`)."""
    ctx = _context()
    if ctx is None:
        raise ValueError(
            "context: a PDR graph needs context=PDRContext(model=...) when invoked "
            "(run_pdr passes it for you)"
        )
    config = run_config(default_config)
    configurable = get_config().get("configurable", {})
    return NodeEnv(
        model=ctx.model,
        config=config,
        counter=ctx.token_counter or DEFAULT_COUNTER,
        recorder=ctx.recorder,
        thread_id=str(configurable.get("thread_id", "")),
        prompts=prompts_of(ctx, config),
        stream_drafts=ctx.stream_drafts,
        tools=ctx.tools,
    )


def prompts_of(ctx: PDRContext, config: PDRConfig) -> PromptSet:
    """The context's prompt set when it is the one the config names (a resumed run's stored set),
    else the registered set of that name."""
    if ctx.prompts is not None and ctx.prompts.name == config.prompts:
        return ctx.prompts
    return get_prompts(config.prompts)
