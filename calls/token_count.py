"""Token counting: a declared approximation, prompt bounds for reservations, and cutting text to fit."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from langgraph_pdr.state.context import TokenCounter
from langgraph_pdr.state.image_ref import IMAGE_TOKENS

#: Tokens a chat template may add around each message, and once per prompt, beyond its text.
TEMPLATE_TOKENS_PER_MESSAGE = 8
TEMPLATE_TOKENS_PER_PROMPT = 32

CUT_MARK = "\n[...]\n"


@dataclass(frozen=True)
class Utf8TokenCounter:
    """A declared approximation: one token per `bytes_per_token` UTF-8 bytes, rounded up.

    Byte-level BPE tokenizers average 3-4.5 bytes per token on English and math, so with the default of
    3 a text counted as n tokens is usually at most n real tokens. Use an exact counter (the model
    server's tokenizer) where exact bounds matter.

    It is the `TokenCounter` a run uses when none is given and the model offers no tokenizer; its
    `name` (stored as each workspace's `counted_by`) records the ratio.

    Example:
        ```python
        from langgraph_pdr import TokenCounter, Utf8TokenCounter

        counter = Utf8TokenCounter()
        assert counter.count("17 * 23 = 391") == 5  # 13 bytes / 3, rounded up
        assert counter.count("café") == 2  # "é" is 2 bytes in UTF-8
        assert Utf8TokenCounter(bytes_per_token=4).name == "approx:utf8_bytes/4"
        assert isinstance(counter, TokenCounter) and not counter.exact
        ```
    """

    bytes_per_token: float = 3.0
    exact: bool = False

    @property
    def name(self) -> str:
        return f"approx:utf8_bytes/{self.bytes_per_token:g}"

    def count(self, text: str) -> int:
        return math.ceil(len(text.encode("utf-8")) / self.bytes_per_token)


DEFAULT_COUNTER = Utf8TokenCounter()


def message_text(message: BaseMessage) -> str:
    """The text of a message, whatever the shape of its content."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


def prompt_bound(messages: Sequence[BaseMessage], counter: TokenCounter) -> int:
    """An upper bound on the input tokens a provider will bill for `messages`.

    With an exact counter, its count; otherwise UTF-8 bytes, which no byte-level or byte-fallback
    tokenizer exceeds. Both add a margin for the chat template, and `IMAGE_TOKENS` per image.
    """
    total = TEMPLATE_TOKENS_PER_PROMPT
    for m in messages:
        text = message_text(m)
        total += counter.count(text) if counter.exact else len(text.encode("utf-8"))
        total += TEMPLATE_TOKENS_PER_MESSAGE + IMAGE_TOKENS * image_count(m)
    return total


def image_count(message: BaseMessage) -> int:
    """How many images a message carries (content blocks of type `image` or `image_url`)."""
    content = message.content
    if isinstance(content, str):
        return 0
    return sum(1 for b in content if isinstance(b, dict) and b.get("type") in ("image", "image_url"))


_BOXED_LINE = re.compile(r"[^\n]*\\boxed\s*\{")


def _hard_cut(text: str, limit: int, counter: TokenCounter, *, keep_end: bool) -> str:
    """The longest prefix (or suffix) of `text` that counts at most `limit` tokens."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        piece = text[len(text) - mid :] if keep_end else text[:mid]
        if counter.count(piece) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[len(text) - lo :] if keep_end else text[:lo]


def cut_to_tokens(text: str, limit: int, counter: TokenCounter) -> str:
    """Cut `text` to at most `limit` tokens, keeping its start and its final answer.

    The tail from the last line holding `\\boxed{` (or the last fifth of the text) is kept whole when
    it fits; the middle is replaced by `[...]`.
    """
    if limit <= 0:
        return ""
    if counter.count(text) <= limit:
        return text
    starts = [m.start() for m in _BOXED_LINE.finditer(text)]
    tail_start = starts[-1] if starts else len(text) - len(text) // 5
    tail = text[tail_start:]
    if counter.count(CUT_MARK.lstrip("\n") + tail) > limit:
        tail = _hard_cut(tail, max(limit - counter.count(CUT_MARK), 0), counter, keep_end=True)
        if not tail:
            return _hard_cut(text, limit, counter, keep_end=False)
    head_budget_text = text[:tail_start]
    lo, hi = 0, len(head_budget_text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if counter.count(head_budget_text[:mid] + CUT_MARK + tail) <= limit:
            lo = mid
        else:
            hi = mid - 1
    out = (head_budget_text[:lo] + CUT_MARK + tail) if lo else (CUT_MARK.lstrip("\n") + tail)
    if counter.count(out) > limit:  # a counter that is not monotone in length
        out = _hard_cut(out, limit, counter, keep_end=True)
    return out
