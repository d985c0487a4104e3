"""The `pdr` command: run, resume, list, inspect, view and draw PDR runs, evaluate methods, serve PDR and
the local model.

One module per command (`run` holds `run` and `resume`), each adding its parser with `add_parsers` and
its handler; `common` holds what they share.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from langgraph_pdr.cli import eval as eval_command
from langgraph_pdr.cli import graph, inspect, run, runs, serve, serve_model, view
from langgraph_pdr.cli.common import Parser, report

COMMANDS = (run, runs, inspect, view, graph, serve, eval_command, serve_model)


def build_parser() -> argparse.ArgumentParser:
    """The parser of `pdr` and its sub-commands.

    Example:
        ```python
        from langgraph_pdr.cli import build_parser

        args = build_parser().parse_args(["run", "What is 2 + 2?", "--schedule", "2,1"])
        assert (args.command, args.schedule) == ("run", "2,1")
        ```
    """
    parser = Parser(prog="pdr", description="Parallel-Distill-Refine runs on LangGraph.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `pdr`; returns the exit code (2 bad usage, 1 failed run, 130 interrupted).

    Example:
        ```python
        from langgraph_pdr.cli import main

        assert main(["run", "q", "--k", "0"]) == 2
        ```
    """
    parser = build_parser()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        args = parser.parse_args(argv)
        return int(args.handler(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    except BaseException as exc:  # one clear line, never a traceback (unless --debug)
        if debug:
            raise
        return report(exc)


def entry() -> None:
    sys.exit(main())
