"""What each model call tells tracers: a run name, tags and metadata that group well in LangSmith.

Every call is named like `draft r2.3` (role, round, index), tagged `pdr:<role>` and `pdr:r<round>`, and
carries the metadata `pdr_round`, `pdr_role`, `pdr_index`, `pdr_stage`, `thread_id`, `pdr_method`,
`pdr_distiller`, plus `ls_provider` and `ls_model_name` where they can be derived from the model
(LangChain's own values, when the model reports them, take precedence).
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from langgraph_pdr.state.config import FAMILIES, PDRConfig

#: `ls_provider` of the chat model classes whose provider name is not their class name.
PROVIDERS = {
    "AzureChatOpenAI": "azure",
    "BaseChatOpenAI": "openai",
    "ChatOpenAI": "openai",
    "ChatGoogleGenerativeAI": "google_genai",
    "ChatVertexAI": "google_vertexai",
    "ChatAnthropic": "anthropic",
    "ChatMistralAI": "mistralai",
    "ChatOllama": "ollama",
    "ChatGroq": "groq",
    "ChatFireworks": "fireworks",
    "ChatTogether": "together",
    "ChatBedrock": "bedrock",
    "ChatBedrockConverse": "bedrock_converse",
}

#: Attributes that name the model, in the order they are looked up.
MODEL_ATTRS = ("model_name", "model", "model_id", "deployment_name", "repo_id")


def run_name(*, role: str, round: int, index: int) -> str:
    """The name a call's run gets in a trace.

    Example:
        ```python
        from langgraph_pdr.calls.tracing import run_name

        assert run_name(role="draft", round=2, index=3) == "draft r2.3"
        ```
    """
    return f"{role} r{round}.{index}"


def distiller_name(config: PDRConfig) -> str | None:
    """The distiller that builds the workspaces of `config`'s runs (None: a method without one).

    Example:
        ```python
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.calls.tracing import distiller_name

        assert distiller_name(PDRConfig(method="sr")) == "previous_solution"
        assert distiller_name(PDRConfig(method="single")) is None
        ```
    """
    return {"pdr": config.distiller, "sr": "previous_solution"}.get(FAMILIES[config.method])


def run_metadata(*, thread_id: str, config: PDRConfig) -> dict[str, Any]:
    """What every call of a run carries whatever its role: the thread, the method and the distiller.

    Example:
        ```python
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.calls.tracing import run_metadata

        meta = run_metadata(thread_id="t", config=PDRConfig(distiller="shared_top_k"))
        assert meta == {"thread_id": "t", "pdr_method": "pdr", "pdr_distiller": "shared_top_k"}
        ```
    """
    return {"thread_id": thread_id, "pdr_method": config.method, "pdr_distiller": distiller_name(config)}


def model_metadata(model: Any) -> dict[str, str]:
    """`ls_provider` and `ls_model_name` of `model`, where they can be derived from it.

    Example:
        ```python
        from langgraph_pdr.calls.tracing import model_metadata

        class ChatExample:
            model_name = "example-1"

        assert model_metadata(ChatExample()) == {"ls_provider": "example", "ls_model_name": "example-1"}
        ```
    """
    out: dict[str, str] = {}
    mro = [c.__name__ for c in type(model).__mro__]
    provider = next((PROVIDERS[name] for name in mro if name in PROVIDERS), None)
    if provider is None:
        name = type(model).__name__
        provider = name[4:] if name.startswith("Chat") else name.removesuffix("Chat")
    if provider:
        out["ls_provider"] = provider.lower()
    for attr in MODEL_ATTRS:
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            out["ls_model_name"] = value
            break
    return out


def call_run_config(
    fields: dict[str, Any], *, model: Any = None, trace: dict[str, Any] | None = None
) -> RunnableConfig:
    """The `RunnableConfig` of one call: its run name, tags and metadata.

    Args:
        fields: the call's `role`, `round`, `index` and `stage` (as `call_fields` gives them).
        model: the chat model, for `ls_provider` and `ls_model_name`.
        trace: the run's metadata (`run_metadata`).

    Example:
        ```python
        from langgraph_pdr.calls.tracing import call_run_config

        cfg = call_run_config({"role": "verify", "round": 1, "index": 0, "stage": "r1.verify"})
        assert cfg["run_name"] == "verify r1.0" and cfg["tags"] == ["pdr:verify", "pdr:r1"]
        assert cfg["metadata"]["pdr_role"] == "verify" and cfg["metadata"]["pdr_index"] == 0
        ```
    """
    role, round, index = fields.get("role"), fields.get("round"), fields.get("index")
    metadata: dict[str, Any] = {
        **(model_metadata(model) if model is not None else {}),
        **(trace or {}),
        "pdr_role": role,
        "pdr_round": round,
        "pdr_index": index,
        "pdr_stage": fields.get("stage"),
    }
    return RunnableConfig(
        run_name=run_name(role=str(role), round=int(round or 0), index=int(index or 0)),
        tags=[f"pdr:{role}", f"pdr:r{round}"],
        metadata=metadata,
    )
