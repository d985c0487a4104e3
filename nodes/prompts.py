"""Moved to `langgraph_pdr.prompting.prompt_catalog`; this module keeps the old import path working."""

from langgraph_pdr.prompting.prompt_catalog import (
    CARD,
    CARD_INSTRUCTION,
    CHECK_PLACEHOLDERS,
    CLASSIC,
    DEFAULT_PROMPTS,
    PLACEHOLDERS,
    SELECTOR_PLACEHOLDERS,
    TOOL_PLACEHOLDERS,
    PromptSet,
    check_template,
    get_prompts,
    judge_template,
    register_prompts,
    tool_template,
)

__all__ = [
    "CARD",
    "CARD_INSTRUCTION",
    "CHECK_PLACEHOLDERS",
    "CLASSIC",
    "DEFAULT_PROMPTS",
    "PLACEHOLDERS",
    "PromptSet",
    "SELECTOR_PLACEHOLDERS",
    "TOOL_PLACEHOLDERS",
    "check_template",
    "get_prompts",
    "judge_template",
    "register_prompts",
    "tool_template",
]
