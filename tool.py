"""Moved to `langgraph_pdr.integrations.langchain_tool`; this module keeps the old import path working."""

from langgraph_pdr.integrations.langchain_tool import (
    DESCRIPTION,
    PDRToolInput,
    create_pdr_tool,
)

__all__ = [
    "DESCRIPTION",
    "PDRToolInput",
    "create_pdr_tool",
]
