"""Model resolution: `init_chat_model` strings, OpenAI-compatible base URLs, or a ready model.

Each resolved model comes with a `ModelSpec` (id and base URL, never a key) so a resume can rebuild it.
Models are built with their own retries off: the graph's `RetryPolicy` owns retries.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import BaseChatModel

from langgraph_pdr.state.spec import ModelSpec

#: Environment variables that hold each provider's key.
KEY_VARIABLES = {
    "openai": ("OPENAI_API_KEY",),
    "google_genai": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    "anthropic": ("ANTHROPIC_API_KEY",),
}


class ModelError(ValueError):
    """The model cannot be built: unknown provider, missing key, bad id."""


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


def _openai_compatible(name: str, base_url: str, **kwargs: Any) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

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
    if not spec.id:
        raise ModelError("model: this run was made with a model object; pass model= to resume it")
    provider, name = _split(spec.id)
    if not name:
        raise ModelError(f"model: {spec.id!r} has no model name after the provider")
    if spec.base_url:
        if provider not in (None, "openai"):
            raise ModelError(
                f"model: --base-url serves OpenAI-compatible servers; {spec.id!r} names provider "
                f"{provider!r}"
            )
        return _openai_compatible(name, spec.base_url, **kwargs)
    for var_list in [KEY_VARIABLES.get(provider or "", ())]:
        if var_list and not any(os.environ.get(v) for v in var_list):
            raise ModelError(
                f"model: {spec.id!r} needs an API key in {' or '.join(var_list)}; set it in the "
                "environment"
            )
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:  # pragma: no cover - langchain is a dependency
        raise ModelError("model: model strings need the 'langchain' package") from exc
    try:
        return init_chat_model(spec.id, max_retries=0, **kwargs)
    except (ValueError, ImportError) as exc:
        raise ModelError(f"model: cannot build {spec.id!r}: {exc}".split("\n")[0]) from None
    except Exception as exc:  # provider SDKs raise their own types for missing settings
        raise ModelError(f"model: cannot build {spec.id!r}: {type(exc).__name__}: {exc}".split("\n")[0]) from None


def resolve_model(
    model: BaseChatModel | str | None, *, base_url: str | None = None
) -> tuple[BaseChatModel, ModelSpec]:
    """A live model and its spec, from a model object or an id string (with an optional base URL)."""
    if isinstance(model, BaseChatModel):
        if base_url:
            raise ModelError("base_url: only applies to a model string, not to a model object")
        return model, spec_of(model)
    if isinstance(model, str) and model.strip():
        spec = ModelSpec(id=model.strip(), base_url=base_url)
        return build_model(spec), spec
    if model is None:
        raise ModelError("model: give a model string (e.g. 'openai:gpt-4.1-mini') or a chat model")
    raise ModelError(
        f"model: expected a model string or a langchain BaseChatModel, got {type(model).__name__}"
    )
