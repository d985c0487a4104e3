"""One model call: provider options, timing, and the call record built from the provider's usage."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple, NoReturn

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ContextThreadPoolExecutor

from langgraph_pdr.calls.steps import Blocking, Sleep, Step, Steps, arun_steps, run_steps
from langgraph_pdr.calls.token_count import image_count, message_text
from langgraph_pdr.calls.tracing import call_run_config
from langgraph_pdr.state.context import TokenCounter
from langgraph_pdr.state.image_ref import IMAGE_TOKENS
from langgraph_pdr.state.records import CallRecord, KeptReply


def derive_seed(seed: int, *parts: object) -> int:
    """A per-call seed: parallel drafts at one temperature must not share a seed."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def call_options(model: Any, *, max_tokens: int, temperature: float, seed: int) -> dict[str, Any]:
    """Per-call keyword arguments in the names `model`'s provider understands."""
    kind = type(model).__name__
    if kind == "ChatGoogleGenerativeAI":
        return {"max_output_tokens": max_tokens, "temperature": temperature, "seed": seed}
    options: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
    if any(c.__name__ == "BaseChatOpenAI" for c in type(model).__mro__):
        options["seed"] = seed
    return options


def model_name(model: Any) -> str | None:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def _run_config(
    fields: dict[str, Any], model: Any = None, trace: dict[str, Any] | None = None
) -> RunnableConfig:
    """Run name, tags and metadata on each call, so tracers, callbacks and `messages` streams can tell
    calls apart and group them (see `langgraph_pdr.calls.tracing`)."""
    return call_run_config(fields, model=model, trace=trace)


def _record(
    reply: AIMessage,
    messages: Sequence[BaseMessage],
    *,
    counter: TokenCounter,
    started: float,
    model: Any,
    **fields: Any,
) -> tuple[str, CallRecord]:
    text = reply.text if isinstance(reply, AIMessage) else str(reply)
    usage = getattr(reply, "usage_metadata", None)
    if usage:
        inp, out, source = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)), "provider"
    else:
        inp = sum(counter.count(message_text(m)) + IMAGE_TOKENS * image_count(m) for m in messages)
        out, source = counter.count(text), "estimated"
    meta = getattr(reply, "response_metadata", None) or {}
    return text, CallRecord(
        input_tokens=inp,
        output_tokens=out,
        usage_source=source,
        latency_s=round(time.monotonic() - started, 4),
        finish_reason=meta.get("finish_reason") or meta.get("stop_reason"),
        model=model_name(model),
        **fields,
    )


#: The longest `Retry-After` a call waits for before handing the error to the retry policy.
MAX_RETRY_AFTER_S = 60.0

FailedHook = Callable[[CallRecord], None]
#: Called with each failed attempt's error and its record, to keep (None: the provider billed it, and
#: `FailedHook` booked it); the graph's retry policy then tries again, or gives up.
ErrorHook = Callable[[BaseException, CallRecord | None], None]
#: Called with each piece of a streamed reply and how many pieces came so far.
DeltaHook = Callable[[str, int], None]


def _chunk_text(chunk: Any) -> str:
    text = getattr(chunk, "text", "")
    return text if isinstance(text, str) else str(text)


def _as_message(joined: Any) -> AIMessage:
    """A streamed reply, its chunks added up, as the message `invoke` would have returned."""
    if joined is None:
        return AIMessage("")
    return AIMessage(
        content=joined.content,
        usage_metadata=getattr(joined, "usage_metadata", None),
        response_metadata=getattr(joined, "response_metadata", None) or {},
        tool_calls=getattr(joined, "tool_calls", None) or [],
        invalid_tool_calls=getattr(joined, "invalid_tool_calls", None) or [],
    )


def _joined(chunks: Any, on_delta: DeltaHook) -> AIMessage:
    """Add a stream's chunks up, telling `on_delta` of each."""
    reply = None
    for pieces, chunk in enumerate(chunks, start=1):
        reply = chunk if reply is None else reply + chunk
        on_delta(_chunk_text(chunk), pieces)
    return _as_message(reply)


class ImagesNotSupported(ValueError):
    """The model refused a prompt because it holds images: a text-only model. The run stops at once."""


def _refused_images(exc: BaseException, messages: Sequence[BaseMessage], model: Any) -> None:
    """Raise `ImagesNotSupported` when a request with images was refused for them (HTTP 400/415/422
    whose message names images)."""
    if not any(image_count(m) for m in messages):
        return
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    text = str(exc).lower()
    if status in (400, 415, 422) and ("image" in text or "multimodal" in text or "vision" in text):
        raise ImagesNotSupported(
            f"images: model {model_name(model)!r} does not take image input ({str(exc).splitlines()[0]})"
        ) from None


class EmptyCompletion(Exception):
    """The provider answered with no text: a failed attempt (retried), billed as the provider says."""


def retry_after(exc: BaseException) -> float | None:
    """The wait a 429 or 503 asked for (`Retry-After` seconds or date, or `retry-after-ms`), if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _wait_for(exc: BaseException) -> float:
    wait = retry_after(exc)
    return wait if wait is not None and wait <= MAX_RETRY_AFTER_S else 0.0


def _empty(text: str, reply: AIMessage) -> bool:
    """A reply with neither text nor tool calls (valid or not): a failed attempt the provider may
    still bill."""
    calls = getattr(reply, "tool_calls", None) or getattr(reply, "invalid_tool_calls", None)
    return not text.strip() and not calls


def _fail(call: CallRecord, on_failed: FailedHook | None, on_error: ErrorHook | None) -> NoReturn:
    failed = call.model_copy(update={"error": "EmptyCompletion: the model returned no text"})
    if on_failed is not None:
        on_failed(failed)  # books the billed tokens; may raise when no budget is left to retry
    empty = EmptyCompletion("the model returned no text")
    if on_error is not None:
        on_error(empty, None if on_failed is not None else failed)
    raise empty


def _failed_record(exc: BaseException, started: float, model: Any, **fields: Any) -> CallRecord:
    """The record of an attempt that raised `exc`: no tokens (the provider billed none), its error."""
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return CallRecord(
        usage_source="none",
        latency_s=round(time.monotonic() - started, 4),
        model=model_name(model),
        error=f"{type(exc).__name__}: {line}" if line else type(exc).__name__,
        **fields,
    )


#: Called by each async model call of this context as it starts to wait on its model (a run of a
#: burst served by `pdr serve` lets the next run start then: `runner.start_turns`).
WAITING_ON_MODEL: ContextVar[Callable[[], None] | None] = ContextVar("waiting_on_model", default=None)


@dataclass
class _Reply(Step):
    """The model's reply to `messages`: `invoke` (`ainvoke`), or a stream added up with each piece
    told to `on_delta`."""

    model: BaseChatModel
    messages: list[BaseMessage]
    config: RunnableConfig
    options: dict[str, Any]
    on_delta: DeltaHook | None

    def run(self) -> AIMessage:
        if self.on_delta is None:
            return self.model.invoke(self.messages, self.config, **self.options)
        with _streamed():
            return _joined(self.model.stream(self.messages, self.config, **self.options), self.on_delta)

    async def arun(self) -> AIMessage:
        waiting = WAITING_ON_MODEL.get()
        if waiting is not None:
            waiting()
        if self.on_delta is None:
            return await self.model.ainvoke(self.messages, self.config, **self.options)
        joined: Any = None
        pieces = 0
        with _streamed():
            async for chunk in self.model.astream(self.messages, self.config, **self.options):
                joined = chunk if joined is None else joined + chunk
                pieces += 1
                self.on_delta(_chunk_text(chunk), pieces)
        return _as_message(joined)


#: What LangChain raises when a stream ends with not one chunk (an empty or unreadable body).
NO_CHUNKS = "No generation chunks were returned"


@contextmanager
def _streamed() -> Iterator[None]:
    """A stream that ended with no chunk at all (a body that was empty or not an event stream) is an
    empty completion, retried as one (as the same body, not streamed, is a transient decode error)."""
    try:
        yield
    except ValueError as exc:
        if str(exc) != NO_CHUNKS:
            raise
        raise EmptyCompletion("the model's stream returned nothing") from exc


class _Hooks(NamedTuple):
    """What a call tells: its billed failures, its tracers, each piece of a streamed reply, and each
    failed attempt."""

    on_failed: FailedHook | None = None
    trace: dict[str, Any] | None = None
    on_delta: DeltaHook | None = None
    on_error: ErrorHook | None = None


def _reply_steps(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    options: dict[str, Any],
    counter: TokenCounter,
    hooks: _Hooks,
    **fields: Any,
) -> Steps[tuple[AIMessage, str, CallRecord]]:
    """`call_model_reply`, written once for it and its async twin (see `langgraph_pdr.calls.steps`)."""
    started = time.monotonic()
    on_failed = hooks.on_failed
    try:
        config = _run_config(fields, model, hooks.trace)
        reply = yield _Reply(model, list(messages), config, options, hooks.on_delta)
    except Exception as exc:
        _refused_images(exc, messages, model)
        if hooks.on_error is not None:  # off the event loop: it writes the ledger (see below)
            yield Blocking(hooks.on_error, (exc, _failed_record(exc, started, model, **fields)))
        yield Sleep(_wait_for(exc))
        raise
    text, call = _record(reply, messages, counter=counter, started=started, model=model, **fields)
    if _empty(text, reply):
        # from async code off the event loop: `on_failed` writes the ledger, which may wait for
        # SQLite's write lock while the async checkpointer, on that loop, holds it until its commit runs
        yield Blocking(_fail, (call, on_failed, hooks.on_error))
    return reply, text, call


def call_model_reply(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    *,
    options: dict[str, Any],
    counter: TokenCounter,
    on_failed: FailedHook | None = None,
    trace: dict[str, Any] | None = None,
    on_delta: DeltaHook | None = None,
    on_error: ErrorHook | None = None,
    **fields: Any,
) -> tuple[AIMessage, str, CallRecord]:
    """Invoke `model` once; return its reply, its text and the call record (`fields`: role, round,
    index, stage; `trace`: the run's metadata for tracers, see `langgraph_pdr.calls.tracing`). With
    `on_delta`, the reply is streamed and `on_delta(text, pieces)` gets each piece as it arrives.
    `on_error(exc, record)` hears of each failed attempt (`record`: its failure, to keep).

    A rate limit that names its wait (`Retry-After`, up to a minute) is waited out here, then raised
    for the graph's retry policy; an empty completion is reported to `on_failed` (its billed tokens)
    and raised as `EmptyCompletion`, which the policy retries.
    """
    hooks = _Hooks(on_failed, trace, on_delta, on_error)
    return run_steps(_reply_steps(model, messages, options, counter, hooks, **fields))


async def acall_model_reply(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    *,
    options: dict[str, Any],
    counter: TokenCounter,
    on_failed: FailedHook | None = None,
    trace: dict[str, Any] | None = None,
    on_delta: DeltaHook | None = None,
    on_error: ErrorHook | None = None,
    **fields: Any,
) -> tuple[AIMessage, str, CallRecord]:
    """Async twin of `call_model_reply`."""
    hooks = _Hooks(on_failed, trace, on_delta, on_error)
    return await arun_steps(_reply_steps(model, messages, options, counter, hooks, **fields))


def call_model(
    model: BaseChatModel, messages: Sequence[BaseMessage], **kwargs: Any
) -> tuple[str, CallRecord]:
    """`call_model_reply` without the reply: the text and the call record."""
    return run_steps(call_model_steps(model, messages, **kwargs))


async def acall_model(
    model: BaseChatModel, messages: Sequence[BaseMessage], **kwargs: Any
) -> tuple[str, CallRecord]:
    """Async twin of `call_model`."""
    return await arun_steps(call_model_steps(model, messages, **kwargs))


def call_model_steps(
    model: BaseChatModel, messages: Sequence[BaseMessage], **kwargs: Any
) -> Steps[tuple[str, CallRecord]]:
    """`call_model` as steps, for a core written once for a sync node and its async twin (`yield from`
    it; see `langgraph_pdr.calls.steps`)."""
    _, text, call = yield from call_model_reply_steps(model, messages, **kwargs)
    return text, call


def call_model_reply_steps(
    model: BaseChatModel, messages: Sequence[BaseMessage], **kwargs: Any
) -> Steps[tuple[AIMessage, str, CallRecord]]:
    """`call_model_reply` as steps (see `call_model_steps`)."""
    kwargs = dict(kwargs)
    hooks = _Hooks(*(kwargs.pop(name, None) for name in _Hooks._fields))
    options, counter = kwargs.pop("options"), kwargs.pop("counter")
    return (yield from _reply_steps(model, messages, options, counter, hooks, **kwargs))


#: One call of a batch: its messages and `call_model`'s keyword arguments.
Job = tuple[Sequence[BaseMessage], dict[str, Any]]
#: What a call of a batch came to: its text and record, or the error it raised.
Outcome = tuple[str, CallRecord] | BaseException


class KeptReplies:
    """The replies of a node's model calls, kept until the node ends.

    A node that makes several calls and then fails (one call's rate limit) is retried whole by the
    graph; its retry reads the calls that had returned back from here instead of paying for them
    again, so each is paid and booked once. A call is known by its role, round, index, messages and
    provider options (seed included). Replies are kept in this process (per run, forgotten when the
    node ends: `forget`) and, with a recorder that can read them back (the ledger), in the run's
    ledger as each returns (`KeptReply`, until the run ends), so a run killed in the middle of a
    node and resumed in another process does not pay for them again either.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: dict[str, dict[str, tuple[str, CallRecord]]] = {}

    @staticmethod
    def key(messages: Sequence[BaseMessage], options: dict[str, Any]) -> str:
        """A call's identity: its role, round, index, messages and provider options (seed included)."""
        parts = [options.get(f) for f in ("role", "round", "index")]
        parts += [[(m.type, message_text(m)) for m in messages], sorted(options.get("options", {}).items())]
        return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()

    def get(self, thread_id: str, key: str, recorder: Any = None) -> tuple[str, CallRecord] | None:
        """The kept reply of call `key`: this process's, else the ledger's (`recorder`), else None."""
        with self._lock:
            reply = self._replies.get(thread_id, {}).get(key)
        read = getattr(recorder, "kept_reply", None)
        if reply is None and read is not None:
            kept = read(thread_id, key)
            reply = (kept.text, kept.call) if kept is not None else None
        return reply

    def put(self, thread_id: str, key: str, reply: tuple[str, CallRecord], recorder: Any = None) -> None:
        """Keep a reply in this process and, if it can read it back, in the ledger (`recorder`)."""
        with self._lock:
            self._replies.setdefault(thread_id, {})[key] = reply
        if getattr(recorder, "kept_reply", None) is not None:
            recorder.record(thread_id, KeptReply(key=key, text=reply[0], call=reply[1]))

    def forget(self, thread_id: str) -> None:
        """Forget what this process keeps of a run (the ledger's are deleted when the run ends)."""
        with self._lock:
            self._replies.pop(thread_id, None)

    def holds(self, thread_id: str) -> bool:
        """Whether this process keeps replies of the run."""
        with self._lock:
            return bool(self._replies.get(thread_id))


#: The process-wide kept replies (see `KeptReplies`).
KEPT = KeptReplies()


def _kept_steps(
    model: BaseChatModel,
    thread_id: str | None,
    messages: Sequence[BaseMessage],
    options: dict[str, Any],
    recorder: Any = None,
) -> Steps[tuple[str, CallRecord]]:
    """One call of a batch, its reply kept (see `KeptReplies`); a reply kept already is not paid twice."""
    if thread_id is None:
        _, text, call = yield from call_model_reply_steps(model, messages, **options)
        return text, call
    key = KeptReplies.key(messages, options)
    # the ledger, from async code off the event loop: SQLite's write lock may be held by the
    # checkpointer on that loop
    kept = yield Blocking(KEPT.get, (thread_id, key, recorder))
    if kept is not None:
        return kept
    _, text, call = yield from call_model_reply_steps(model, messages, **options)
    yield Blocking(KEPT.put, (thread_id, key, (text, call), recorder))
    return text, call


def _kept_call(*args: Any) -> tuple[str, CallRecord]:
    return run_steps(_kept_steps(*args))


def call_models(
    model: BaseChatModel,
    jobs: Sequence[Job],
    *,
    concurrency: int,
    thread_id: str | None = None,
    recorder: Any = None,
) -> list[Outcome]:
    """Run `jobs` in parallel threads, at most `concurrency` at once; each one's outcome, in order (an
    error is returned, not raised, so that the calls that returned are kept). With `thread_id`, the
    replies are kept (`KEPT`: in this process until the node forgets them, and in the run's ledger
    when `recorder` is one), and a call kept already is not made again.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage, HumanMessage
        from langgraph_pdr.calls.model_call import call_models
        from langgraph_pdr.calls.token_count import DEFAULT_COUNTER

        model = GenericFakeChatModel(messages=iter([AIMessage("4"), AIMessage("4")]))
        fields = {"options": {}, "counter": DEFAULT_COUNTER, "role": "judge", "round": 1, "stage": "r1.j"}
        jobs = [([HumanMessage("2 + 2?")], {**fields, "index": i}) for i in range(2)]
        outcomes = call_models(model, jobs, concurrency=2)
        assert [text for text, _ in outcomes] == ["4", "4"] and [c.index for _, c in outcomes] == [0, 1]
        ```
    """
    if len(jobs) <= 1:  # no thread for one call
        outcomes: list[Outcome] = []
        for messages, options in jobs:
            try:
                outcomes.append(_kept_call(model, thread_id, messages, options, recorder))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes
    with ContextThreadPoolExecutor(max_workers=max(min(len(jobs), concurrency), 1)) as pool:
        futures = [pool.submit(_kept_call, model, thread_id, m, o, recorder) for m, o in jobs]
    return [f.exception() or f.result() for f in futures]


async def acall_models(
    model: BaseChatModel,
    jobs: Sequence[Job],
    *,
    concurrency: int,
    thread_id: str | None = None,
    recorder: Any = None,
) -> list[Outcome]:
    """Async twin of `call_models`: the calls as tasks, at most `concurrency` at once."""
    gate = asyncio.Semaphore(max(concurrency, 1))

    async def one(messages: Sequence[BaseMessage], options: dict[str, Any]) -> tuple[str, CallRecord]:
        async with gate:
            return await arun_steps(_kept_steps(model, thread_id, messages, options, recorder))

    return list(await asyncio.gather(*(one(m, o) for m, o in jobs), return_exceptions=True))
