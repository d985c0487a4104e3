"""`pdr mcp`: PDR as an MCP server, over stdio or streamable HTTP (see
`langgraph_pdr.integrations.mcp_endpoint`)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from langgraph_pdr.cli.common import (
    UsageError,
    add_command,
    model_options,
    serving,
    store_options,
)

#: What `pdr mcp` needs beyond the core package.
MCP_MISSING = "pdr mcp needs the MCP SDK: pip install 'langgraph-pdr[mcp]'"


def add_parsers(sub: Any) -> None:
    mcp = add_command(
        sub,
        "mcp",
        description="Serve PDR to MCP clients (desktop assistants, IDE agents): the tools solve, "
        "inspect_run, list_runs and resume_run. Over stdio (the default) the client starts this "
        "command; over streamable HTTP it listens at http://HOST:PORT/mcp (the URL is printed).",
    )
    mcp.add_argument(
        "--transport",
        choices=["stdio", "streamable-http"],
        default="stdio",
        help="stdio (default: a client starts pdr mcp) or streamable-http",
    )
    mcp.add_argument("--host", default="127.0.0.1", help="streamable-http: address to listen on (127.0.0.1)")
    mcp.add_argument(
        "--port", type=int, default=8000, help="streamable-http: port (default 8000; 0 picks a free one)"
    )
    model_options(mcp)
    store_options(mcp, json_flag=False)
    mcp.set_defaults(handler=cmd_mcp)


def cmd_mcp(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("mcp") is None:
        raise UsageError(MCP_MISSING)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: expected 0..65535, got {args.port}")
    from langgraph_pdr.integrations.mcp_endpoint import serve_mcp

    model, base_url, db = serving(args)

    def ready(url: str) -> None:
        sys.stdout.write(url + "\n")
        sys.stdout.flush()
        sys.stderr.write(f"pdr mcp: MCP server (streamable HTTP) at {url}; stop with Ctrl-C\n")

    serve_mcp(
        model=model,
        base_url=base_url,
        db=db,
        timeout=args.timeout,
        transport=args.transport,
        host=args.host,
        port=args.port,
        on_ready=ready,
    )
    return 0
