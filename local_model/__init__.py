"""The embedded local model: its weights from registry packages (`model_files`), its defaults for a run
and the one function every way in applies them with (`run_defaults`), the one llama.cpp server per
machine and model every process shares (`shared_server`, its process `llama_child`), and prompt sharing
between runs on it (`prompt_sharing`)."""

from langgraph_pdr.local_model.model_files import (
    CACHE_ENV,
    DEFAULT_LOCAL_MODEL,
    LOCAL_MODELS,
    LocalModel,
    LocalModelError,
    cache_dir,
    check_fits,
    context_size,
    ensure_model,
    largest_call,
)
from langgraph_pdr.local_model.run_defaults import (
    LOCAL,
    LOCAL_DEFAULTS,
    LOCAL_PDR_DEFAULTS,
    LOCAL_TOOL_FORMAT,
    PDR_OPTIONS,
    is_local_model,
    local_defaults,
    resolve_run_config,
)

__all__ = [
    "CACHE_ENV",
    "DEFAULT_LOCAL_MODEL",
    "LOCAL",
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
    "is_local_model",
    "largest_call",
    "local_defaults",
    "resolve_run_config",
]
