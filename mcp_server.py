"""Moved to `langgraph_pdr.integrations.mcp_endpoint`; this module keeps the old import path working."""

from langgraph_pdr.integrations.mcp_endpoint import (
    EARLY_STOP_OFF,
    RUN_OPTIONS,
    TRANSPORTS,
    Solved,
    Transport,
    create_mcp_server,
    serve_mcp,
)

__all__ = [
    "EARLY_STOP_OFF",
    "RUN_OPTIONS",
    "Solved",
    "TRANSPORTS",
    "Transport",
    "create_mcp_server",
    "serve_mcp",
]
