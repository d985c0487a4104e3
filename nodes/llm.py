"""One model call: provider options, timing, and the call record built from the provider's usage."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from langgraph_pdr.nodes.tokens import message_text
from langgraph_pdr.state.context import TokenCounter
from langgraph_pdr.state.records import CallRecord


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


def _run_config(fields: dict[str, Any]) -> dict[str, Any]:
    """Tags and metadata on each call, so callbacks and `messages` streams can tell calls apart."""
    role = fields.get("role")
    return {
        "tags": [f"pdr:{role}"],
        "metadata": {"pdr_role": role, "pdr_round": fields.get("round"), "pdr_index": fields.get("index")},
    }


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
        inp = sum(counter.count(message_text(m)) for m in messages)
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


def call_model(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    *,
    options: dict[str, Any],
    counter: TokenCounter,
    **fields: Any,
) -> tuple[str, CallRecord]:
    """Invoke `model` once; return its text and the call record (`fields`: role, round, index, stage)."""
    started = time.monotonic()
    reply = model.invoke(list(messages), _run_config(fields), **options)
    return _record(reply, messages, counter=counter, started=started, model=model, **fields)


async def acall_model(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    *,
    options: dict[str, Any],
    counter: TokenCounter,
    **fields: Any,
) -> tuple[str, CallRecord]:
    """Async twin of `call_model`."""
    started = time.monotonic()
    reply = await model.ainvoke(list(messages), _run_config(fields), **options)
    return _record(reply, messages, counter=counter, started=started, model=model, **fields)
