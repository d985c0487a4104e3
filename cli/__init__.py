"""The `pdr` command: run, resume, list, inspect, view and draw PDR runs, evaluate methods, serve PDR
(OpenAI-compatible, or as an MCP server) and the local model.

One module per command (`run` holds `run` and `resume`), each adding its parser with `add_parsers` and
its handler; `common` holds what they share, `COMMANDS` among it. `pdr` imports only the module of
the command it runs, so `pdr --help` and `pdr runs` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from langgraph_pdr.cli.common import COMMANDS, Parser, report


def version() -> str:
    """The installed version of langgraph-pdr.

    Example:
        ```python
        from langgraph_pdr.cli import version

        assert version().count(".") >= 2
        ```
    """
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("langgraph-pdr")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


class _Version(argparse.Action):
    """`--version`: print `pdr VERSION` and exit (the version is looked up only then)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        sys.stdout.write(f"{parser.prog} {version()}\n")
        parser.exit()


def build_parser(*, command: str | None = None, lazy: bool = False) -> argparse.ArgumentParser:
    """The parser of `pdr` and its sub-commands.

    Args:
        command: with `lazy`, the sub-command whose options are added (its module is imported).
        lazy: add the options of `command` only; every other sub-command is listed by name and help,
            and its module is not imported (what `pdr` does, to start fast).

    Example:
        ```python
        from langgraph_pdr.cli import build_parser

        args = build_parser().parse_args(["run", "What is 2 + 2?", "--schedule", "2,1"])
        assert (args.command, args.schedule) == ("run", "2,1")
        assert build_parser(command="runs", lazy=True).parse_args(["runs", "--limit", "2"]).limit == 2
        ```
    """
    parser = Parser(prog="pdr", description="Parallel-Distill-Refine runs on LangGraph.")
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    wanted = COMMANDS[command].module if command in COMMANDS else None
    added: set[str] = set()
    for name, spec in COMMANDS.items():
        if name in added:
            continue
        if lazy and spec.module != wanted:
            sub.add_parser(name, help=spec.help)
            added.add(name)
            continue
        importlib.import_module(f"langgraph_pdr.cli.{spec.module}").add_parsers(sub)
        added |= {n for n, other in COMMANDS.items() if other.module == spec.module}
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The sub-command `argv` names: its first word that is not an option (`pdr` itself takes none
    with a value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `pdr`; returns the exit code (2 bad usage, 1 failed run, 130 interrupted).

    Example:
        ```python
        from langgraph_pdr.cli import main

        assert main(["run", "q", "--k", "0"]) == 2
        ```
    """
    argv = list(argv if argv is not None else sys.argv[1:])
    debug = "--debug" in argv
    try:
        args = build_parser(command=_command(argv), lazy=True).parse_args(argv)
        args.argv = argv  # what a command that starts itself again passes on (`pdr serve --workers`)
        return int(args.handler(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    except BaseException as exc:  # one clear line, never a traceback (unless --debug)
        if debug:
            raise
        return report(exc)


def entry() -> None:
    sys.exit(main())
