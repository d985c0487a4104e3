"""Reading the images a question comes with: a file path, an http(s) or data URL, raw bytes, or a
LangChain or OpenAI image content block, each checked (an image by its magic bytes, within a size bound)
and referenced by sha256.

Example:
    ```python
    import base64
    from langgraph_pdr.images import load_images

    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    ((ref, data),) = load_images([png])
    assert ref.mime == "image/png" and ref.size == len(png) and data == png
    ```
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langgraph_pdr.state.image_ref import MAX_IMAGE_BYTES, ImageRef

#: Media types recognised by their first bytes.
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class ImageError(ValueError):
    """An image that cannot be used: a missing file, not an image, too large, an unsupported URL."""


def media_type(data: bytes) -> str | None:
    """The image type of `data` by its magic bytes (PNG, JPEG, GIF, WebP), or None."""
    for magic, mime in MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _checked(data: bytes, where: str) -> tuple[ImageRef, bytes]:
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(
            f"images: {where} is {len(data) / 2**20:.1f} MiB; the limit is {MAX_IMAGE_BYTES / 2**20:.0f} MiB"
        )
    mime = media_type(data)
    if mime is None:
        raise ImageError(f"images: {where} is not an image (PNG, JPEG, GIF or WebP)")
    return ImageRef(sha256=hashlib.sha256(data).hexdigest(), mime=mime, size=len(data)), data


def _from_url(url: str, where: str) -> tuple[ImageRef, bytes | None]:
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        digest = hashlib.sha256(url.encode()).hexdigest()
        return ImageRef(sha256=digest, mime="image/*", size=0, url=url), None
    if scheme == "data":
        head, _, payload = url.partition(",")
        if ";base64" not in head:
            raise ImageError(f"images: {where} is a data URL without base64 content")
        try:
            return _checked(base64.b64decode(payload, validate=True), where)
        except (binascii.Error, ValueError) as exc:
            if isinstance(exc, ImageError):
                raise
            raise ImageError(f"images: {where} is not valid base64") from None
    raise ImageError(
        f"images: {where}: the URL scheme {scheme!r} is not supported; give a file, an http(s) URL or a "
        "data URL"
    )


def _from_block(block: dict[str, Any], where: str) -> tuple[ImageRef, bytes | None]:
    kind = block.get("type")
    if kind == "image_url":  # OpenAI's chat format
        inner = block.get("image_url")
        url = inner.get("url") if isinstance(inner, dict) else inner
        if isinstance(url, str):
            return _from_url(url, where)
    if kind == "image":  # LangChain's standard block
        if isinstance(block.get("base64"), str):
            return _from_url(f"data:{block.get('mime_type', 'image/*')};base64,{block['base64']}", where)
        if isinstance(block.get("url"), str):
            return _from_url(block["url"], where)
    raise ImageError(f"images: {where} is not an image content block (type image or image_url)")


def load_image(item: Any, where: str = "the image") -> tuple[ImageRef, bytes | None]:
    """One image as (reference, bytes); the bytes are None for an http(s) URL.

    Raises:
        ImageError: a missing file, a file or bytes that are not an image, an image over
            `MAX_IMAGE_BYTES`, a URL whose scheme is not http(s) or data, or anything else.
    """
    if isinstance(item, bytes | bytearray):
        return _checked(bytes(item), where)
    if isinstance(item, dict):
        return _from_block(item, where)
    if isinstance(item, str) and ":" in item.split("/", 1)[0] and not Path(item).exists():
        return _from_url(item, where)
    if isinstance(item, str | Path):
        path = Path(item).expanduser()
        if not path.is_file():
            raise ImageError(f"images: no such file: {path}")
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise ImageError(
                f"images: {path} is {path.stat().st_size / 2**20:.1f} MiB; the limit is "
                f"{MAX_IMAGE_BYTES / 2**20:.0f} MiB"
            )
        return _checked(path.read_bytes(), str(path))
    raise ImageError(
        f"images: expected a file path, a URL, bytes or an image content block, got {type(item).__name__}"
    )


def load_images(items: Sequence[Any] | None) -> list[tuple[ImageRef, bytes | None]]:
    """Every image of a question, in order, each once (the same image twice is one).

    Raises:
        ImageError: see `load_image`; the error names the image.
    """
    if items is None:
        return []
    if isinstance(items, str | bytes | dict | Path):
        raise ImageError("images: expected a list of images")
    seen: dict[str, tuple[ImageRef, bytes | None]] = {}
    for n, item in enumerate(items, start=1):
        where = str(item) if isinstance(item, str | Path) else f"image {n}"
        ref, data = load_image(item, where)
        seen.setdefault(ref.sha256, (ref, data))
    return list(seen.values())


def image_refs(items: Sequence[Any] | None) -> list[ImageRef]:
    """The images as refs that carry their bytes (base64), for a graph invoked directly or through
    LangGraph Server: `graph.invoke({"question": ..., "images": image_refs([...])}, ...)`.
    (`run_pdr` stores the bytes once instead, and its state holds refs only.)

    Example:
        ```python
        import base64
        from langgraph_pdr.images import image_refs

        gif = base64.b64decode("R0lGODlhAQABAAAAACw=")
        (ref,) = image_refs([gif])
        assert ref.mime == "image/gif" and base64.b64decode(ref.data) == gif
        ```
    """
    return [
        ref if data is None else ref.model_copy(update={"data": base64.b64encode(data).decode()})
        for ref, data in load_images(items)
    ]
