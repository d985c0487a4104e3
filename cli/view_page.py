"""`pdr view`: one run as a self-contained HTML page, written to a file (and opened, with `--open`)."""

from __future__ import annotations

import argparse
import webbrowser
from pathlib import Path
from typing import Any

from langgraph_pdr.cli.common import UsageError, add_command, store_options
from langgraph_pdr.view import render_run_html, safe_name


def add_parsers(sub: Any) -> None:
    view = add_command(
        sub,
        "view",
        description="Write one run as a self-contained HTML page (no network needed to show it) and "
        "print its path.",
    )
    view.add_argument("thread_id", help="the run's id (pdr runs lists them)")
    view.add_argument("--output", help="the HTML file to write (default: pdr-view-THREAD.html here)")
    view.add_argument("--open", action="store_true", help="open the page in a web browser")
    store_options(view, json_flag=False)
    view.set_defaults(handler=cmd_view)


def output_path(thread_id: str, output: str | None) -> Path:
    """Where the page goes: `output`, else `pdr-view-THREAD.html` in the current directory; a file in a
    directory that does not exist, or a directory, is bad usage."""
    path = Path(output).expanduser() if output else Path(f"pdr-view-{safe_name(thread_id)}.html")
    if path.is_dir():
        raise UsageError(f"--output: {output} is a directory; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"--output: the directory {path.parent} does not exist")
    return path


def cmd_view(args: argparse.Namespace) -> int:
    path = output_path(args.thread_id, args.output)
    page = render_run_html(args.thread_id, args.db)  # no database, no such run: one line, exit 2
    path.write_text(page, encoding="utf-8")
    print(path)
    if args.open:
        webbrowser.open(path.resolve().as_uri())
    return 0
