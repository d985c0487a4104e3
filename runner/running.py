"""Running a run: `run_pdr` and its async twin `arun_pdr`, and the checks of a run's inputs.

Both are one implementation (`_run`, a generator of steps: see `langgraph_pdr.calls.steps`); they differ
only in how they wait for the database and the model (`await` in the async one, which never blocks the
event loop)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.tools import BaseTool

from langgraph_pdr.calls.image_input import without_data
from langgraph_pdr.calls.model_call import model_name
from langgraph_pdr.calls.steps import Call, Enter, Exit, Steps, arun_steps, run_steps
from langgraph_pdr.checking import stored_reference
from langgraph_pdr.checking.programs import split_tests
from langgraph_pdr.checkpoints.ledger import FINISHED, RunExistsError
from langgraph_pdr.checkpoints.store import Store, aopen_store, open_store
from langgraph_pdr.images import load_images
from langgraph_pdr.local_model import resolve_run_config
from langgraph_pdr.models import OpenModel, is_local_model, open_model
from langgraph_pdr.nodes.distill import get_distiller
from langgraph_pdr.nodes.draft import run_verifier
from langgraph_pdr.runner.execution import (
    CompiledRun,
    EventHandler,
    ModelArg,
    check_context_of,
    check_tools,
    compiled,
    estimate,
    invoked,
    leased,
)
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.context import TokenCounter
from langgraph_pdr.state.image_ref import ImageRef
from langgraph_pdr.state.result import PDRResult
from langgraph_pdr.state.spec import RunSpec


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
    return checked_config(resolve_run_config(config, local=local), tests=tests, gold=gold)


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


@dataclass
class _NewRun:
    """A run about to be stored: its row, its first input, and its compiled graph."""

    run: CompiledRun
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
    run = compiled(store, config, om.model, thread_id or uuid.uuid4().hex, counter, tools=tools)
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


def _run(
    question: str,
    *,
    model: ModelArg,
    config: PDRConfig | dict[str, Any] | None,
    db: str | Path | None,
    thread_id: str | None,
    gold: str | None,
    base_url: str | None,
    token_counter: TokenCounter | None,
    on_event: EventHandler | None,
    timeout: float | None,
    history: Sequence[Any] | None,
    images: Sequence[Any] | None,
    tools: Sequence[BaseTool] | None,
    tests: str | None,
) -> Steps[PDRResult]:
    """`run_pdr`, written once for it and `arun_pdr` (see `langgraph_pdr.calls.steps`)."""
    config = _validate(question, config, gold, local=is_local_model(model, base_url), tests=tests)
    history, loaded = turns(history), load_images(images)
    extra = check_tools(config, tools)
    store = yield Enter(lambda: open_store(db), lambda: aopen_store(db))
    if thread_id:
        row = yield Call.twin(store.ledger, "run_row", thread_id)
        if _twin_of(row, thread_id, question, config, store.location):
            result: PDRResult = yield Call.twin(store.ledger, "load_result", thread_id)
            return result
    question_tokens = estimate(question)
    om = yield Enter(
        lambda: open_model(
            model, base_url=base_url, config=config, timeout=timeout, question_tokens=question_tokens
        )
    )
    check_context_of(om, config, question_tokens)  # nothing is stored or sent beyond it
    new = _new_run(store, question, om, config, thread_id, gold, token_counter, history, loaded, extra, tests)
    run = new.run
    yield Call.twin(store.ledger, "start_run", run.thread_id, **new.row, images=loaded)
    body = invoked(store, run, new.inputs, on_event, loaded)
    yield from leased(store.ledger, run.thread_id, run.owner, body, acquire=False)
    yield Exit()  # the model
    result = yield Call.twin(store.ledger, "load_result", run.thread_id)
    return result


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
            none (self-consistency in windows 4,4 with `early_stop=0.75`, or, for PDR, 4,4,
            `majority_k`, `early_stop=1.0`, as `pdr run`: `langgraph_pdr.local_model.resolve_run_config`);
            a `PDRConfig` is taken as it is.
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
    return run_steps(_run(**locals()))  # the arguments, as given


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
    return await arun_steps(_run(**locals()))  # the arguments, as given
