"""`pdr inspect`: what one run did, round by round (`--json`: all of it)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from langgraph_pdr.cli.common import console, print_json, result_json, shorten, store_options
from langgraph_pdr.runner import inspect_run


def add_parsers(sub: Any) -> None:
    inspect = sub.add_parser("inspect", help="show what a run did")
    inspect.add_argument("thread_id", help="the run's id (pdr runs lists them)")
    store_options(inspect)
    inspect.set_defaults(handler=cmd_inspect)


def cmd_inspect(args: argparse.Namespace) -> int:
    """A header of one-line values, then the drafts, the workspaces and the calls."""
    result = inspect_run(args.thread_id, args.db)
    if args.json:
        print_json(result_json(result))
        return 0
    out = console()
    out.print(result.thread_id, style="bold", end="  ")
    config = result.config
    shown = {
        "pdr": f"  distiller {config.distiller}  k {config.k}  κ {config.kappa}",
        "sr": f"  κ {config.kappa}",
        "sr_error": f"  κ {config.kappa}",
    }  # what the method uses
    out.print(
        f"{config.method} {','.join(map(str, config.schedule))}{shown.get(config.method, '')}  "
        f"model {result.model}"
    )
    out.print(
        f"status {result.status}  stop {result.stop_reason}  answer {shorten(result.answer, 40)}  "
        f"B_seq {result.b_seq:,}  B_total {result.b_total:,}"
    )
    out.print(f"question: {shorten(result.question, 200)}")
    if result.images:
        pictures = Table(title=f"images ({len(result.images)})")
        for col in ("sha256", "type", "bytes", "url"):
            pictures.add_column(col)
        for ref in result.images:
            pictures.add_row(ref.sha256, ref.mime, f"{ref.size:,}" if ref.url is None else "", ref.url or "")
        out.print(pictures)
    drafts = Table(title="drafts")
    for col in ("round", "idx", "ok", "answer", "score", "workspace", "in", "out", "error"):
        drafts.add_column(col)
    for r in result.rounds:
        for d in r.drafts:
            c = d.call
            state = "yes" if d.ok and not d.unfinished else ("unfinished" if d.ok else "no")
            drafts.add_row(
                str(d.round),
                str(d.index),
                state,
                shorten(d.answer, 30) if d.ok else "",
                "" if d.score is None else f"{d.score:g}",
                "" if d.workspace_index is None else str(d.workspace_index),
                str(c.input_tokens) if c else "",
                str(c.output_tokens) if c else "",
                shorten(d.error, 40),
            )
    out.print(drafts)
    spaces = Table(title="workspaces")
    for col in ("round", "idx", "distiller", "tokens", "counted by", "sources"):
        spaces.add_column(col)
    for w in result.workspaces:
        spaces.add_row(
            str(w.round),
            str(w.index),
            w.distiller,
            str(w.tokens),
            w.counted_by,
            ",".join(map(str, w.sources)),
        )
    out.print(spaces)
    calls = Table(title=f"calls ({len(result.calls)})")
    for col in ("role", "round", "idx", "in", "out", "latency s", "finish", "usage"):
        calls.add_column(col)
    for c in result.calls:
        calls.add_row(
            c.role,
            str(c.round),
            str(c.index),
            str(c.input_tokens),
            str(c.output_tokens),
            f"{c.latency_s:.2f}",
            c.finish_reason or "",
            c.usage_source,
        )
    out.print(calls)
    return 0
