"""Running, resuming, listing and inspecting runs, each checkpointed with its ledger in one database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langgraph.types import Overwrite

from langgraph_pdr.checkpoints.ledger import (
    FINISHED,
    NO_DRAFTS,
    RunExistsError,
    RunNotFoundError,
    new_lock_owner,
)
from langgraph_pdr.checkpoints.store import Store, aopen_store, db_exists, open_store, resolve_db
from langgraph_pdr.graphs import create_pdr_graph, graph_config
from langgraph_pdr.models import OpenModel, open_model
from langgraph_pdr.nodes.distill import get_distiller
from langgraph_pdr.nodes.llm import model_name
from langgraph_pdr.nodes.prompts import get_prompts, register_prompts
from langgraph_pdr.nodes.tokens import DEFAULT_COUNTER
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.context import PDRContext, TokenCounter
from langgraph_pdr.state.prompts import PromptSet
from langgraph_pdr.state.registry import PROMPT_SETS
from langgraph_pdr.state.records import RunOutcome
from langgraph_pdr.state.result import PDRResult, RunSummary
from langgraph_pdr.state.spec import RunSpec

ModelArg = BaseChatModel | str | OpenModel
EventHandler = Callable[[dict], None]


def _config(config: PDRConfig | dict | None) -> PDRConfig:
    if config is None:
        return PDRConfig()
    if isinstance(config, dict):
        return PDRConfig.model_validate(config)
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


@dataclass
class _Run:
    """A compiled graph with everything one invocation needs."""

    graph: Any
    config: dict
    context: PDRContext
    thread_id: str


def _compiled(store: Store, config: PDRConfig, model: BaseChatModel, thread_id: str,
              token_counter: TokenCounter | None, prompts: PromptSet | None = None) -> _Run:
    graph = create_pdr_graph(config).compile(checkpointer=store.saver)
    context = PDRContext(model=model, config=config, token_counter=token_counter, recorder=store.ledger,
                         prompts=prompts or get_prompts(config.prompts))
    return _Run(graph, graph_config(config, thread_id=thread_id), context, thread_id)


def _stored_prompts(config: PDRConfig, spec: RunSpec) -> PromptSet | None:
    """The prompt set a run was started with, as stored with it (None for runs stored before)."""
    return PromptSet(name=config.prompts, **spec.prompts) if spec.prompts else None


@contextmanager
def _running(store: Store, thread_id: str, owner: str, *, acquire: bool) -> Iterator[None]:
    """Hold the run's lock; record how an invocation that raised ended (it stays resumable)."""
    with store.ledger.holding(thread_id, owner, acquire=acquire):
        store.ledger.set_status(thread_id, "running")
        try:
            yield
        except (KeyboardInterrupt, SystemExit):
            store.ledger.set_status(thread_id, "interrupted", error="interrupted")
            raise
        except BaseException as exc:
            store.ledger.set_status(thread_id, "failed", error=f"{type(exc).__name__}: {exc}")
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
    row = store.ledger.run_row(thread_id)
    if row and row["status"] in FINISHED:
        try:
            await store.saver.aprune([thread_id])
        except NotImplementedError:
            pass


ROLES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "ai": "assistant"}


def turns(history: Sequence[Any] | None) -> list[dict[str, str]]:
    """Earlier turns (chat messages or `{"role", "content"}` dicts) as role/content dicts."""
    out = []
    for message in history or []:
        if isinstance(message, BaseMessage):
            role, content = message.type, message.text
            if role == "tool":  # a tool's result, as the user would relay it
                name = getattr(message, "name", None) or "call"
                role, content = "user", f"[result of tool {name}] {content}"
            if role == "ai" and not content.strip():  # a turn that only called tools
                continue
        elif isinstance(message, dict):
            role, content = message.get("role"), message.get("content")
        else:
            raise ValueError(f"history: expected chat messages or role/content dicts, got "
                             f"{type(message).__name__}")
        if role not in ROLES or not isinstance(content, str):
            raise ValueError(f"history: each turn needs a role ({', '.join(sorted(set(ROLES)))}) and "
                             f"text content, got role {role!r}")
        out.append({"role": ROLES[role], "content": content})
    return out


def _validate(question: Any, config: PDRConfig | dict | None, gold: str | None) -> PDRConfig:
    config = _config(config)
    _check_question(question)
    if config.method == "pdr" and get_distiller(config.distiller).needs_gold and gold is None:
        raise ValueError(f"gold: distiller {config.distiller!r} needs the gold answer (gold=...)")
    return config


def _start(store: Store, question: str, om: OpenModel, config: PDRConfig, thread_id: str | None,
           gold: str | None, token_counter: TokenCounter | None,
           history: list[dict[str, str]]) -> tuple[_Run, str, dict]:
    thread_id = thread_id or uuid.uuid4().hex
    owner = new_lock_owner()
    counter = token_counter or om.token_counter
    store.ledger.start_run(
        thread_id,
        question=question,
        config=config,
        model=om.spec.id or model_name(om.model),
        spec=RunSpec(model=om.spec, gold=gold, token_counter=getattr(counter, "name", None),
                     history=history, prompts=get_prompts(config.prompts).templates()),
        lock_owner=owner,
    )
    inputs = {"question": question, "gold": gold, **({"history": history} if history else {})}
    return _compiled(store, config, om.model, thread_id, counter), owner, inputs


def _finished_twin(store: Store, thread_id: str | None, question: str,
                   config: PDRConfig) -> PDRResult | None:
    """Running the same finished run again (same id, question and config) returns its result."""
    row = store.ledger.run_row(thread_id) if thread_id else None
    if row is None:
        return None
    same = row["question"] == question and PDRConfig.model_validate(row["config"]) == config
    if same and row["status"] in FINISHED:
        return store.ledger.load_result(thread_id)
    hint = "resume it with resume_pdr" if same else "pick another thread id"
    raise RunExistsError(f"thread_id: a run {thread_id!r} already exists in {store.location}; {hint}")


def _invoke(run: _Run, inputs: dict | None, on_event: EventHandler | None) -> None:
    if on_event is None:
        run.graph.invoke(inputs, run.config, context=run.context, durability="sync")
        return
    # LangGraph's sync stream parks a waiter on one worker of the pool: give it its own
    config = {**run.config, "max_concurrency": run.config["max_concurrency"] + 1}
    for event in run.graph.stream(inputs, config, context=run.context, stream_mode="custom",
                                  durability="sync"):
        on_event(event)


async def _ainvoke(run: _Run, inputs: dict | None, on_event: EventHandler | None) -> None:
    if on_event is None:
        await run.graph.ainvoke(inputs, run.config, context=run.context, durability="sync")
        return
    async for event in run.graph.astream(inputs, run.config, context=run.context,
                                         stream_mode="custom", durability="sync"):
        on_event(event)


def run_pdr(
    question: str,
    *,
    model: ModelArg,
    config: PDRConfig | dict | None = None,
    db: str | Path | None = None,
    thread_id: str | None = None,
    gold: str | None = None,
    base_url: str | None = None,
    token_counter: TokenCounter | None = None,
    on_event: EventHandler | None = None,
    timeout: float | None = None,
    history: Sequence[Any] | None = None,
) -> PDRResult:
    """Answer `question` with the method of `config`, checkpointing every step.

    Args:
        question: the question.
        model: a chat model, or a model string: `"openai:gpt-4.1-mini"`,
            `"google_genai:gemini-2.5-flash"`, any `init_chat_model` id, a model name served at
            `base_url`, or `"local"` / `"local:qwen2.5-coder-0.5b"` / `"local:/path/model.gguf"` for
            the embedded llama.cpp model. Keys come from the environment and are never stored.
        config: the method, schedule, distiller, budgets (default `PDRConfig()`).
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
    config, history = _validate(question, config, gold), turns(history)
    with open_store(db) as store:
        if done := _finished_twin(store, thread_id, question, config):
            return done
        with open_model(model, base_url=base_url, config=config, timeout=timeout,
                        question_tokens=_estimate(question)) as om:
            run, owner, inputs = _start(store, question, om, config, thread_id, gold, token_counter,
                                        history)
            with _running(store, run.thread_id, owner, acquire=False):
                _invoke(run, inputs, on_event)
                _compact(store, run.thread_id)
        return store.ledger.load_result(run.thread_id)


async def arun_pdr(
    question: str,
    *,
    model: ModelArg,
    config: PDRConfig | dict | None = None,
    db: str | Path | None = None,
    thread_id: str | None = None,
    gold: str | None = None,
    base_url: str | None = None,
    token_counter: TokenCounter | None = None,
    on_event: EventHandler | None = None,
    timeout: float | None = None,
    history: Sequence[Any] | None = None,
) -> PDRResult:
    """Async twin of `run_pdr` (the model is called with `ainvoke`)."""
    config, history = _validate(question, config, gold), turns(history)
    async with aopen_store(db) as store:
        if done := _finished_twin(store, thread_id, question, config):
            return done
        with open_model(model, base_url=base_url, config=config, timeout=timeout,
                        question_tokens=_estimate(question)) as om:
            run, owner, inputs = _start(store, question, om, config, thread_id, gold, token_counter,
                                        history)
            with _running(store, run.thread_id, owner, acquire=False):
                await _ainvoke(run, inputs, on_event)
                await _acompact(store, run.thread_id)
        return store.ledger.load_result(run.thread_id)


def _require_db(db: str | Path | None, thread_id: str) -> None:
    """Reading a run from a database file that does not exist is an error that creates nothing."""
    if not db_exists(db):
        raise RunNotFoundError(f"thread_id: no run {thread_id!r}: there is no database at {resolve_db(db)}")


def _stored_run(store: Store, thread_id: str) -> tuple[dict, PDRConfig, RunSpec]:
    row = store.ledger.run_row(thread_id)
    if row is None:
        raise RunNotFoundError(f"thread_id: no run {thread_id!r} in {store.location}")
    spec = RunSpec.model_validate(row["spec"] or {})
    name = (row["config"] or {}).get("prompts")
    if spec.prompts and name and name not in PROMPT_SETS:  # a user's set, registered in another process
        register_prompts(PromptSet(name=name, **spec.prompts))
    return row, PDRConfig.model_validate(row["config"]), spec


def _resume_input(snapshot: Any, row: dict, spec: RunSpec) -> dict | None:
    """None continues from the last checkpoint; a run that died before its first one restarts."""
    if snapshot.values:
        return None
    return {"question": row["question"], "gold": spec.gold,
            **({"history": spec.history} if spec.history else {})}


def _failed_round(snapshot: Any) -> bool:
    """The run ended because every draft of a round failed."""
    return not snapshot.next and (snapshot.values or {}).get("stop_reason") == NO_DRAFTS


#: Forks a failed run back to the start of its failed round, as if `begin_round` had just run, so
#: resuming sends the round's drafts again.
_ROUND_AGAIN = {"stop_reason": None, "answer": None, "text": "", "drafts": Overwrite([]),
                "verifications": Overwrite([])}


def _finished_in_checkpoint(store: Store, run: _Run, snapshot: Any) -> bool:
    """The graph reached its end but the process died before the ledger heard: book it now."""
    values = snapshot.values
    if snapshot.values and not snapshot.next and values.get("stop_reason"):
        store.ledger.record(run.thread_id, RunOutcome(
            answer=values.get("answer"), text=values.get("text") or "", b_seq=values.get("b_seq") or 0,
            b_total=values.get("b_total") or 0, stop_reason=values["stop_reason"],
        ))
        return True
    return False


def resume_pdr(
    thread_id: str,
    *,
    db: str | Path | None = None,
    model: ModelArg | None = None,
    base_url: str | None = None,
    token_counter: TokenCounter | None = None,
    on_event: EventHandler | None = None,
    timeout: float | None = None,
) -> PDRResult:
    """Finish an interrupted run, re-running only what did not finish.

    The model is rebuilt from the stored spec (keys from the environment) unless `model` is given.
    Resuming a finished run returns its stored result without calling the model.

    Raises:
        RunNotFoundError: no run with this id in `db` (a `ValueError`).
        RunLockedError: another process is running this thread right now.
    """
    _require_db(db, thread_id)
    with open_store(db) as store:
        row, config, spec = _stored_run(store, thread_id)
        if row["status"] not in FINISHED:
            with _running(store, thread_id, new_lock_owner(), acquire=True), open_model(
                model if model is not None else spec.model, base_url=base_url, config=config,
                timeout=timeout, question_tokens=_estimate(row["question"]),
            ) as om:
                run = _compiled(store, config, om.model, thread_id, token_counter or om.token_counter,
                                _stored_prompts(config, spec))
                snapshot = run.graph.get_state(run.config)
                if _failed_round(snapshot):
                    run.graph.update_state(run.config, _ROUND_AGAIN, as_node="begin_round")
                    _invoke(run, None, on_event)
                elif not _finished_in_checkpoint(store, run, snapshot):
                    _invoke(run, _resume_input(snapshot, row, spec), on_event)
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
) -> PDRResult:
    """Async twin of `resume_pdr`."""
    _require_db(db, thread_id)
    async with aopen_store(db) as store:
        row, config, spec = _stored_run(store, thread_id)
        if row["status"] not in FINISHED:
            with _running(store, thread_id, new_lock_owner(), acquire=True), open_model(
                model if model is not None else spec.model, base_url=base_url, config=config,
                timeout=timeout, question_tokens=_estimate(row["question"]),
            ) as om:
                run = _compiled(store, config, om.model, thread_id, token_counter or om.token_counter,
                                _stored_prompts(config, spec))
                snapshot = await run.graph.aget_state(run.config)
                if _failed_round(snapshot):
                    await run.graph.aupdate_state(run.config, _ROUND_AGAIN, as_node="begin_round")
                    await _ainvoke(run, None, on_event)
                elif not _finished_in_checkpoint(store, run, snapshot):
                    await _ainvoke(run, _resume_input(snapshot, row, spec), on_event)
                await _acompact(store, thread_id)
        return store.ledger.load_result(thread_id)


def list_runs(db: str | Path | None = None, *, limit: int | None = None) -> list[RunSummary]:
    """The runs stored in `db`, newest first (none if the database file does not exist yet)."""
    if not db_exists(db):
        return []
    with open_store(db) as store:
        return store.ledger.list_runs(limit=limit)


def inspect_run(thread_id: str, db: str | Path | None = None) -> PDRResult:
    """Everything the ledger holds about one run: rounds, drafts, scores, workspaces, calls.

    Raises:
        RunNotFoundError: no run with this id in `db` (a `ValueError`).
    """
    _require_db(db, thread_id)
    with open_store(db) as store:
        return store.ledger.load_result(thread_id)
