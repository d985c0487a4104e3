"""`pdr serve`: an OpenAI-compatible endpoint that answers through PDR."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from langgraph_pdr.checkpoints.store import open_store, resolve_db
from langgraph_pdr.cli.common import (
    UsageError,
    add_command,
    model_arg,
    model_options,
    positive,
    prepare_local,
    probe,
    store_options,
)
from langgraph_pdr.serve import serve


def add_parsers(sub: Any) -> None:
    serving = add_command(sub, "serve")
    serving.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serving.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on stdout)")
    serving.add_argument("--slots", type=positive, default=4, help="parallel slots of the local model")
    model_options(serving)
    store_options(serving, json_flag=False)
    serving.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    if not all(importlib.util.find_spec(name) for name in ("starlette", "uvicorn")):
        raise UsageError("pdr serve needs Starlette and uvicorn: pip install 'langgraph-pdr[serve]'")
    model, base_url = model_arg(args)
    db = resolve_db(args.db)
    with open_store(db):  # a bad database is an error now, not at the first request
        pass
    if base_url:
        probe(base_url)
    prepare_local(model)

    def ready(url: str) -> None:
        sys.stdout.write(url + "\n")
        sys.stdout.flush()
        sys.stderr.write(
            f"pdr serve: OpenAI-compatible endpoint at {url} (models: pdr, "
            "pdr-4-2-1-global_summary, sr-3, single, ...); stop with Ctrl-C\n"
        )

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
    )
    return 0
