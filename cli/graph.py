"""`pdr graph`: draw a method's graph, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from langgraph_pdr.cli.common import UsageError, add_command
from langgraph_pdr.graphs import draw_graph
from langgraph_pdr.state.config import PDRConfig


def add_parsers(sub: Any) -> None:
    graph = add_command(sub, "graph")
    graph.add_argument(
        "--method", default="pdr", help="pdr (default), sr, sr_error, single, self_consistency, best_of_n"
    )
    graph.add_argument(
        "--format",
        choices=["mermaid", "ascii", "png", "svg"],
        default="mermaid",
        help="mermaid (default) or ascii text, or a png or svg image (png needs --output); images "
        "are drawn with matplotlib, no system package needed",
    )
    graph.add_argument("--output", help="write to this file, and print its path (required for png)")
    graph.add_argument("--debug", action="store_true", help="show tracebacks")
    graph.set_defaults(handler=cmd_graph)


def cmd_graph(args: argparse.Namespace) -> int:
    config = PDRConfig(method=args.method)
    if args.format == "png" and not args.output:
        raise UsageError("--format png needs --output FILE")
    image = args.format in ("png", "svg")
    try:
        text = draw_graph(config, format=args.format, output=args.output if image else None)
    except ImportError as exc:
        need = "grandalf and matplotlib" if image else "grandalf"
        raise UsageError(f"--format {args.format} needs {need} ({exc})") from None
    if text is not None and not args.output:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    if text is not None:
        Path(args.output).write_text(text)
    print(args.output)  # what was written, as `pdr view` says
    return 0
