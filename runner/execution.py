"""What running and resuming a run share: the compiled graph with what one invocation needs, the
run's lease while it goes (and how an invocation that raised ended), invoking the graph, compacting a
finished run's checkpoints, the run's image bytes held while it runs, and the checks of a run's
database and tool objects.

`run_pdr` and `resume_pdr` and their async twins are each written once, as steps (see
`langgraph_pdr.calls.steps`): `leased`, `compact` and `invoked` are steps too; `Invoke` is where the
sync and the async run differ in substance (LangGraph's sync stream needs a worker of its own)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool

from langgraph_pdr.budgets.accounting import BILLING
from langgraph_pdr.calls.image_input import IMAGES
from langgraph_pdr.calls.model_call import KEPT, model_name
from langgraph_pdr.calls.retry import refusal_status
from langgraph_pdr.calls.steps import Call, Enter, Exit, Step, Steps
from langgraph_pdr.calls.token_count import DEFAULT_COUNTER
from langgraph_pdr.checkpoints.ledger import FINISHED, Ledger, RunNotFoundError, new_lock_owner
from langgraph_pdr.checkpoints.store import Store, db_exists, resolve_db
from langgraph_pdr.graphs import create_pdr_graph, graph_config
from langgraph_pdr.graphs import pdr as pdr_graph
from langgraph_pdr.models import OpenModel, check_context
from langgraph_pdr.prompting.prompt_catalog import get_prompts
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.context import PDRContext, TokenCounter
from langgraph_pdr.state.image_ref import ImageRef
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.tooling.toolbox import tool_set

ModelArg = BaseChatModel | str | OpenModel
EventHandler = Callable[[dict[str, Any]], None]
T = TypeVar("T")


def estimate(question: str) -> int:
    """The question's tokens, estimated (UTF-8 bytes / 3) before any tokenizer is at hand."""
    return DEFAULT_COUNTER.count(question)


@dataclass
class CompiledRun:
    """A compiled graph with everything one invocation needs."""

    graph: Any
    config: RunnableConfig
    context: PDRContext
    thread_id: str
    owner: str = field(default_factory=new_lock_owner)


_GRAPHS: dict[tuple[str, Any], Any] = {}  # (config as JSON, retry policy) -> its compiled graph
_GRAPHS_LOCK = threading.Lock()


def _compiled_graph(config: PDRConfig) -> Any:
    """The compiled graph of `config` (no checkpointer), built once per config and retry policy in
    this process: building one cost about as much CPU as a model call. Each run uses a copy with its
    own checkpointer."""
    retry = pdr_graph.DEFAULT_RETRY  # read now: tests shorten it
    key = (config.model_dump_json(), retry)
    with _GRAPHS_LOCK:
        graph = _GRAPHS.get(key)
    if graph is None:
        graph = create_pdr_graph(config, retry_policy=retry).compile()
        with _GRAPHS_LOCK:
            if len(_GRAPHS) >= 64:
                _GRAPHS.clear()
            _GRAPHS[key] = graph
    return graph


def compiled(
    store: Store,
    config: PDRConfig,
    model: BaseChatModel,
    thread_id: str,
    token_counter: TokenCounter | None,
    prompts: PromptSet | None = None,
    tools: Sequence[BaseTool] = (),
) -> CompiledRun:
    graph = _compiled_graph(config).copy(update={"checkpointer": store.saver})
    context = PDRContext(
        model=model,
        config=config,
        token_counter=token_counter,
        recorder=store.ledger,
        prompts=prompts or get_prompts(config.prompts),
        tools=list(tools),
    )
    return CompiledRun(graph, graph_config(config, thread_id=thread_id), context, thread_id)


@contextmanager
def held(loaded: Sequence[tuple[ImageRef, bytes | None]]) -> Iterator[None]:
    """The run's image bytes, where its calls find them, while the block runs."""
    IMAGES.hold(loaded)
    try:
        yield
    finally:
        IMAGES.release(loaded)


def _failure(exc: BaseException) -> tuple[str, str]:
    """(status, error) of an invocation that raised: interrupted runs (Ctrl-C, a cancelled task: an MCP
    client that cancels its call) and failed ones stay resumable."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
        return "interrupted", "interrupted"
    return "failed", f"{type(exc).__name__}: {exc}"


def _forget(thread_id: str) -> None:
    """What this process holds of a run while it goes (billed failed attempts, kept replies): a run
    that ended with an error starts again from the ledger when it is resumed."""
    BILLING.forget(thread_id)
    KEPT.forget(thread_id)


def leased(ledger: Ledger, thread_id: str, owner: str, body: Steps[T], *, acquire: bool) -> Steps[T]:
    """`body` while this process holds the run's lease; how an invocation that raised ended is
    recorded (it stays resumable)."""
    yield Enter(
        lambda: ledger.holding(thread_id, owner, acquire=acquire),
        lambda: ledger.aholding(thread_id, owner, acquire=acquire),
    )
    yield Call.twin(ledger, "set_status", thread_id, "running")
    try:
        result = yield from body
    except BaseException as exc:
        _forget(thread_id)
        status, error = _failure(exc)
        yield Call.twin(ledger, "set_status", thread_id, status, error=error)
        raise
    yield Exit()
    return result


def compact(store: Store, thread_id: str) -> Steps[None]:
    """A finished run keeps only its latest checkpoint; its history is in the ledger."""
    row = yield Call.twin(store.ledger, "run_row", thread_id)
    if row and row["status"] in FINISHED:
        try:
            yield Call.twin(store.saver, "prune", [thread_id])
        except NotImplementedError:  # savers without pruning (in memory) keep their history
            pass


@dataclass
class Invoke(Step):
    """Run the compiled graph from `inputs` (None: from its last checkpoint), telling `on_event` of
    each progress event; a run someone watches streams its drafts as they are written."""

    graph_run: CompiledRun
    inputs: dict[str, Any] | None
    on_event: EventHandler | None

    def run(self) -> None:
        run = self.graph_run
        if self.on_event is None:
            run.graph.invoke(self.inputs, run.config, context=run.context, durability="sync")
            return
        run.context.stream_drafts = True
        # LangGraph's sync stream parks a waiter on one worker of the pool: give it its own
        config = {**run.config, "max_concurrency": (run.config.get("max_concurrency") or 1) + 1}
        for event in run.graph.stream(
            self.inputs, config, context=run.context, stream_mode="custom", durability="sync"
        ):
            self.on_event(event)

    async def arun(self) -> None:
        run = self.graph_run
        if self.on_event is None:
            await run.graph.ainvoke(self.inputs, run.config, context=run.context, durability="sync")
            return
        run.context.stream_drafts = True
        async for event in run.graph.astream(
            self.inputs, run.config, context=run.context, stream_mode="custom", durability="sync"
        ):
            self.on_event(event)


def invoked(
    store: Store,
    run: CompiledRun,
    inputs: dict[str, Any] | None,
    on_event: EventHandler | None,
    loaded: Sequence[tuple[ImageRef, bytes | None]],
) -> Steps[None]:
    """Invoke the run with its image bytes held, then compact its checkpoints if it finished."""
    with held(loaded):
        yield Invoke(run, inputs, on_event)
    yield from compact(store, run.thread_id)


def check_context_of(om: OpenModel, config: PDRConfig, question_tokens: int) -> None:
    """Refuse `config` when the model's context window, where known, cannot hold its calls
    (`langgraph_pdr.models.check_context`): before anything is sent."""
    name = om.spec.id or model_name(om.model) or "the model"
    check_context(config, om.context, name, question_tokens=question_tokens)


def refusal_hint(failure: BaseException | int) -> str | None:
    """What to do about a run that failed because the provider refused its request (`failure`: the
    error, or its HTTP status): resuming would send the same request again. None for any other
    failure (a rate limit, a server error, a timeout: resuming helps).

    Example:
        ```python
        from langgraph_pdr.runner.execution import refusal_hint

        assert "HTTP 401" in refusal_hint(401) and refusal_hint(TimeoutError()) is None
        ```
    """
    status = failure if isinstance(failure, int) else refusal_status(failure)
    if not status:
        return None
    return (
        f"the provider refused the request (HTTP {status}); resuming would send it again and fail "
        "again: fix what the error says (the key, the model, an option), then run again"
    )


def require_db(db: str | Path | None, thread_id: str) -> None:
    """Reading a run from a database file that does not exist is an error that creates nothing."""
    if not db_exists(db):
        raise RunNotFoundError(f"thread_id: no run {thread_id!r}: there is no database at {resolve_db(db)}")


def check_tools(config: PDRConfig, tools: Sequence[BaseTool] | None) -> list[BaseTool]:
    """The run's tool objects, checked: LangChain tools, no name twice (the config's built-in ones
    included)."""
    extra = list(tools or [])
    tool_set(config, extra)  # raises ValueError on a bad tool
    return extra
