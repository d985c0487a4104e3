"""Images of a question: a reference by content (sha256), never the bytes, in the state and the payloads.

A run's images are stored once, content-addressed, beside its ledger; calls get their bytes by sha256
(see `langgraph_pdr.calls.image_input`). An http(s) image is kept as its URL (the provider fetches it).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

#: The largest image a run takes, in bytes.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
#: Input tokens reserved per image against the caps, and counted when a provider reports no usage: a
#: declared bound (a 1,024 x 1,024 image costs about 765 tokens at OpenAI's high detail, 258 at Gemini's).
IMAGE_TOKENS = 1_600


class ImageRef(BaseModel):
    """One image of a question: its sha256 (of the bytes; of the URL for an http(s) image), media type
    and size in bytes, and its URL when it is an http(s) image. `data` (base64) travels only where no
    store holds the bytes (a server's JSON input).

    Example:
        ```python
        from langgraph_pdr.state.image_ref import ImageRef

        ref = ImageRef(sha256="ab" * 32, mime="image/png", size=68)
        assert ref.url is None and ref.data is None
        ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str
    mime: str
    size: int = 0
    url: str | None = None
    data: str | None = None
