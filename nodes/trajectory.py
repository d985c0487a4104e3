"""Moved to `langgraph_pdr.tooling.transcript`; this module keeps the old import path working."""

from langgraph_pdr.tooling.transcript import (
    draft_body,
    tool_step,
    used_tools,
)

__all__ = [
    "draft_body",
    "tool_step",
    "used_tools",
]
