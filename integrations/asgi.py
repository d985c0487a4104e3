"""Serving an ASGI app with uvicorn on a socket bound beforehand (so port 0 picks a free port that is
known before the server starts): what `pdr serve` and `pdr mcp` over HTTP share."""

from __future__ import annotations

import gc
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class CannotListen(OSError):
    """The address to listen on cannot be bound (e.g. another process holds the port)."""


@contextmanager
def listening(host: str, port: int, *, reuse_port: bool = False) -> Iterator[socket.socket]:
    """A socket bound to `host`:`port` (0: a free port; `getsockname()` says which), closed after.

    With `reuse_port`, several processes of this host may bind the same port (Linux's `SO_REUSEPORT`:
    the kernel spreads the incoming connections among them), e.g. `pdr serve` workers on one store.

    Example:
        ```python
        from langgraph_pdr.integrations.asgi import listening

        with listening("127.0.0.1", 0) as sock:
            assert sock.getsockname()[1] > 0
        ```
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        try:
            sock.bind((host, port))
        except OSError as exc:
            hint = "; --port 0 picks a free port" + ("" if reuse_port else ", --reuse-port shares one")
            raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
        yield sock
    finally:
        sock.close()


def run_app(app: Any, sock: socket.socket, on_ready: Callable[[], None] | None = None) -> None:
    """Serve `app` with uvicorn on `sock` until the process is stopped (Ctrl-C or SIGTERM: the requests
    in flight finish first); `on_ready()` once it listens."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    started = server.startup

    async def startup(sockets: Any = None) -> None:
        await started(sockets=sockets)
        _freeze_heap()
        if on_ready is not None:
            on_ready()

    server.startup = startup  # type: ignore[method-assign]
    server.run(sockets=[sock])


def _freeze_heap() -> None:
    """Take what the server built before its first request (its imports, the app: ~200,000 objects)
    out of the garbage collector's generations (`gc.freeze`): they live as long as the process, and
    every full collection would scan them again: at 64 concurrent runs three full collections took
    ~240 ms, 12% of the CPU (22 ms frozen), and `benchmarks/serve_load.py` measured 5.7-6.0 against
    6.0-6.2 ms of CPU per upstream call."""
    gc.collect()
    gc.freeze()
