"""Moved to `langgraph_pdr.tooling.toolbox`; this module keeps the old import path working."""

from langgraph_pdr.tooling.toolbox import (
    ALLOW_TOOLS_ENV,
    FENCE_STOP,
    TOOL_RESULT_TOKENS,
    ToolSet,
    allowed_tools,
    check_allowed,
    fenced_code,
    register_tool,
    run_tool_call,
    tool_set,
)

__all__ = [
    "ALLOW_TOOLS_ENV",
    "FENCE_STOP",
    "TOOL_RESULT_TOKENS",
    "ToolSet",
    "allowed_tools",
    "check_allowed",
    "fenced_code",
    "register_tool",
    "run_tool_call",
    "tool_set",
]
