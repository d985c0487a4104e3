"""`pdr serve`: an OpenAI-compatible endpoint that answers through PDR."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import logging
import os
import socket
import sys
from typing import Any

from langgraph_pdr.cli.common import (
    UsageError,
    add_command,
    model_options,
    positive,
    serving,
    store_options,
)
from langgraph_pdr.cli.serve_workers import SOCKET_ENV, WORKER_ENV, run_workers
from langgraph_pdr.integrations.openai_endpoint import RECOVER_EVERY_S, access_log, serve
from langgraph_pdr.state.registry import TOOLS
from langgraph_pdr.tooling.toolbox import ALLOW_TOOLS_ENV, allowed_tools

#: The API key every request must bring (`Authorization: Bearer KEY`), as `--api-key` sets it.
API_KEY_ENV = "PDR_API_KEY"


def add_parsers(sub: Any) -> None:
    serving = add_command(sub, "serve")
    serving.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serving.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on stdout)")
    serving.add_argument("--slots", type=positive, default=4, help="parallel slots of the local model")
    serving.add_argument(
        "--allow-tools",
        action="append",
        metavar="NAMES",
        help=(
            'built-in tools requests may name in "pdr": {"tools": [...]}, comma-separated (python runs '
            f"code on this machine, sandboxed); default ${ALLOW_TOOLS_ENV}, else none: such requests get 400"
        ),
    )
    serving.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"every request must send Authorization: Bearer KEY, else 401 (default ${API_KEY_ENV})",
    )
    serving.add_argument(
        "--recover-every",
        type=float,
        default=RECOVER_EVERY_S,
        metavar="SECONDS",
        help="look for the store's orphaned runs (their process died or their lease expired) this often "
        f"and finish them, and on start (default {RECOVER_EVERY_S:g}; 0: never)",
    )
    serving.add_argument(
        "--reuse-port",
        action="store_true",
        help="let other pdr serve workers of this host listen on the same port (SO_REUSEPORT: the kernel "
        "spreads connections among them); give them one --db",
    )
    serving.add_argument(
        "--workers",
        type=positive,
        default=1,
        metavar="N",
        help="N server processes on the one port and store, to use N cores (default 1)",
    )
    model_options(serving)
    store_options(serving, json_flag=False)
    serving.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    if not all(importlib.util.find_spec(name) for name in ("starlette", "uvicorn")):
        raise UsageError("pdr serve needs Starlette and uvicorn: pip install 'langgraph-pdr[serve]'")
    tools = allowed_tools(",".join(args.allow_tools)) if args.allow_tools else allowed_tools()
    unknown = [name for name in tools if name not in TOOLS]
    if unknown:
        raise UsageError(f"--allow-tools: unknown tool {unknown[0]!r}; built in: {', '.join(TOOLS.names())}")
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV) or None
    if args.api_key == "":
        raise UsageError("--api-key: give a key (or leave the option out)")
    model, base_url, db = serving(args)
    if args.workers > 1:
        if db == ":memory:":
            raise UsageError("--workers: workers share one store; give --db a file or a PostgreSQL URL")
        return run_workers(
            args.argv, workers=args.workers, host=args.host, port=args.port, reuse_port=args.reuse_port
        )

    worker = os.environ.get(WORKER_ENV)  # a worker of `pdr serve --workers N`: its number
    shared = _inherited_socket()
    name = f"pdr serve (worker {worker})" if worker else "pdr serve"

    def ready(url: str) -> None:
        sys.stdout.write(url + "\n")
        sys.stdout.flush()
        if worker:  # the workers' process said it all once
            return
        sys.stderr.write(
            f"pdr serve: OpenAI-compatible endpoint at {url} (models: pdr, "
            "pdr-4-2-1-global_summary, sr-3, single, ...); stop with Ctrl-C\n"
            f"pdr serve: tools requests may name: {', '.join(tools) or 'none'}; "
            f"API key: {'required' if api_key else 'none'}\n"
        )
        if not api_key and not _loopback(args.host):
            sys.stderr.write(
                f"pdr serve: warning: listening on {args.host} with no API key: anyone who reaches the "
                f"port can spend your model's tokens (--api-key or ${API_KEY_ENV})\n"
            )

    access = logging.StreamHandler(sys.stderr)  # a line per request
    access.setFormatter(logging.Formatter(f"{name}: %(message)s"))
    access_log.addHandler(access)
    access_log.setLevel(logging.INFO)
    # uvicorn stops on Ctrl-C and SIGTERM, finishing the requests in flight
    serve(
        model=model,
        base_url=base_url,
        db=db,
        timeout=args.timeout,
        host=args.host,
        port=args.port,
        slots=args.slots,
        on_ready=ready,
        allow_tools=tools,
        api_key=api_key,
        recover_every=args.recover_every or None,
        reuse_port=args.reuse_port,
        sock=shared,
    )
    return 0


def _inherited_socket() -> socket.socket | None:
    """The listening socket a worker of `pdr serve --workers N` inherits from its process, if this is
    one; its descriptor is not passed on to this process's own children."""
    fd = os.environ.pop(SOCKET_ENV, None)
    if fd is None:
        return None
    try:
        sock = socket.socket(fileno=int(fd))
    except (ValueError, OSError):
        raise UsageError(
            f"${SOCKET_ENV}={fd!r} is no listening socket: pdr serve --workers sets it for its workers"
        ) from None
    sock.set_inheritable(False)
    return sock


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
