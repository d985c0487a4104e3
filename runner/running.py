"""Running, resuming, listing and inspecting runs, each checkpointed with its ledger in one database.

`run_pdr` / `arun_pdr` and `resume_pdr` / `aresume_pdr` are twins: every decision (what to store, what a
resume continues from) is made by the same helpers here, and they differ only in how they wait for the
database and the model (`await` in the async ones, which never block the event loop).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.types import Overwrite

from langgraph_pdr.budgets.accounting import BILLING
from langgraph_pdr.calls.image_input import IMAGES, without_data
from langgraph_pdr.calls.model_call import KEPT, model_name
from langgraph_pdr.calls.token_count import DEFAULT_COUNTER
from langgraph_pdr.checking import ensure_verifier, stored_reference
from langgraph_pdr.checking.programs import split_tests
from langgraph_pdr.checkpoints.ledger import (
    FINISHED,
    NO_DRAFTS,
    Ledger,
    RunExistsError,
    RunNotFoundError,
    new_lock_owner,
)
from langgraph_pdr.checkpoints.reads import stored_config
from langgraph_pdr.checkpoints.store import (
    Store,
    aopen_store,
    db_exists,
    open_store,
    resolve_db,
    stored_runs,
)
from langgraph_pdr.graphs import create_pdr_graph, graph_config
from langgraph_pdr.images import load_images
from langgraph_pdr.local_model import local_defaults
from langgraph_pdr.models import OpenModel, is_local_model, open_model
from langgraph_pdr.nodes.distill import get_distiller
from langgraph_pdr.nodes.draft import run_verifier
from langgraph_pdr.prompting.prompt_catalog import get_prompts
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.context import PDRContext, TokenCounter
from langgraph_pdr.state.image_ref import ImageRef
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.state.records import CallRecord, RunOutcome
from langgraph_pdr.state.result import PDRResult, RunSummary
from langgraph_pdr.state.spec import RunSpec
from langgraph_pdr.tooling.toolbox import tool_set

ModelArg = BaseChatModel | str | OpenModel
EventHandler = Callable[[dict[str, Any]], None]


def _config(config: PDRConfig | dict[str, Any] | None, *, local: bool = False) -> PDRConfig:
    """The run's configuration. On the embedded local model (`local`), a config given as None or a
    dict gets the model's defaults where it names none (`local_defaults`); a `PDRConfig` is taken as
    it is."""
    if config is None:
        config = {}
    if isinstance(config, dict):
        return PDRConfig.model_validate(local_defaults(config) if local else config)
    if isinstance(config, PDRConfig):
        return config
    raise TypeError(f"config: expected a PDRConfig or a dict, got {type(config).__name__}")


def _estimate(question: str) -> int:
    """The question's tokens, estimated (UTF-8 bytes / 3) before any tokenizer is at hand."""
    return DEFAULT_COUNTER.count(question)


def _check_question(question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question: must be a non-empty string")
    return question


ROLES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "ai": "assistant"}


def turns(history: Sequence[Any] | None) -> list[dict[str, str]]:
    """Earlier turns (chat messages or `{"role", "content"}` dicts) as role/content dicts."""
    out = []
    for message in history or []:
        role: Any
        content: Any
        if isinstance(message, BaseMessage):
            role, content = message.type, str(message.text)
            if role == "tool":  # a tool's result, as the user would relay it
                name = getattr(message, "name", None) or "call"
                role, content = "user", f"[result of tool {name}] {content}"
            if role == "ai" and not content.strip():  # a turn that only called tools
                continue
        elif isinstance(message, dict):
            role, content = message.get("role"), message.get("content")
        else:
            raise ValueError(
                f"history: expected chat messages or role/content dicts, got {type(message).__name__}"
            )
        if role not in ROLES or not isinstance(content, str):
            raise ValueError(
                f"history: each turn needs a role ({', '.join(sorted(set(ROLES)))}) and "
                f"text content, got role {role!r}"
            )
        out.append({"role": ROLES[role], "content": content})
    return out


def _validate(
    question: Any,
    config: PDRConfig | dict[str, Any] | None,
    gold: str | None,
    *,
    local: bool,
    tests: str | None = None,
) -> PDRConfig:
    """The run's config, checked against what it is given (see `checked_config`)."""
    _check_question(question)
    return checked_config(_config(config, local=local), tests=tests, gold=gold)


def checked_config(config: PDRConfig, *, tests: str | None = None, gold: str | None = None) -> PDRConfig:
    """The config a run of `config` with these inputs uses, checked before anything runs: a run with
    visible tests and no verifier gets the default one (`PDRConfig.verifier_for`), stored with it.

    Raises:
        ValueError: the inputs do not fit the config: an oracle distiller without `gold`, tests that
            are not Python, a distiller or `stop_on_pass` that needs checks and has no verifier.
    """
    if config.method == "pdr" and get_distiller(config.distiller).needs_gold and gold is None:
        raise ValueError(f"gold: distiller {config.distiller!r} needs the gold answer (gold=...)")
    if tests is not None:
        if not isinstance(tests, str):
            raise ValueError(f"tests: expected Python source (a str of asserts), got {type(tests).__name__}")
        split_tests(tests)  # TestsError (a ValueError) names the line that is not Python
    verifier = run_verifier({"tests": tests}, config)
    if verifier != config.verifier:
        config = config.model_copy(update={"verifier": verifier})
    return config


# -- what a run needs, decided once for both twins ------------------------------------------------


@dataclass
class _Run:
    """A compiled graph with everything one invocation needs."""

    graph: Any
    config: RunnableConfig
    context: PDRContext
    thread_id: str
    owner: str = field(default_factory=new_lock_owner)


def _compiled(
    store: Store,
    config: PDRConfig,
    model: BaseChatModel,
    thread_id: str,
    token_counter: TokenCounter | None,
    prompts: PromptSet | None = None,
    tools: Sequence[BaseTool] = (),
) -> _Run:
    graph = create_pdr_graph(config).compile(checkpointer=store.saver)
    context = PDRContext(
        model=model,
        config=config,
        token_counter=token_counter,
        recorder=store.ledger,
        prompts=prompts or get_prompts(config.prompts),
        tools=list(tools),
    )
    return _Run(graph, graph_config(config, thread_id=thread_id), context, thread_id)


@dataclass
class _NewRun:
    """A run about to be stored: its row, its first input, and its compiled graph."""

    run: _Run
    row: dict[str, Any]
    inputs: dict[str, Any]


def _new_run(
    store: Store,
    question: str,
    om: OpenModel,
    config: PDRConfig,
    thread_id: str | None,
    gold: str | None,
    token_counter: TokenCounter | None,
    history: list[dict[str, str]],
    loaded: Sequence[tuple[ImageRef, bytes | None]] = (),
    tools: Sequence[BaseTool] = (),
    tests: str | None = None,
) -> _NewRun:
    counter = token_counter or om.token_counter
    run = _compiled(store, config, om.model, thread_id or uuid.uuid4().hex, counter, tools=tools)
    spec = RunSpec(
        tools=[t.name for t in tools],
        model=om.spec,
        gold=gold,
        token_counter=getattr(counter, "name", None),
        history=history,
        prompts=run.context.prompts.templates() if run.context.prompts else None,
        tests=tests,
        verifier=stored_reference(config.verifier) if config.verifier else None,
    )
    row = {
        "question": question,
        "config": config,
        "model": om.spec.id or model_name(om.model),
        "spec": spec,
        "lock_owner": run.owner,
    }
    inputs: dict[str, Any] = {"question": question, "gold": gold, **({"history": history} if history else {})}
    if tests is not None:
        inputs["tests"] = tests
    if loaded:  # references only: the bytes are in the ledger, and in IMAGES while the run runs
        inputs["images"] = without_data([ref for ref, _ in loaded])
    return _NewRun(run, row, inputs)


@contextmanager
def _held(loaded: Sequence[tuple[ImageRef, bytes | None]]) -> Iterator[None]:
    """The run's image bytes, where its calls find them, while the block runs."""
    IMAGES.hold(loaded)
    try:
        yield
    finally:
        IMAGES.release(loaded)


def _twin_of(
    row: dict[str, Any] | None, thread_id: str | None, question: str, config: PDRConfig, location: str
) -> bool:
    """Whether `thread_id` names the same run, finished (its stored result is the answer); any other
    reuse of a thread id is an error."""
    if row is None:
        return False
    same = row["question"] == question and PDRConfig.model_validate(row["config"]) == config
    if same and row["status"] in FINISHED:
        return True
    hint = "resume it with resume_pdr" if same else "pick another thread id"
    raise RunExistsError(f"thread_id: a run {thread_id!r} already exists in {location}; {hint}")


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


@contextmanager
def _running(ledger: Ledger, thread_id: str, owner: str, *, acquire: bool) -> Iterator[None]:
    """Hold the run's lease; record how an invocation that raised ended (it stays resumable)."""
    with ledger.holding(thread_id, owner, acquire=acquire):
        ledger.set_status(thread_id, "running")
        try:
            yield
        except BaseException as exc:
            _forget(thread_id)
            status, error = _failure(exc)
            ledger.set_status(thread_id, status, error=error)
            raise


@asynccontextmanager
async def _arunning(ledger: Ledger, thread_id: str, owner: str, *, acquire: bool) -> AsyncIterator[None]:
    """Async twin of `_running`."""
    async with ledger.aholding(thread_id, owner, acquire=acquire):
        await ledger.aset_status(thread_id, "running")
        try:
            yield
        except BaseException as exc:
            _forget(thread_id)
            status, error = _failure(exc)
            await ledger.aset_status(thread_id, status, error=error)
            raise


def _compact(store: Store, thread_id: str) -> None:
    """A finished run keeps only its latest checkpoint; its history is in the ledger."""
    row = store.ledger.run_row(thread_id)
    if row and row["status"] in FINISHED:
        try:
            store.saver.prune([thread_id])
        except NotImplementedError:  # savers without pruning (in memory) keep their history
            pass


async def _acompact(store: Store, thread_id: str) -> None:
    row = await store.ledger.arun_row(thread_id)
    if row and row["status"] in FINISHED:
        try:
            await store.saver.aprune([thread_id])
        except NotImplementedError:
            pass


def _invoke(run: _Run, inputs: dict[str, Any] | None, on_event: EventHandler | None) -> None:
    if on_event is None:
        run.graph.invoke(inputs, run.config, context=run.context, durability="sync")
        return
    run.context.stream_drafts = True  # someone watches: drafts stream as they are written
    # LangGraph's sync stream parks a waiter on one worker of the pool: give it its own
    config = {**run.config, "max_concurrency": (run.config.get("max_concurrency") or 1) + 1}
    for event in run.graph.stream(
        inputs, config, context=run.context, stream_mode="custom", durability="sync"
    ):
        on_event(event)


async def _ainvoke(run: _Run, inputs: dict[str, Any] | None, on_event: EventHandler | None) -> None:
    if on_event is None:
        await run.graph.ainvoke(inputs, run.config, context=run.context, durability="sync")
        return
    run.context.stream_drafts = True
    async for event in run.graph.astream(
        inputs, run.config, context=run.context, stream_mode="custom", durability="sync"
    ):
        on_event(event)


# -- running ----------------------------------------------------------------------------------------


def run_pdr(
    question: str,
    *,
    model: ModelArg,
    config: PDRConfig | dict[str, Any] | None = None,
    db: str | Path | None = None,
    thread_id: str | None = None,
    gold: str | None = None,
    base_url: str | None = None,
    token_counter: TokenCounter | None = None,
    on_event: EventHandler | None = None,
    timeout: float | None = None,
    history: Sequence[Any] | None = None,
    images: Sequence[Any] | None = None,
    tools: Sequence[BaseTool] | None = None,
    tests: str | None = None,
) -> PDRResult:
    """Answer `question` with the method of `config`, checkpointing every step.

    Args:
        question: the question.
        model: a chat model, or a model string: `"openai:gpt-4.1-mini"`,
            `"google_genai:gemini-2.5-flash"`, any `init_chat_model` id, a model name served at
            `base_url`, or `"local"` / `"local:qwen2.5-coder-0.5b"` / `"local:/path/model.gguf"` for
            the embedded llama.cpp model. Keys come from the environment and are never stored.
        config: the method, schedule, distiller, budgets (default `PDRConfig()`). On the embedded
            local model, a config given as None or a dict gets that model's defaults where it names
            none (`langgraph_pdr.local_model.local_defaults`: self-consistency in windows 4,4 with
            `early_stop=0.75`, or, for PDR, 4,4, `majority_k`, `early_stop=1.0`, as `pdr run`); a
            `PDRConfig` is taken as it is.
        db: a SQLite file for the checkpoints and the ledger; `":memory:"` keeps the run in memory;
            None uses `$PDR_DB`, else `runs.sqlite` in the user's data directory.
        thread_id: the run's id (default: a new one). Running a finished run again with the same
            question and config returns its stored result; any other reuse of an id is an error.
        gold: the gold answer, for the oracle distillers only (never shown to the model).
        base_url: an OpenAI-compatible server (vLLM, llama.cpp, Ollama) for a model string.
        token_counter: counts workspace tokens (default: the local server's exact tokenizer for the
            local model, else a declared UTF-8 approximation).
        on_event: called with each progress event (`round_started`, `draft_finished`,
            `workspace_built`, `round_finished`, ...) as the run makes it.
        timeout: seconds a model call may take before it is abandoned and retried (model strings;
            stored with the run, so a resume keeps it). Default: the provider's own.
        history: earlier turns of a conversation (a system message, past exchanges), as chat
            messages or `{"role", "content"}` dicts; every draft sees them before the question.
        images: the question's images, each a file path, an http(s) or data URL, raw bytes, or a LangChain
            or OpenAI image content block. Every call that reads the question sees them; each is
            stored once in `db` (by sha256) and a resume sends the same bytes. A file that is missing
            or not an image (PNG, JPEG, GIF, WebP), an image over 20 MiB, or another URL scheme raises
            `ImageError` before anything runs.
        tools: LangChain tools every draft may call, besides the built-in ones `config.tools` names
            (e.g. `PDRConfig(tools=["python"])`). Their names are stored with the run; a resume must
            be given the same tools again (like a model object).
        tests: visible tests, Python source whose `assert`s the run's verifier checks every draft
            against (`"assert add(2, 2) == 4"`; the other statements are their setup). A run given
            tests and no verifier uses `python_tests`: its drafts are asked for a program, the program
            is the answer, and checks pick it (see `PDRConfig.verifier`). Stored with the run; never
            shown to the model by the run (put them in the question if the model should see them).

    Returns:
        The `PDRResult`: answer, text, B_seq, B_total, stop reason, rounds and calls.

    Raises:
        ValueError: a bad question, configuration, model or thread id.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage(f"... \\\\boxed{{391}}")] * 3))
        result = run_pdr("What is 17 * 23?", model=model, config=PDRConfig(method="sr", schedule="1,1"),
                         db=":memory:")
        assert result.answer == "391"
        ```
    """
    config = _validate(question, config, gold, local=is_local_model(model, base_url), tests=tests)
    history, loaded = turns(history), load_images(images)
    extra = _check_tools(config, tools)
    with open_store(db) as store:
        if thread_id and _twin_of(
            store.ledger.run_row(thread_id), thread_id, question, config, store.location
        ):
            return store.ledger.load_result(thread_id)
        with open_model(
            model, base_url=base_url, config=config, timeout=timeout, question_tokens=_estimate(question)
        ) as om:
            new = _new_run(
                store, question, om, config, thread_id, gold, token_counter, history, loaded, extra, tests
            )
            store.ledger.start_run(new.run.thread_id, **new.row, images=loaded)
            with _running(store.ledger, new.run.thread_id, new.run.owner, acquire=False), _held(loaded):
                _invoke(new.run, new.inputs, on_event)
                _compact(store, new.run.thread_id)
        return store.ledger.load_result(new.run.thread_id)


async def arun_pdr(
    question: str,
    *,
    model: ModelArg,
    config: PDRConfig | dict[str, Any] | None = None,
    db: str | Path | None = None,
    thread_id: str | None = None,
    gold: str | None = None,
    base_url: str | None = None,
    token_counter: TokenCounter | None = None,
    on_event: EventHandler | None = None,
    timeout: float | None = None,
    history: Sequence[Any] | None = None,
    images: Sequence[Any] | None = None,
    tools: Sequence[BaseTool] | None = None,
    tests: str | None = None,
) -> PDRResult:
    """Async twin of `run_pdr` (the model is called with `ainvoke`; the database is never waited for
    on the event loop, so many runs can share one loop and one SQLite file).

    It takes the arguments of `run_pdr`, returns its `PDRResult` and raises its errors.

    Example:
        ```python
        import asyncio
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, arun_pdr, list_runs

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 6))
        config = PDRConfig(schedule="2,1", distiller="majority_k", k=1)
        events = []

        async def two_runs():  # at once, on one event loop, in one SQLite file
            return await asyncio.gather(*(arun_pdr("What is 17 * 23?", model=model, config=config,
                                                   db="arun.sqlite", on_event=events.append)
                                           for _ in range(2)))

        assert [r.answer for r in asyncio.run(two_runs())] == ["391", "391"]
        assert len(list_runs("arun.sqlite")) == 2
        assert {"round_started", "run_finished"} <= {e["event"] for e in events}
        ```
    """
    config = _validate(question, config, gold, local=is_local_model(model, base_url), tests=tests)
    history, loaded = turns(history), load_images(images)
    extra = _check_tools(config, tools)
    async with aopen_store(db) as store:
        if thread_id and _twin_of(
            await store.ledger.arun_row(thread_id), thread_id, question, config, store.location
        ):
            return await store.ledger.aload_result(thread_id)
        with open_model(
            model, base_url=base_url, config=config, timeout=timeout, question_tokens=_estimate(question)
        ) as om:
            new = _new_run(
                store, question, om, config, thread_id, gold, token_counter, history, loaded, extra, tests
            )
            await store.ledger.astart_run(new.run.thread_id, **new.row, images=loaded)
            async with _arunning(store.ledger, new.run.thread_id, new.run.owner, acquire=False):
                with _held(loaded):
                    await _ainvoke(new.run, new.inputs, on_event)
                await _acompact(store, new.run.thread_id)
        return await store.ledger.aload_result(new.run.thread_id)


# -- resuming ---------------------------------------------------------------------------------------


def _require_db(db: str | Path | None, thread_id: str) -> None:
    """Reading a run from a database file that does not exist is an error that creates nothing."""
    if not db_exists(db):
        raise RunNotFoundError(f"thread_id: no run {thread_id!r}: there is no database at {resolve_db(db)}")


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


def _check_tools(config: PDRConfig, tools: Sequence[BaseTool] | None) -> list[BaseTool]:
    """The run's tool objects, checked: LangChain tools, no name twice (the config's built-in ones
    included)."""
    extra = list(tools or [])
    tool_set(config, extra)  # raises ValueError on a bad tool
    return extra


def _resumed_tools(spec: RunSpec, config: PDRConfig, tools: Sequence[BaseTool] | None) -> list[BaseTool]:
    """The tool objects a resume was given, checked against the names the run was started with."""
    extra = _check_tools(config, tools)
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
    _require_db(db, thread_id)
    with open_store(db) as store:
        row, config, spec = _stored(store.ledger.run_row(thread_id), thread_id, store.location)
        if row["status"] in FINISHED:
            return store.ledger.load_result(thread_id)
        extra = _resumed_tools(spec, config, tools)
        owner = new_lock_owner()
        with (
            _running(store.ledger, thread_id, owner, acquire=True),
            open_model(
                model if model is not None else spec.model,
                base_url=base_url,
                config=config,
                timeout=timeout,
                question_tokens=_estimate(row["question"]),
            ) as om,
        ):
            run = _compiled(
                store,
                config,
                om.model,
                thread_id,
                token_counter or om.token_counter,
                _stored_prompts(config, spec),
                extra,
            )
            snapshot = run.graph.get_state(run.config)
            _seed_billing(thread_id, store.ledger.failed_attempts(thread_id), snapshot)
            step = _resume_step(snapshot, row, spec, loaded := store.ledger.run_images(thread_id))
            if step.how == "again":
                run.graph.update_state(run.config, _round_again(snapshot.values or {}), as_node="begin_round")
            if step.how == "book":
                store.ledger.record(thread_id, step.outcome)
            else:
                with _held(loaded):  # the same bytes the run started with
                    _invoke(run, step.inputs, on_event)
            _compact(store, thread_id)
        return store.ledger.load_result(thread_id)


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
    _require_db(db, thread_id)
    async with aopen_store(db) as store:
        row, config, spec = _stored(await store.ledger.arun_row(thread_id), thread_id, store.location)
        if row["status"] in FINISHED:
            return await store.ledger.aload_result(thread_id)
        extra = _resumed_tools(spec, config, tools)
        owner = new_lock_owner()
        async with _arunning(store.ledger, thread_id, owner, acquire=True):
            with open_model(
                model if model is not None else spec.model,
                base_url=base_url,
                config=config,
                timeout=timeout,
                question_tokens=_estimate(row["question"]),
            ) as om:
                run = _compiled(
                    store,
                    config,
                    om.model,
                    thread_id,
                    token_counter or om.token_counter,
                    _stored_prompts(config, spec),
                    extra,
                )
                snapshot = await run.graph.aget_state(run.config)
                _seed_billing(thread_id, await store.ledger.afailed_attempts(thread_id), snapshot)
                loaded = await store.ledger.arun_images(thread_id)
                step = _resume_step(snapshot, row, spec, loaded)
                if step.how == "again":
                    await run.graph.aupdate_state(
                        run.config, _round_again(snapshot.values or {}), as_node="begin_round"
                    )
                if step.how == "book":
                    await store.ledger.arecord_many(thread_id, [step.outcome])
                else:
                    with _held(loaded):
                        await _ainvoke(run, step.inputs, on_event)
                await _acompact(store, thread_id)
        return await store.ledger.aload_result(thread_id)


# -- reading ----------------------------------------------------------------------------------------


def list_runs(db: str | Path | None = None, *, limit: int | None = None) -> list[RunSummary]:
    """The runs stored in `db`, newest first (none if the database file does not exist yet).

    Args:
        db: the database (as for `run_pdr`; None is the default database).
        limit: at most this many runs (the newest); None lists them all.

    Returns:
        One `RunSummary` per run: id, question, method, status, answer, B_seq and B_total.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, list_runs, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 2))
        for thread_id in ("older", "newer"):
            run_pdr("What is 17 * 23?", model=model, config=PDRConfig(method="single"), db="list.sqlite",
                    thread_id=thread_id)
        assert [r.thread_id for r in list_runs("list.sqlite")] == ["newer", "older"]
        assert [r.thread_id for r in list_runs("list.sqlite", limit=1)] == ["newer"]
        assert list_runs("no-such-file.sqlite") == []  # and no file is created
        ```
    """
    return stored_runs(db, limit=limit)


def inspect_run(thread_id: str, db: str | Path | None = None) -> PDRResult:
    """Everything the ledger holds about one run: rounds, drafts, scores, workspaces, calls.

    It reads the ledger only (it never calls a model), so it also shows a run that is still going,
    or one that failed or was interrupted, as far as it got.

    Args:
        thread_id: the run's id.
        db: the database the run is in (as for `run_pdr`).

    Returns:
        The run's `PDRResult`, as `run_pdr` returned it (or will).

    Raises:
        RunNotFoundError: no run with this id in `db` (a `ValueError`).

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, inspect_run, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 3))
        config = PDRConfig(schedule="2,1", distiller="majority_k", k=1)
        result = run_pdr("What is 17 * 23?", model=model, config=config, db="inspect.sqlite", thread_id="t1")
        stored = inspect_run("t1", db="inspect.sqlite")
        assert stored == result and [len(r.drafts) for r in stored.rounds] == [2, 1]
        assert stored.rounds[0].workspaces[0].sources == [0]
        ```
    """
    _require_db(db, thread_id)
    with open_store(db) as store:
        return store.ledger.load_result(thread_id)
