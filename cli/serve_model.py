"""`pdr serve-model`: the local model as an OpenAI-compatible server, which runs on this machine use."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from langgraph_pdr.cli.common import UsageError, add_command, positive
from langgraph_pdr.local_model import DEFAULT_LOCAL_MODEL, ensure_model
from langgraph_pdr.local_model.shared_server import LocalServer, serve_registered


def add_parsers(sub: Any) -> None:
    serve = add_command(sub, "serve-model")
    serve.add_argument(
        "--local-model", help="qwen2.5-coder-1.5b (default), qwen2.5-coder-0.5b, or a .gguf path"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one, printed)")
    serve.add_argument("--parallel", type=positive, default=4, help="slots decoded together")
    serve.add_argument("--ctx", type=positive, default=32768, help="total context, shared by the slots")
    serve.add_argument("--debug", action="store_true", help="show tracebacks")
    serve.set_defaults(handler=cmd_serve_model)


def cmd_serve_model(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: expected 0..65535, got {args.port}")
    path = ensure_model(args.local_model or DEFAULT_LOCAL_MODEL, progress=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    local = LocalServer(
        path, alias=path.stem, n_parallel=args.parallel, n_ctx=args.ctx, host=args.host, port=args.port
    )
    with local as server:
        sys.stdout.write(f"{server.base_url}\n")
        sys.stdout.flush()
        sys.stderr.write(
            f"serving {path.stem} at {server.base_url} (model name {path.stem!r}); stop with Ctrl-C\n"
        )
        serve_registered(server, owner="serve-model", stop=stop)
    return 0
