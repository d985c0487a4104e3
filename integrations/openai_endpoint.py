"""`pdr serve`: an OpenAI-compatible `/v1/chat/completions` (and `/v1/models`) in front of any model,
answering through PDR, so UIs and clients that speak OpenAI get it unchanged.

The request's `model` names the method: `pdr` (the default configuration), `pdr-4-2-1-global_summary`,
`pdr-8-4-1-per_sample_top_k`, `sr-3`, `sr_error-3`, `single`, `sc-8`, `bon-8`; an extra body field
`"pdr": {...}` sets any `PDRConfig` field, and `tests` (visible tests the run's verifier checks every
draft against) (`{"kappa": 512, "k": 2}`; `{"tools": ["python"]}` lets the drafts call the sandboxed
`python` tool when the server was started with it, `allow_tools`, in fenced blocks on the embedded
local model unless `tool_format` says otherwise), and `max_tokens` / `temperature` set the drafts'. With
`"stream": true`, progress is sent as it happens in `delta.reasoning_content` (the field reasoning UIs
show as thinking; the raw event is in `delta.pdr_event`): the drafts' tokens as they are written, each
run of them headed `[draft r1.2]`, and a line per event between calls; then
the answer as `delta.content`; `usage` sums every inner call. With `api_key`, every request needs
`Authorization: Bearer KEY` (else 401). A request with an `Idempotency-Key` header (or
`"pdr": {"thread_id": ...}`) names its run: sending it again returns the same run, never a second one
(`integrations.served_runs`); the store's orphaned runs are resumed on start and while the server runs.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from langchain_core.messages import convert_to_messages

from langgraph_pdr.checkpoints.store import MEMORY, db_exists, open_ledger, resolve_db
from langgraph_pdr.images import load_images
from langgraph_pdr.integrations.asgi import listening, run_app
from langgraph_pdr.integrations.langchain_chat import metadata_of, question_images, split_messages, usage_of
from langgraph_pdr.integrations.served_runs import KeyReused, Live, ServedRuns
from langgraph_pdr.local_model import resolve_run_config
from langgraph_pdr.models import is_local_model, open_model
from langgraph_pdr.state.config import PDRConfig, error_line
from langgraph_pdr.state.methods import MethodError, from_model_name, parse_method
from langgraph_pdr.state.result import PDRResult
from langgraph_pdr.tooling.toolbox import check_allowed

PRESETS = (
    "pdr",
    "pdr-4-2-1-global_summary",
    "pdr-8-4-1-per_sample_top_k",
    "pdr-4-2-1-random_k",
    "sr-3",
    "sr_error-3",
    "single",
    "sc-8",
    "bon-8",
)


#: The logger of `pdr serve`'s access log: a line per request (INFO), see `access_line`.
access_log = logging.getLogger("langgraph_pdr.access")


def access_line(method: str, path: str, status: int, seconds: float, state: dict[str, Any]) -> str:
    """The access-log line of one request: HTTP method and path, the model (the method the request
    named), the run's thread id, the HTTP status and the seconds until the last byte was sent.

    Example:
        ```python
        from langgraph_pdr.integrations.openai_endpoint import access_line

        line = access_line("POST", "/v1/chat/completions", 200, 1.234, {"model": "sr-3", "thread": "ab12"})
        assert line == "POST /v1/chat/completions model=sr-3 thread=ab12 status=200 1.23s"
        ```
    """
    model, thread = state.get("model") or "-", state.get("thread") or "-"
    return f"{method} {path} model={model} thread={thread} status={status} {seconds:.2f}s"


class _AccessLog:
    """ASGI middleware: one `access_line` per HTTP request once its response is sent (a stream's too);
    the handler names the model and thread in `request.state`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.monotonic(), [500]
        state = scope.setdefault("state", {})

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.monotonic() - started
            access_log.info(access_line(scope["method"], scope["path"], status[0], seconds, state))


class RequestError(ValueError):
    """A request the server refuses (HTTP 400)."""


#: Fields of a request's `pdr` object that go to the run, not to its `PDRConfig`.
RUN_FIELDS = ("tests", "thread_id")
#: Seconds between two looks for orphaned runs in the store (`create_app(recover_every=...)`).
RECOVER_EVERY_S = 10.0


def request_key(headers: Any, body: dict[str, Any]) -> str | None:
    """The run a request names: its `Idempotency-Key` header, else `"pdr": {"thread_id": ...}`.

    Raises:
        RequestError: a key that is not a string of 1 to 200 printable characters (HTTP 400).

    Example:
        ```python
        from langgraph_pdr.integrations.openai_endpoint import request_key

        assert request_key({"idempotency-key": "order-17"}, {}) == "order-17"
        assert request_key({}, {"pdr": {"thread_id": "t-1"}}) == "t-1"
        assert request_key({}, {"model": "pdr"}) is None
        ```
    """
    extra = body.get("pdr")
    key = headers.get("idempotency-key") or (extra.get("thread_id") if isinstance(extra, dict) else None)
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= 200 or not key.isprintable():
        raise RequestError("Idempotency-Key: expected 1 to 200 printable characters (pdr.thread_id too)")
    return key


def run_fields(request: dict[str, Any]) -> dict[str, Any]:
    """What a request's `pdr` object gives the run besides its config: `tests`, the visible tests its
    verifier checks every draft against (Python source of asserts).

    Raises:
        RequestError: a field of the wrong type, as one line (HTTP 400).
    """
    extra = request.get("pdr") or {}
    tests = extra.get("tests") if isinstance(extra, dict) else None
    if tests is not None and not isinstance(tests, str):
        raise RequestError(
            "pdr.tests: expected Python source, a string of asserts such as 'assert f(1) == 2'"
        )
    return {"tests": tests} if tests is not None else {}


def _sampling(request: dict[str, Any]) -> dict[str, Any]:
    """The drafts' `max_tokens` and `temperature` a request sets, each checked under its own name."""
    fields: dict[str, Any] = {}
    for name in ("max_completion_tokens", "max_tokens"):  # the older name wins when both are given
        value = request.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RequestError(f"{name}: expected a positive number of tokens, got {value!r}")
        fields["max_tokens"] = value
    value = request.get("temperature")
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 2:
            raise RequestError(f"temperature: expected a number between 0 and 2, got {value!r}")
        fields["temperature"] = value
    return fields


def config_for(model: str, request: dict[str, Any], *, local: bool = False) -> PDRConfig:
    """The run configuration a request asks for: its model name, then `pdr`, `max_tokens`, `temperature`.

    Args:
        model: the request's model name, which names the method (`pdr-4-2-1-global_summary`).
        request: the request's body; its `pdr` object sets any `PDRConfig` field, e.g.
            `{"tools": ["python"]}`.
        local: the server answers with the embedded local model: model `pdr` then has that model's
            PDR defaults (4,4, majority_k, early_stop 1.0), and tools are called in fenced blocks
            unless `pdr.tool_format` names a format (`langgraph_pdr.local_model.resolve_run_config`).

    Raises:
        RequestError: a bad model name or field, as one line (HTTP 400).

    Example:
        ```python
        from langgraph_pdr.integrations.openai_endpoint import config_for

        config = config_for("single", {"pdr": {"tools": ["python"]}}, local=True)
        assert (config.tools, config.tool_format) == (("python",), "fenced")
        ```
    """
    if not isinstance(model, str) or not model:
        raise RequestError("model: name a method, e.g. pdr, pdr-4-2-1-global_summary, sr-3, single")
    fields = _sampling(request)
    try:
        entry = from_model_name(model)
        data = (
            parse_method(entry, fields).config.model_dump()
            if entry != "pdr"
            else (PDRConfig.model_validate(fields).model_dump())
        )
    except MethodError as exc:
        raise RequestError(str(exc).replace("methods: ", "model: ", 1)) from None
    except ValueError as exc:
        raise RequestError(error_line(exc)) from None
    extra = request.get("pdr") or {}
    if not isinstance(extra, dict):
        raise RequestError("pdr: expected an object of PDRConfig fields")
    extra = {k: v for k, v in extra.items() if k not in RUN_FIELDS}
    try:
        if entry == "pdr" and local:  # the embedded model's PDR defaults, where the request names none
            return resolve_run_config({"method": "pdr", **fields, **extra}, local=True)
        if extra:
            data = {**data, **extra}
            if "schedule" in extra or "method" in extra:
                data["schedule"] = extra.get("schedule")
        if local and "tool_format" not in extra:  # not named: the embedded model's own applies
            data.pop("tool_format", None)
        return resolve_run_config(data, local=local)
    except ValueError as exc:
        raise RequestError(error_line(exc)) from None


def describe(event: dict[str, Any]) -> str:
    """One line of progress for people reading a stream."""
    kind = event.get("event")
    if kind == "round_started":
        return f"Round {event['round']}/{event['rounds']}: writing {event['drafts']} draft(s).\n"
    if kind == "draft_finished":
        return (
            f"Draft {event['index'] + 1} of round {event['round']} done (answer {event.get('answer')}, "
            f"{event.get('tokens', 0)} tokens).\n"
        )
    if kind == "draft_failed":
        return f"Draft {event['index'] + 1} of round {event['round']} failed: {event.get('error')}.\n"
    if kind == "tool_called":
        failed = " (it failed)" if event.get("error") else ""
        return f"Draft {event['index'] + 1} of round {event['round']} ran {event.get('tool')}{failed}.\n"
    if kind == "call_retrying":
        who = (
            f"Draft {event['index'] + 1} of round {event['round']}"
            if event.get("role") == "draft"
            else f"The {event.get('role')} call of round {event['round']}"
        )
        tries = f"({event.get('attempt')} of {event.get('attempts')})"
        return f"{who}: retrying after {event.get('reason')} {tries}.\n"
    if kind == "tournament":
        return f"Tournament of round {event['round']}: {len(event.get('pairs') or [])} match(es).\n"
    if kind == "draft_verified":
        return f"Draft {event['index'] + 1} of round {event['round']} scored {event.get('score')}.\n"
    if kind == "workspace_built":
        sizes = ", ".join(str(w["tokens"]) for w in event.get("workspaces", []))
        return f"Distilled round {event['round']} ({event.get('distiller')}): workspaces of {sizes} tokens.\n"
    if kind == "critique_written":
        return f"Reviewed round {event['round']} ({event.get('critique_tokens')} tokens).\n"
    if kind == "round_finished":
        return f"Round {event['round']} finished: {event['survivors']}/{event['drafts']} drafts.\n"
    if kind == "run_stopping":
        return f"Stopping: {event.get('reason')}.\n"
    if kind == "run_finished":
        return "Done.\n"
    return f"{kind}\n"


def _usage(result: PDRResult) -> dict[str, int]:
    u = usage_of(result)
    return {
        "prompt_tokens": u["input_tokens"],
        "completion_tokens": u["output_tokens"],
        "total_tokens": u["total_tokens"],
    }


def _error(message: str, status: int, kind: str = "invalid_request_error") -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": None}}, status_code=status
    )


def create_app(
    *,
    model: Any,
    base_url: str | None = None,
    db: str | None = None,
    timeout: float | None = None,
    slots: int = 4,
    allow_tools: Sequence[str] = (),
    api_key: str | None = None,
    recover_every: float | None = RECOVER_EVERY_S,
) -> Any:
    """The Starlette app of `pdr serve` (serve it with any ASGI server).

    Args:
        model: the upstream chat model or model string (`"local"` serves the local model for the
            app's lifetime, with `slots` parallel slots).
        base_url: an OpenAI-compatible upstream for a model string.
        db: where runs are checkpointed (default: `$PDR_DB`, else the user data directory).
        timeout: seconds an upstream call may take (model strings).
        slots: parallel slots of the local model.
        allow_tools: the built-in tools (`python`) a request may name in `"pdr": {"tools": [...]}`;
            a request naming another gets HTTP 400. None by default: tools run code on this machine.
        api_key: when given, every request needs `Authorization: Bearer <api_key>` (else HTTP 401).
        recover_every: seconds between two looks for the store's orphaned runs (their process died or
            their lease expired) made with this model, which the app resumes (on start too); None
            never looks. Several apps on one store share its runs: each is run by one of them.

    Every request is logged, one `access_line` at INFO on the `langgraph_pdr.access` logger.
    """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    state: dict[str, Any] = {}
    local = is_local_model(model, base_url)
    allowed = tuple(allow_tools)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        sizing = PDRConfig(schedule=(slots, 1))
        store = resolve_db(db)
        ledger = None
        if store != MEMORY:
            if not db_exists(store):  # made by the first run's store, as a run makes it
                from langgraph_pdr.checkpoints.store import open_store

                with open_store(store):
                    pass
            ledger = open_ledger(store)
        with open_model(model, base_url=base_url, config=sizing, timeout=timeout, progress=False) as om:
            state["model"] = om
            runs = state["runs"] = ServedRuns(ledger=ledger, db=db, model=om)
            recovering = (
                asyncio.create_task(runs.recover_forever(recover_every)) if recover_every and ledger else None
            )
            try:
                yield
            finally:
                if recovering is not None:
                    recovering.cancel()
                if ledger is not None:
                    await ledger.adispose()

    async def models(request: Request) -> Any:
        now = int(time.time())
        data = [
            {"id": name, "object": "model", "created": now, "owned_by": "langgraph-pdr"} for name in PRESETS
        ]
        return JSONResponse({"object": "list", "data": data})

    async def completions(request: Request) -> Any:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error("the body is not JSON", 400)
        if not isinstance(body, dict):
            return _error("the body must be a JSON object", 400)
        request.state.model = body.get("model") or "pdr"
        try:
            config = config_for(body.get("model", "pdr"), body, local=local)
            try:
                check_allowed(config.tools, allowed, how="pdr serve --allow-tools {names}")
            except ValueError as exc:
                raise RequestError(str(exc)) from None
            extra = run_fields(body)
            key = request_key(request.headers, body)
            question, history, images = _conversation(body.get("messages"))
            if body.get("n", 1) != 1:
                raise RequestError("n: only one choice per request")
            if body.get("tools"):
                raise RequestError(
                    "tools: a client's tools are not called; PDR answers the last user message "
                    'and its drafts call the built-in tools named in "pdr": {"tools": ["python"]}'
                )
        except RequestError as exc:
            return _error(str(exc), 400)
        run: dict[str, Any] = {
            "model": state["model"],
            "config": config,
            "db": db,
            "history": history,
            "images": images,
            **extra,
        }
        name = body.get("model") or "pdr"
        runs: ServedRuns = state["runs"]
        streamed = bool(body.get("stream"))
        try:
            if key is None:  # with no key, only this request can watch the run: it does if it streams
                answer: Live | PDRResult = runs.start(
                    uuid.uuid4().hex, question, run, keyed=False, watched=streamed
                )
            else:
                answer = await runs.obtain(key, question, config, run)
        except KeyReused as exc:
            return _error(str(exc), 422)
        request.state.thread = answer.thread_id
        if streamed:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(_stream(answer, name, include_usage), media_type="text/event-stream")
        try:
            result = answer if isinstance(answer, PDRResult) else await answer.result()
        except ValueError as exc:
            return _error(str(exc).splitlines()[0], 400)
        except Exception as exc:  # the upstream failed past its retries
            return _error(
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", 502, "upstream_error"
            )
        return JSONResponse(
            {
                "id": f"chatcmpl-{result.thread_id}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": name,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": result.text},
                        "finish_reason": _finish(result),
                    }
                ],
                "usage": _usage(result),
                "pdr": metadata_of(result),
            }
        )

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", completions, methods=["POST"]),
        ],
        lifespan=lifespan,
        middleware=[Middleware(_AccessLog), *([Middleware(_BearerKey, key=api_key)] if api_key else [])],
    )


class _BearerKey:
    """ASGI middleware: an HTTP request without `Authorization: Bearer <key>` gets 401."""

    def __init__(self, app: Any, *, key: str) -> None:
        self.app, self.expected = app, f"Bearer {key}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                reply = _error(
                    "a valid API key is required: send the header Authorization: Bearer <key>",
                    401,
                )
                reply.headers["WWW-Authenticate"] = "Bearer"
                await reply(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _finish(result: PDRResult) -> str:
    return "stop" if result.stop_reason == "completed" else "length"


def _conversation(messages: Any) -> tuple[str, list[dict[str, str]], list[dict[str, Any]]]:
    """(question, earlier turns, the question's image parts) of a request's messages."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages: a non-empty list of chat messages is required")
    try:
        parsed = convert_to_messages(messages)
    except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
        raise RequestError(f"messages: {str(exc).splitlines()[0]}") from None
    try:
        question, history = split_messages(parsed)
        images = question_images(parsed)
        load_images(images)  # a bad image is a bad request
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    return (
        question,
        [
            {
                "role": {"system": "system", "human": "user", "ai": "assistant"}.get(m.type, "user"),
                "content": m.text,
            }
            for m in history
            if m.type in ("system", "human", "ai")
        ],
        images,
    )


def _chunk(cid: str, name: str, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    data = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": name,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _stream(answer: Live | PDRResult, name: str, include_usage: bool) -> AsyncIterator[str]:
    """The run's stream: every progress event from its first (a request that joins a run in progress
    gets them all too), then its answer; a finished run's answer at once."""
    cid = f"chatcmpl-{answer.thread_id}"  # as in a reply that is not streamed: the run's thread id
    yield _chunk(cid, name, {"role": "assistant", "content": ""})
    writing: tuple[int, int] | None = None  # the draft whose tokens were streamed last
    async for event in _events(answer):
        if event.get("event") == "draft_delta":  # a draft's tokens as they arrive, tagged by draft
            tag = (event["round"], event["index"])
            head = "" if tag == writing else f"\n[draft r{tag[0]}.{tag[1]}] "
            writing = tag
            yield _chunk(cid, name, {"reasoning_content": head + event["text"], "pdr_event": event})
            continue
        line = describe(event) if writing is None else "\n" + describe(event)
        writing = None
        yield _chunk(cid, name, {"reasoning_content": line, "pdr_event": event})
    try:
        result = answer if isinstance(answer, PDRResult) else await answer.result()
    except Exception as exc:
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        yield f"data: {json.dumps({'error': {'message': message, 'type': 'upstream_error'}})}\n\n"
        yield "data: [DONE]\n\n"
        return
    yield _chunk(cid, name, {"content": result.text})
    yield _chunk(cid, name, {}, _finish(result), pdr=metadata_of(result))
    if include_usage:
        usage = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": name,
            "choices": [],
            "usage": _usage(result),
        }
        yield f"data: {json.dumps(usage)}\n\n"
    yield "data: [DONE]\n\n"


async def _events(answer: Live | PDRResult) -> AsyncIterator[dict[str, Any]]:
    if isinstance(answer, Live):
        async for event in answer.follow():
            yield event


def serve(
    *,
    model: Any,
    base_url: str | None = None,
    db: str | None = None,
    timeout: float | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    slots: int = 4,
    on_ready: Any = None,
    allow_tools: Sequence[str] = (),
    api_key: str | None = None,
    recover_every: float | None = RECOVER_EVERY_S,
    reuse_port: bool = False,
    sock: socket.socket | None = None,
) -> None:
    """Serve `create_app(...)` with uvicorn until interrupted; `on_ready(base_url)` once it listens.
    With `reuse_port`, other workers of this host may listen on the same port (`SO_REUSEPORT`); given
    `sock`, a listening socket (e.g. one that workers share), it serves there instead of binding
    `host`:`port`."""
    app = create_app(
        model=model,
        base_url=base_url,
        db=db,
        timeout=timeout,
        slots=slots,
        allow_tools=allow_tools,
        api_key=api_key,
        recover_every=recover_every,
    )
    with nullcontext(sock) if sock is not None else listening(host, port, reuse_port=reuse_port) as bound:
        url = f"http://{host}:{bound.getsockname()[1]}/v1"
        run_app(app, bound, None if on_ready is None else lambda: on_ready(url))
