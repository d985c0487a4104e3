"""Images in prompts: the process-wide store of a run's image bytes, and the content blocks every call
that reads the question gets.

State and `Send` payloads hold `ImageRef`s (sha256, type, size), never bytes: a checkpoint stays small
and an image is stored once per run, in the ledger. The runner puts a run's images into `IMAGES` (read
back from the ledger on resume); a server's JSON input may carry the bytes in its refs instead.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import HumanMessage

from langgraph_pdr.state.image_ref import ImageRef


class ImageUnavailable(ValueError):
    """A call needs an image whose bytes this process does not have."""


class ImageStore:
    """Image bytes (base64) by sha256, shared by the runs of this process that use them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, list[Any]] = {}  # sha256 -> [base64, users]

    def hold(self, refs: Sequence[tuple[ImageRef, bytes | None]]) -> None:
        """Keep these images' bytes until `release` is called for them as often."""
        with self._lock:
            for ref, data in refs:
                if data is None:
                    continue
                item = self._items.setdefault(ref.sha256, [base64.b64encode(data).decode(), 0])
                item[1] += 1

    def release(self, refs: Sequence[tuple[ImageRef, bytes | None]]) -> None:
        with self._lock:
            for ref, data in refs:
                item = self._items.get(ref.sha256)
                if data is None or item is None:
                    continue
                item[1] -= 1
                if item[1] <= 0:
                    del self._items[ref.sha256]

    def base64(self, ref: ImageRef) -> str:
        """The image's bytes, base64-encoded."""
        if ref.data is not None:
            return ref.data
        with self._lock:
            item = self._items.get(ref.sha256)
        if item is None:
            raise ImageUnavailable(
                f"images: the bytes of image {ref.sha256[:12]} are not in this process (run it through "
                "run_pdr, or give the image's data in the input)"
            )
        return str(item[0])


#: The image bytes of the runs of this process.
IMAGES = ImageStore()


def image_blocks(refs: Sequence[ImageRef]) -> list[dict[str, Any]]:
    """LangChain's standard image content blocks (each provider's integration converts them)."""
    blocks: list[dict[str, Any]] = []
    for ref in refs:
        if ref.url is not None:
            blocks.append({"type": "image", "url": ref.url})
        else:
            blocks.append({"type": "image", "base64": IMAGES.base64(ref), "mime_type": ref.mime})
    return blocks


def question_message(text: str, images: Sequence[ImageRef] | None) -> HumanMessage:
    """The message that asks the question: its text, then its images.

    Example:
        ```python
        from langgraph_pdr.calls.image_input import question_message
        from langgraph_pdr.state.image_ref import ImageRef

        url = ImageRef(sha256="0" * 64, mime="image/*", url="https://example.com/chart.png")
        message = question_message("What does the chart show?", [url])
        assert message.content[1] == {"type": "image", "url": "https://example.com/chart.png"}
        assert question_message("2 + 2?", None).content == "2 + 2?"
        ```
    """
    if not images:
        return HumanMessage(text)
    return HumanMessage(content=[{"type": "text", "text": text}, *image_blocks(images)])


def without_data(refs: Sequence[ImageRef]) -> list[ImageRef]:
    """The refs as the state keeps them when a store holds the bytes."""
    return [r.model_copy(update={"data": None}) for r in refs]
