"""Model resolution: `init_chat_model` strings, OpenAI-compatible base URLs, or a ready model.

Each resolved model comes with a `ModelSpec` (id and base URL, never a key) so a resume can rebuild it.
Models are built with their own retries off: the graph's `RetryPolicy` owns retries.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import urllib.error
import urllib.request
import weakref
from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from langgraph_pdr.local_model import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_MODELS,
    check_fits,
    context_size,
    ensure_model,
    largest_call,
)
from langgraph_pdr.local_model.prompt_sharing import PromptSharing, sharing_enabled
from langgraph_pdr.local_model.run_defaults import LOCAL
from langgraph_pdr.local_model.run_defaults import is_local_model as is_local_model  # was defined here
from langgraph_pdr.local_model.shared_server import LlamaCppTokenCounter, shared_server
from langgraph_pdr.runtime.environment import use_model_builder
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.context import TokenCounter
from langgraph_pdr.state.spec import ModelSpec

#: Environment variables that hold each provider's key.
KEY_VARIABLES = {
    "openai": ("OPENAI_API_KEY",),
    "google_genai": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    "anthropic": ("ANTHROPIC_API_KEY",),
}


class ModelError(ValueError):
    """The model cannot be built: unknown provider, missing key, bad id.

    `run_pdr` and `arun_pdr` raise it before the run is stored, so a mistyped model string leaves no
    run behind; `resume_pdr` raises it when the stored model cannot be rebuilt (a missing key, or a
    run made with a model object: pass `model=`). A `ValueError`.

    Example:
        ```python
        from langgraph_pdr import ModelError, list_runs, run_pdr

        try:
            run_pdr("What is 17 * 23?", model="nosuchprovider:some-model", db="unused.sqlite")
        except ModelError as exc:
            error = str(exc)
        assert error.startswith("model: cannot build 'nosuchprovider:some-model'")
        assert list_runs("unused.sqlite") == []
        ```
    """


class ServerUnreachable(ConnectionError):
    """An OpenAI-compatible `base_url` that does not answer."""


def check_reachable(base_url: str, timeout: float = 5.0) -> None:
    """Fail fast, before a run is stored, when an OpenAI-compatible server does not answer at all
    (any HTTP answer, even an error status, counts as reachable)."""

    url = base_url.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerUnreachable(f"cannot reach the model server at {base_url}: {reason}") from None


@dataclass(frozen=True)
class ContextWindow:
    """What one call of a model may hold, where it is known: `tokens` of prompt and output together,
    and at most `output` of them written; `source` says where it was learned."""

    tokens: int
    source: str
    output: int | None = None


class ContextExceeded(ModelError):
    """A config whose calls the model's context window cannot hold (`max_tokens` or `kappa` too large):
    raised before the run is stored, so nothing is sent. A `ValueError`.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.models import ContextExceeded, ContextWindow, check_context

        window = ContextWindow(tokens=4096, source="the server's /v1/models")
        try:
            check_context(PDRConfig(max_tokens=10_000), window, "small-model", question_tokens=10)
        except ContextExceeded as exc:
            assert str(exc).startswith("max_tokens: 10,000 is larger than the 4,096-token context")
        ```
    """


#: Where an OpenAI-compatible server's `/v1/models` entry says how long a context its model takes:
#: llama.cpp (`meta.n_ctx_train`), vLLM (`max_model_len`), OpenRouter and LM Studio (`context_length`).
_SERVED_CONTEXT_FIELDS = (("meta", "n_ctx_train"), ("max_model_len",), ("context_length",))


def _served_entry(base_url: str, name: str, timeout: float) -> dict[str, Any] | None:
    """The `/models` entry of `name` at `base_url` (the only one, when the server names another);
    None when the server answers without one. Raises `ServerUnreachable` when it does not answer."""
    url = base_url.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            body = json.loads(reply.read() or b"null")
    except (urllib.error.HTTPError, json.JSONDecodeError, UnicodeDecodeError):
        return None  # it answers: reachable, and says nothing of its models
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerUnreachable(f"cannot reach the model server at {base_url}: {reason}") from None
    entries = [e for e in (body.get("data") if isinstance(body, dict) else None) or [] if isinstance(e, dict)]
    named = [e for e in entries if e.get("id") == name]
    return named[0] if named else (entries[0] if len(entries) == 1 else None)


def served_context(base_url: str, name: str, timeout: float = 5.0) -> ContextWindow | None:
    """The context window the OpenAI-compatible server at `base_url` reports for model `name` in its
    `/v1/models` (llama.cpp, vLLM, OpenRouter, LM Studio report one), or, for a llama.cpp server that
    does not, in its `/props` (`n_ctx`); None when it reports none.

    Raises:
        ServerUnreachable: the server does not answer at all.
    """
    entry = _served_entry(base_url, name, timeout)
    if entry is None:
        return None
    for path in _SERVED_CONTEXT_FIELDS:
        value: Any = entry
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int) and value > 0:
            return ContextWindow(value, f"{'.'.join(path)} in the server's /v1/models")
    if entry.get("owned_by") == "llamacpp":  # an older llama.cpp: its /props says
        root = base_url.rstrip("/").removesuffix("/v1")
        try:
            with urllib.request.urlopen(root + "/props", timeout=timeout) as reply:
                props = json.loads(reply.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None
        settings = props.get("default_generation_settings") if isinstance(props, dict) else None
        n_ctx = (settings or {}).get("n_ctx") if isinstance(settings, dict) else None
        if isinstance(n_ctx, int) and n_ctx > 0:
            return ContextWindow(n_ctx, "n_ctx in the server's /props")
    return None


def profile_context(model: BaseChatModel) -> ContextWindow | None:
    """The context window LangChain's model profile gives a model (`max_input_tokens`,
    `max_output_tokens`: langchain-openai, langchain-google-genai and others ship them), if any."""
    profile = getattr(model, "profile", None)
    if not isinstance(profile, dict):
        return None
    tokens, output = profile.get("max_input_tokens"), profile.get("max_output_tokens")
    if not isinstance(tokens, int) or tokens <= 0:
        return None
    return ContextWindow(tokens, "LangChain's model profile", output if isinstance(output, int) else None)


def _output_limits(config: PDRConfig) -> list[tuple[str, int]]:
    """The options that bound one call's output, each with its value for this config."""
    limits = [("max_tokens", config.max_tokens.draft), ("kappa", config.kappa)]
    if config.rounds > 1 and not config.windowed:
        limits.append(("max_tokens.refine", config.role_max_tokens("refine")))
    for role in ("verify", "distill", "critique"):
        value = getattr(config.max_tokens, role)
        if value is not None:
            limits.append((f"max_tokens.{role}", value))
    return limits


def check_context(
    config: PDRConfig, window: ContextWindow | None, name: str, *, question_tokens: int = 0
) -> None:
    """Refuse a config whose calls `window` (the model's context, None when unknown: nothing is
    checked) cannot hold: an output bound (`max_tokens`, `kappa`, a role's `max_tokens`) larger than
    the context or than what the model writes in one call, or a call whose worst case (its prompt, from
    `question_tokens`, and its output) is.

    Raises:
        ContextExceeded: one line naming the option, the context, and where it was learned.
    """
    if window is None:
        return
    where = f"{window.tokens:,}-token context of {name} ({window.source})"
    for option, value in _output_limits(config):
        if value > window.tokens:
            raise ContextExceeded(f"{option}: {value:,} is larger than the {where}; lower it")
        if window.output is not None and value > window.output:
            raise ContextExceeded(
                f"{option}: {value:,} is more than {name} writes in one call ({window.output:,} tokens, "
                f"{window.source}); lower it"
            )
    need = largest_call(config, question_tokens)
    if need > window.tokens:
        raise ContextExceeded(
            f"max_tokens/kappa: with this config one call needs up to {need:,} tokens (prompt and "
            f"output), more than the {where}; lower max_tokens or kappa"
        )


def spec_of(model: BaseChatModel) -> ModelSpec:
    """The spec of a ready model, when its class is one we know how to rebuild."""
    kind = type(model).__name__
    name = getattr(model, "model_name", None) or getattr(model, "model", None)
    if kind == "ChatOpenAI" and isinstance(name, str):
        base = getattr(model, "openai_api_base", None)
        return ModelSpec(id=f"openai:{name}", base_url=base)
    if kind == "ChatGoogleGenerativeAI" and isinstance(name, str):
        return ModelSpec(id=f"google_genai:{name.removeprefix('models/')}")
    return ModelSpec()


def _split(model_id: str) -> tuple[str | None, str]:
    if ":" in model_id:
        provider, name = model_id.split(":", 1)
        return provider, name
    return None, model_id


class _LoopClients:
    """The async HTTP clients of one event loop, closed when the loop shuts down.

    `asyncio.run` (and uvicorn) close every async generator of a loop before the loop itself
    (`loop.shutdown_asyncgens`); this one's, started with the first client, closes the clients as it
    ends. An aiohttp session left open would print "Unclosed client session" when collected.
    """

    def __init__(self) -> None:
        self.clients: dict[tuple[str, Any], Any] = {}
        self._closer = self._close_at_shutdown()
        try:  # its first step, here and now: the running loop's hook records it
            self._closer.asend(None).send(None)
        except StopIteration:
            pass

    async def _close_at_shutdown(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            for client in self.clients.values():
                await client.aclose()


#: One async HTTP client (and connection pool) per event loop and server: pooled connections belong
#: to the loop that opened them, and a client shared across loops (langchain-openai's default, one
#: per process) fails on the next `asyncio.run` with "Event loop is closed" once a server keeps its
#: connections alive.
_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = (
    weakref.WeakKeyDictionary()
)
_CLIENTS_LOCK = threading.Lock()


def _http_clients(base_url: str, timeout: Any) -> dict[str, Any]:
    """The async HTTP client of `base_url` for the running event loop (none outside one)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return {}
    with _CLIENTS_LOCK:
        loop_clients = _ASYNC_CLIENTS.get(loop)
        if loop_clients is None:
            loop_clients = _ASYNC_CLIENTS[loop] = _LoopClients()
        client = loop_clients.clients.get((base_url, timeout))
        if client is None:
            client = loop_clients.clients[(base_url, timeout)] = _async_http_client(timeout)
    return {"http_async_client": client}


def _async_http_client(timeout: Any) -> Any:
    """The OpenAI SDK's async HTTP client on aiohttp's transport (`openai[aiohttp]`, the SDK's advice
    for concurrency), or on httpx's own where the SDK lacks it. httpx's pool scans every connection it
    holds at each request: 64 concurrent runs in one process cost 28 ms of CPU each on it, 25 on aiohttp
    (`benchmarks/serve_load.py`: 5.5-5.6 against 5.8-6.2 ms per upstream call)."""
    import openai

    timeout = timeout if timeout is not None else openai.DEFAULT_TIMEOUT
    aiohttp_client = getattr(openai, "DefaultAioHttpClient", None)
    if aiohttp_client is not None:
        try:
            return aiohttp_client(timeout=timeout)
        except RuntimeError:  # the SDK installed without its aiohttp extra
            pass
    return openai.DefaultAsyncHttpxClient(timeout=timeout)


def _openai_compatible(name: str, base_url: str, **kwargs: Any) -> BaseChatModel:

    if "http_async_client" not in kwargs and "http_client" not in kwargs:
        kwargs.update(_http_clients(base_url, kwargs.get("timeout")))
    return ChatOpenAI(
        model=name,
        base_url=base_url,
        api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        use_responses_api=False,
        stream_usage=True,
        max_retries=0,
        **kwargs,
    )


def build_model(spec: ModelSpec, **kwargs: Any) -> BaseChatModel:
    """Build the model a spec names (keys from the environment)."""
    if spec.timeout is not None:
        kwargs.setdefault("timeout", spec.timeout)
    if not spec.id:
        raise ModelError("model: this run was made with a model object; pass model= to resume it")
    provider, name = _split(spec.id)
    if not name:
        raise ModelError(f"model: {spec.id!r} has no model name after the provider")
    if spec.base_url:
        if provider not in (None, "openai"):
            raise ModelError(
                f"model: --base-url serves OpenAI-compatible servers; {spec.id!r} names provider {provider!r}"
            )
        return _openai_compatible(name, spec.base_url, **kwargs)
    keys = KEY_VARIABLES.get(provider or "", ())
    if keys and not any(os.environ.get(v) for v in keys):
        raise ModelError(
            f"model: {spec.id!r} needs an API key in {' or '.join(keys)}; set it in the environment"
        )
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:  # pragma: no cover - langchain is a dependency
        raise ModelError("model: model strings need the 'langchain' package") from exc
    try:
        model: BaseChatModel = init_chat_model(spec.id, max_retries=0, **kwargs)
        return model
    except (ValueError, ImportError) as exc:
        raise ModelError(f"model: cannot build {spec.id!r}: {exc}".split("\n")[0]) from None
    except Exception as exc:  # provider SDKs raise their own types for missing settings
        detail = f"{type(exc).__name__}: {exc}".split("\n")[0]
        raise ModelError(f"model: cannot build {spec.id!r}: {detail}") from None


def _local_name(model_id: str) -> str | None:
    """`local` → the default local model; `local:NAME` or `local:/path/model.gguf` → that one."""
    if model_id == LOCAL:
        return DEFAULT_LOCAL_MODEL
    if model_id.startswith(LOCAL + ":"):
        return model_id.split(":", 1)[1] or None
    return None


def model_spec(model: str, *, base_url: str | None = None, timeout: float | None = None) -> ModelSpec:
    """The spec of a model string (`local[:NAME|PATH]`, `provider:name`, or a name at `base_url`)."""
    model = model.strip()
    if timeout is not None and not timeout > 0:
        raise ModelError(f"timeout: must be a positive number of seconds, got {timeout}")
    local = _local_name(model)
    if local is not None:
        if base_url:
            raise ModelError("base_url: does not apply to the embedded local model")
        return ModelSpec(id=f"{LOCAL}:{local}", local_model=local, timeout=timeout)
    return ModelSpec(id=model, base_url=base_url, timeout=timeout)


@dataclass
class OpenModel:
    """A live model, the spec that rebuilds it, and the exact token counter it offers (if any)."""

    model: BaseChatModel
    spec: ModelSpec
    token_counter: TokenCounter | None = None
    context: ContextWindow | None = None  # what one call may hold, where it is known


@contextmanager
def open_model(
    model: BaseChatModel | str | ModelSpec | OpenModel | None,
    *,
    base_url: str | None = None,
    config: PDRConfig | Sequence[PDRConfig] | None = None,
    progress: bool = False,
    runs: int = 1,
    timeout: float | None = None,
    question_tokens: int | None = None,
) -> Iterator[OpenModel]:
    """A model ready for a run; the embedded local model is served for the duration of the block.

    `model` is a chat model, a model string (`local` is the embedded default), a stored `ModelSpec`,
    or an `OpenModel` already open (returned as is, so many runs can share one served model).
    The local model is served by the machine's shared server of that model (started if none runs;
    see `langgraph_pdr.local_model.shared_server`), asked for one slot per draft of the widest round and
    a context sized from `config` (the largest of several configs), times `runs` for runs made at the
    same time.
    `timeout` (seconds per call) applies to models built here, and overrides a stored spec's.
    `question_tokens` (the longest question, estimated) sizes the local context; a question it cannot
    hold is an error.
    A `base_url` that does not answer raises `ServerUnreachable` before anything else happens.
    """
    if isinstance(model, OpenModel):
        yield model
        return
    if isinstance(model, BaseChatModel):
        if timeout is not None:
            raise ModelError("timeout: applies to model strings; set the timeout on your model object")
        live, spec = resolve_model(model, base_url=base_url)
        yield OpenModel(live, spec, context=profile_context(live))
        return
    if model is None:
        raise ModelError("model: give a model string ('local', 'openai:gpt-4.1-mini', ...) or a chat model")
    if isinstance(model, ModelSpec):
        spec = model if timeout is None else model.model_copy(update={"timeout": timeout})
    elif isinstance(model, str) and model.strip():
        spec = model_spec(model, base_url=base_url, timeout=timeout)
    else:
        raise ModelError(
            f"model: expected a model string or a langchain BaseChatModel, got {type(model).__name__}"
        )
    if not spec.local_model:
        if spec.base_url:  # the server's report, never a profile of another model of that name
            context = served_context(spec.base_url, _split(spec.id or "")[1])
            yield OpenModel(build_model(spec), spec, context=context)
            return
        live = build_model(spec)
        yield OpenModel(live, spec, context=profile_context(live))
        return

    configs = [config] if isinstance(config, PDRConfig) else list(config or [PDRConfig()])
    for c in configs:
        check_fits(spec.local_model, c, question_tokens or 0)
    path = ensure_model(spec.local_model, progress=progress)
    sizes = [context_size(c, question_tokens or 512) for c in configs]
    slots = max(s for s, _ in sizes) * runs
    n_ctx = min(max(n for _, n in sizes) * runs, 262_144)
    alias = path.stem
    with shared_server(path, alias=alias, n_parallel=slots, n_ctx=n_ctx) as server:
        timeout = spec.timeout or 600
        clients: dict[str, Any] = {}
        if server.slot_dir is not None and sharing_enabled():  # a round's drafts read their prompt once
            clients = PromptSharing(server.base_url, slot_dir=server.slot_dir, timeout=timeout).clients()
        live = _openai_compatible(alias, server.base_url, timeout=timeout, **clients)
        known = LOCAL_MODELS.get(spec.local_model)
        context = (
            ContextWindow(known.context, "the local model's trained context")
            if known is not None
            else served_context(server.base_url, alias)
        )
        yield OpenModel(live, spec, LlamaCppTokenCounter(server.base_url), context)


def resolve_model(
    model: BaseChatModel | str | None, *, base_url: str | None = None
) -> tuple[BaseChatModel, ModelSpec]:
    """A live model and its spec, from a model object or an id string (with an optional base URL)."""
    if isinstance(model, BaseChatModel):
        if base_url:
            raise ModelError("base_url: only applies to a model string, not to a model object")
        return model, spec_of(model)
    if isinstance(model, str) and model.strip():
        spec = model_spec(model, base_url=base_url)
        if spec.local_model:
            raise ModelError("model: the local model needs open_model(), which serves it")
        return build_model(spec), spec
    if model is None:
        raise ModelError("model: give a model string (e.g. 'openai:gpt-4.1-mini') or a chat model")
    raise ModelError(
        f"model: expected a model string or a langchain BaseChatModel, got {type(model).__name__}"
    )


def served_model(model: str, base_url: str | None, timeout: float | None) -> BaseChatModel:
    """The model a JSON context names (`langgraph dev`, LangGraph Server): built per process and cached.

    Raises:
        ModelError: the local model (serve it with `pdr serve-model` and pass its name and base_url), or
            a model that cannot be built.
    """
    spec = model_spec(model, base_url=base_url, timeout=timeout)
    if spec.local_model:
        raise ModelError(
            "context: the local model cannot be built per call; serve it with "
            "`pdr serve-model` and pass its name and base_url"
        )
    return build_model(spec)


use_model_builder(served_model)
