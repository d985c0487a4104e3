"""Moved to `langgraph_pdr.calls.token_count`; this module keeps the old import path working."""

from langgraph_pdr.calls.token_count import (
    CUT_MARK,
    DEFAULT_COUNTER,
    TEMPLATE_TOKENS_PER_MESSAGE,
    TEMPLATE_TOKENS_PER_PROMPT,
    Utf8TokenCounter,
    cut_to_tokens,
    image_count,
    message_text,
    prompt_bound,
)

__all__ = [
    "CUT_MARK",
    "DEFAULT_COUNTER",
    "TEMPLATE_TOKENS_PER_MESSAGE",
    "TEMPLATE_TOKENS_PER_PROMPT",
    "Utf8TokenCounter",
    "cut_to_tokens",
    "image_count",
    "message_text",
    "prompt_bound",
]
