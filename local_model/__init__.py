"""The embedded local model: its weights from registry packages (`model_files`), the one llama.cpp
server per machine and model every process shares (`shared_server`, its process `llama_child`), and
prompt sharing between runs on it (`prompt_sharing`)."""

from langgraph_pdr.local_model.model_files import (
    CACHE_ENV,
    DEFAULT_LOCAL_MODEL,
    LOCAL_DEFAULTS,
    LOCAL_MODELS,
    LOCAL_PDR_DEFAULTS,
    LOCAL_TOOL_FORMAT,
    PDR_OPTIONS,
    LocalModel,
    LocalModelError,
    cache_dir,
    check_fits,
    context_size,
    ensure_model,
    largest_call,
    local_defaults,
)

__all__ = [
    "CACHE_ENV",
    "DEFAULT_LOCAL_MODEL",
    "LOCAL_DEFAULTS",
    "LOCAL_MODELS",
    "LOCAL_PDR_DEFAULTS",
    "LOCAL_TOOL_FORMAT",
    "PDR_OPTIONS",
    "LocalModel",
    "LocalModelError",
    "cache_dir",
    "check_fits",
    "context_size",
    "ensure_model",
    "largest_call",
    "local_defaults",
]
