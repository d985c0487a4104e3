"""The embedded model's defaults for a run, and the one place every way of starting a run applies them.

`run_pdr` / `arun_pdr`, `pdr run`, `pdr serve`, `pdr mcp`, `PDRChatModel` and `create_pdr_tool` all
turn what they were given into a run's `PDRConfig` with `resolve_run_config`: on the embedded local model
(`is_local_model`), a config given as None or as fields gets the model's defaults where it names none
(`local_defaults`); a `PDRConfig` is taken as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph_pdr.state.config import PDRConfig

#: The model argument that names the embedded local model (`local`, `local:NAME`, `local:/path.gguf`).
LOCAL = "local"

#: The embedded model's defaults for a run that names neither a method nor an option of PDR's own
#: (`PDR_OPTIONS`): self-consistency in windows, four drafts and four more unless three of the
#: first four agree, the answer their vote. On both evaluation slices it reached the answers of a vote
#: of 8 at less B_total, and beat PDR 4,4 on paired problems (3 won, 0 lost over 64): this model's
#: refine drafts copy the answer their workspace leads with (README, "Why these defaults").
LOCAL_DEFAULTS: dict[str, Any] = {"method": "self_consistency", "schedule": (4, 4), "early_stop": 0.75}
#: Options that make a run that names no method a PDR run (`--schedule 4,2,1`, `--distiller ...`).
PDR_OPTIONS = ("schedule", "distiller", "k", "kappa", "selector")
#: The defaults of a PDR run on the embedded model, field by field where the run names none: its
#: refine round gains nothing over a vote of its drafts when they agree, so the run stops when they
#: do; a global summary written by a 1.5B model misleads more than it helps.
LOCAL_PDR_DEFAULTS: dict[str, Any] = {"schedule": (4, 4), "distiller": "majority_k", "early_stop": 1.0}
#: How drafts call tools on the embedded model unless a run says otherwise: offered the python tool
#: natively, Qwen2.5-Coder-1.5B never returned a tool call (0 of 8 requests), so it writes code blocks.
LOCAL_TOOL_FORMAT = "fenced"


def local_defaults(fields: dict[str, Any]) -> dict[str, Any]:
    """`PDRConfig` fields of a run on the embedded model, with its defaults where the run names none:
    `LOCAL_DEFAULTS` (self-consistency in windows 4,4, `early_stop` 0.75) for a run that names no method
    and no option of PDR's own; for PDR, `LOCAL_PDR_DEFAULTS` field by field; with tools,
    `LOCAL_TOOL_FORMAT`.

    Example:
        ```python
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.local_model.run_defaults import local_defaults

        config = PDRConfig.model_validate(local_defaults({}))
        assert (config.method, config.schedule, config.early_stop) == ("self_consistency", (4, 4), 0.75)
        pdr = PDRConfig.model_validate(local_defaults({"method": "pdr"}))
        assert (pdr.schedule, pdr.distiller, pdr.early_stop) == ((4, 4), "majority_k", 1.0)
        assert local_defaults({"schedule": "4,2,1"})["distiller"] == "majority_k"  # a PDR option: PDR
        assert local_defaults({"early_stop": None})["early_stop"] is None  # what a run names stays
        assert local_defaults({"method": "single"}) == {"method": "single"}
        assert local_defaults({"tools": "python"})["tool_format"] == "fenced"
        ```
    """
    out = dict(fields)
    defaults: dict[str, Any] = {}
    if "method" not in out and not any(name in out for name in PDR_OPTIONS):
        defaults = LOCAL_DEFAULTS
    elif out.get("method", "pdr") == "pdr":
        defaults = LOCAL_PDR_DEFAULTS
    for name, value in defaults.items():
        out.setdefault(name, value)
    if out.get("tools") and "tool_format" not in out:
        out["tool_format"] = LOCAL_TOOL_FORMAT
    return out


def is_local_model(model: Any, base_url: str | None = None) -> bool:
    """Whether a model argument is the embedded local model: a string naming it (`local`,
    `local:NAME`), not a model served at `base_url`, or a model `open_model` opened from one.

    Example:
        ```python
        from langgraph_pdr.models import is_local_model

        assert is_local_model("local") and is_local_model("local:qwen2.5-coder-0.5b")
        assert not is_local_model("openai:gpt-4.1-mini") and not is_local_model("local", "http://h/v1")
        ```
    """
    if base_url:
        return False
    if not isinstance(model, str):  # an opened model (`OpenModel`) knows what it was opened from
        return bool(getattr(getattr(model, "spec", None), "local_model", None))
    name = model.strip()
    return name == LOCAL or name.startswith(LOCAL + ":")


def resolve_run_config(config: PDRConfig | Mapping[str, Any] | None, *, local: bool) -> PDRConfig:
    """The `PDRConfig` a run uses: a `PDRConfig` as it is; None or a mapping of its fields validated,
    on the embedded local model (`local`, see `is_local_model`) with that model's defaults where the
    fields name none (`local_defaults`). Every way of starting a run calls it.

    Raises:
        TypeError: `config` is neither a `PDRConfig`, a mapping nor None.
        pydantic.ValidationError: a bad field (a `ValueError`).

    Example:
        ```python
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.local_model import resolve_run_config

        assert resolve_run_config(None, local=True).method == "self_consistency"
        assert resolve_run_config({"k": 1}, local=True).distiller == "majority_k"  # a PDR option: PDR
        assert resolve_run_config(None, local=False) == PDRConfig()
        assert resolve_run_config(PDRConfig(), local=True) == PDRConfig()  # taken as it is
        ```
    """
    if config is None:
        config = {}
    if isinstance(config, PDRConfig):
        return config
    if isinstance(config, Mapping):
        fields = dict(config)
        return PDRConfig.model_validate(local_defaults(fields) if local else fields)
    raise TypeError(f"config: expected a PDRConfig or a dict, got {type(config).__name__}")
