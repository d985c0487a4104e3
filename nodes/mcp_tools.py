"""Moved to `langgraph_pdr.tooling.mcp_client`; this module keeps the old import path working."""

from langgraph_pdr.tooling.mcp_client import (
    MCP_MISSING,
    load_mcp_tools,
    mcp_connections,
)

__all__ = [
    "MCP_MISSING",
    "load_mcp_tools",
    "mcp_connections",
]
