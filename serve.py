"""Moved to `langgraph_pdr.integrations.openai_endpoint`; this module keeps the old import path working."""

from langgraph_pdr.integrations.openai_endpoint import (
    PRESETS,
    RUN_FIELDS,
    RequestError,
    config_for,
    create_app,
    describe,
    run_fields,
    serve,
)

__all__ = [
    "PRESETS",
    "RUN_FIELDS",
    "RequestError",
    "config_for",
    "create_app",
    "describe",
    "run_fields",
    "serve",
]
