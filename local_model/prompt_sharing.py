"""Prompt sharing on the local llama.cpp server: the drafts of a round read their common prompt once.

A round's drafts send the same prompt at the same moment, each as a request of its own (its own seed,
usage and checkpoint). llama.cpp gives each request a slot, and each slot reads the whole prompt: four
drafts of a 1,000-token workspace were 4,000 tokens of prompt processing. The bundled llama.cpp
(xllamacpp) shares a prompt between slots only within one request of `n` completions, whose usage
counts one completion and whose seeds are the first one's plus 1, 2, ... (not the drafts' own); its
host-memory prompt cache gives a saved prompt back to one slot only. What copies a prompt into several
slots is saving a slot to a file and restoring it into others (`/slots/ID?action=save|restore`).

So the local model's HTTP client holds requests with the same prompt for a moment: the first waits
until no other has come for `window` seconds; when others came, one request with `max_tokens` 1, pinned
to an idle slot, reads the prompt, that slot is saved and restored into one idle slot per other request,
and then every request goes as it was. llama.cpp gives each the idle slot holding the longest prefix
of its prompt, so each reads one token of it. A request that came alone goes as it was after the
window. Nothing in a request changes: its seed, reply and usage are its own (`usage.prompt_tokens`
counts its whole prompt, as a provider bills it; `prompt_tokens_details.cached_tokens` the part read
from the cache). The reading request's own tokens are the server's work, not a call of the run: they
are counted in `PromptSharing.stats`, not in B_total.

`$PDR_SHARE_PROMPTS=0` turns it off (and the server keeps llama.cpp's defaults for idle slots).

Example:
    ```python
    from langgraph_pdr.local_model.prompt_sharing import prompt_key

    a = {"model": "m", "messages": [{"role": "user", "content": "2+2?"}], "seed": 1, "max_tokens": 64}
    b = {**a, "seed": 2, "temperature": 0.7}
    assert prompt_key(a) == prompt_key(b)  # the same prompt, whatever the sampling
    assert prompt_key({**a, "messages": [{"role": "user", "content": "3+3?"}]}) != prompt_key(a)
    assert prompt_key({**a, "n": 2}) is None  # several completions: llama.cpp shares them itself
    ```
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

#: `0` turns prompt sharing off.
SHARE_ENV = "PDR_SHARE_PROMPTS"
#: Request fields that do not change the prompt llama.cpp reads.
SAMPLING_FIELDS = frozenset(
    {
        "seed",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "stream",
        "stream_options",
        "stop",
        "logprobs",
        "top_logprobs",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "user",
    }
)


def sharing_enabled() -> bool:
    """Whether prompt sharing is on (`$PDR_SHARE_PROMPTS` is not `0`)."""
    return os.environ.get(SHARE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def prompt_key(body: dict[str, Any]) -> str | None:
    """What makes two chat requests read the same prompt: everything but their sampling options (None
    for a request that is not a plain chat completion of one choice)."""
    if not isinstance(body.get("messages"), list) or body.get("n", 1) != 1:
        return None
    return json.dumps({k: v for k, v in body.items() if k not in SAMPLING_FIELDS}, sort_keys=True)


@dataclass
class _Group:
    """Requests with one prompt, held until it is in their slots."""

    body: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    last: float = field(default_factory=time.monotonic)
    members: int = 1
    open: bool = True
    done: threading.Event = field(default_factory=threading.Event)
    waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = field(default_factory=list)


class PromptSharing:
    """Holds a local llama.cpp server's requests that share a prompt until it is read once and copied
    into a slot for each (see the module's docstring).

    Args:
        base_url: the server's OpenAI-compatible URL (`http://HOST:PORT/v1`).
        slot_dir: the directory the server saves slots to (its `slot_save_path`), on this machine.
        window: seconds the first request of a prompt waits for no other to come.
        longest_wait: seconds it waits at most for others.
        timeout: seconds the reading request may take.
    """

    def __init__(
        self,
        base_url: str,
        *,
        slot_dir: Path,
        window: float = 0.1,
        longest_wait: float = 0.5,
        timeout: float = 600.0,
    ) -> None:
        self.root = base_url.rstrip("/").removesuffix("/v1")
        self.slot_dir = Path(slot_dir)
        self.window, self.longest_wait, self.timeout = window, longest_wait, timeout
        self.enabled = True
        #: `shared` prompts, `copies` made, the reading requests' `prompt_tokens` and `processed`
        #: (read, not found cached) tokens; `failed` attempts (sharing turns off after one).
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._groups: dict[str, _Group] = {}

    # -- the two ways in: a thread, or a coroutine ---------------------------------------------------

    def hold(self, body: dict[str, Any]) -> None:
        """Return when the request `body` may go (at once for a request that shares nothing)."""
        key, group, first = self._join(body)
        if group is None:
            return
        if not first:
            group.done.wait()
            return
        try:
            while (pause := self._pause(group)) > 0:
                time.sleep(pause)
            self._share(group)
        finally:
            self._release(key, group)

    async def ahold(self, body: dict[str, Any]) -> None:
        """`hold` for a coroutine: waiting never takes a thread."""
        key, group, first = self._join(body)
        if group is None:
            return
        if not first:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            with self._lock:
                if group.done.is_set():
                    return
                group.waiters.append((loop, future))
            await future
            return
        try:
            while (pause := self._pause(group)) > 0:
                await asyncio.sleep(pause)
            await asyncio.to_thread(self._share, group)
        finally:
            self._release(key, group)

    # -- the group of one prompt ----------------------------------------------------------------------

    def _join(self, body: dict[str, Any]) -> tuple[str, _Group | None, bool]:
        key = prompt_key(body) if self.enabled else None
        if key is None:
            return "", None, False
        with self._lock:
            group = self._groups.get(key)
            if group is not None and group.open:
                group.members += 1
                group.last = time.monotonic()
                return key, group, False
            group = self._groups[key] = _Group(body)
            return key, group, True

    def _pause(self, group: _Group) -> float:
        """Seconds the first request still waits for others (0: go)."""
        now = time.monotonic()
        with self._lock:
            return max(0.0, min(group.last + self.window, group.started + self.longest_wait) - now)

    def _release(self, key: str, group: _Group) -> None:
        with self._lock:
            group.open = False
            if self._groups.get(key) is group:
                del self._groups[key]
            group.done.set()
            waiters, group.waiters = group.waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)

    # -- reading the prompt once, copying it --------------------------------------------------------

    def _share(self, group: _Group) -> None:
        if group.members < 2:
            return
        try:
            copies, reply = self._read_and_copy(group)
        except (urllib.error.HTTPError, ValueError, KeyError, TypeError):
            self._count(failed=1)
            self.enabled = False  # a server that cannot do this will not learn it: stop asking
            return
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            self._count(failed=1)  # busy or gone: this prompt goes unshared
            return
        if reply is not None:
            usage, timings = reply.get("usage", {}), reply.get("timings", {})
            self._count(
                shared=1,
                copies=copies,
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                processed=int(timings.get("prompt_n", 0)),
            )

    def _read_and_copy(self, group: _Group) -> tuple[int, dict[str, Any] | None]:
        """Read the group's prompt into an idle slot and copy that slot into one idle slot per other
        request: (copies made, the reading request's reply)."""
        slots = self._get("/slots")
        if not isinstance(slots, list):
            raise ValueError("no /slots: not a llama.cpp server")
        idle = [s["id"] for s in slots if not s["is_processing"]]
        if not idle:
            return 0, None
        first, others = idle[0], idle[1:]
        read = {k: v for k, v in group.body.items() if k not in SAMPLING_FIELDS}
        read |= {"max_tokens": 1, "temperature": 0, "id_slot": first, "stream": False}
        reply = self._post("/v1/chat/completions", read, self.timeout)
        with self._lock:  # who came while the prompt was read is served too
            group.open = False
            copies = min(group.members - 1, len(others))
        name = f"pdr-{os.getpid()}-{uuid.uuid4().hex[:12]}.bin"
        try:
            self._post(f"/slots/{first}?action=save", {"filename": name}, 30)
            for slot in others[:copies]:  # a slot taken since waits its turn: not for long
                self._post(f"/slots/{slot}?action=restore", {"filename": name}, 10)
        finally:
            (self.slot_dir / name).unlink(missing_ok=True)
        return copies, reply

    def _count(self, **counts: int) -> None:
        with self._lock:
            self.stats.update(counts)

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.root + path, timeout=60) as response:
            return json.load(response)

    def _post(self, path: str, body: dict[str, Any], timeout: float) -> Any:
        request = urllib.request.Request(
            self.root + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)

    # -- HTTP clients for ChatOpenAI ----------------------------------------------------------------

    def clients(self) -> dict[str, Any]:
        """`http_client` and `http_async_client` for a `ChatOpenAI` of this server."""
        return {
            "http_client": httpx.Client(transport=_Transport(self), timeout=None),
            "http_async_client": httpx.AsyncClient(transport=_AsyncTransport(self), timeout=None),
        }


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _chat_body(request: httpx.Request) -> dict[str, Any] | None:
    if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
        return None
    try:
        body = json.loads(request.content)
    except (ValueError, httpx.RequestNotRead):
        return None
    return body if isinstance(body, dict) else None


class _Transport(httpx.BaseTransport):
    def __init__(self, sharing: PromptSharing) -> None:
        self.sharing, self.inner = sharing, httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = _chat_body(request)
        if body is not None:
            self.sharing.hold(body)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class _AsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self, sharing: PromptSharing) -> None:
        self.sharing, self.inner = sharing, httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = _chat_body(request)
        if body is not None:
            await self.sharing.ahold(body)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
