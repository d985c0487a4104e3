"""Moved to `langgraph_pdr.integrations.langchain_chat`; this module keeps the old import path working."""

from langgraph_pdr.integrations.langchain_chat import (
    PDRChatModel,
    metadata_of,
    question_images,
    split_messages,
    usage_of,
)

__all__ = [
    "PDRChatModel",
    "metadata_of",
    "question_images",
    "split_messages",
    "usage_of",
]
