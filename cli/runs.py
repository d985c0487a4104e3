"""`pdr runs`: every stored run, its thread id printed whole (read from the ledger alone: it starts fast)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from rich.table import Table

from langgraph_pdr.checkpoints.store import DB_ENV, db_exists, resolve_db, stored_runs
from langgraph_pdr.cli.common import (
    UsageError,
    add_command,
    console,
    positive,
    print_json,
    shorten,
    store_options,
)

#: The narrowest question column `pdr runs` shows in its table; narrower terminals get a list.
MIN_QUESTION_WIDTH = 16


def add_parsers(sub: Any) -> None:
    runs = add_command(sub, "runs")
    runs.add_argument("--limit", type=positive, default=None, help="the newest N runs only")
    store_options(runs)
    runs.set_defaults(handler=cmd_runs)


def cmd_runs(args: argparse.Namespace) -> int:
    """Every stored run; thread ids are printed whole (a table, or a list on narrow terminals), long
    answers and questions are shortened, visibly."""
    db = resolve_db(args.db)
    named = args.db is not None or bool(os.environ.get(DB_ENV))  # the default location may not exist yet
    if named and not db_exists(db):
        raise UsageError(f"db: there is no database at {db} (check the path: --db or ${DB_ENV})")
    runs = stored_runs(db, limit=args.limit)
    if args.json:
        print_json({"runs": [r.model_dump(mode="json") for r in runs]})
        return 0
    out = console()
    heads = ("thread", "created", "method", "status", "stop", "answer", "B_seq", "B_total")
    rows = [
        [
            r.thread_id,
            r.created_at[:16].replace("T", " "),
            r.method,
            r.status,
            r.stop_reason or "",
            shorten(r.answer, 24),
            f"{r.b_seq:,}",
            f"{r.b_total:,}",
        ]
        for r in runs
    ]
    widths = [max([len(h), *(len(row[n]) for row in rows)]) for n, h in enumerate(heads)]
    room = out.width - (sum(widths) + 3 * len(widths) + 1) - 3  # what the question column can have
    if room < MIN_QUESTION_WIDTH:  # too narrow for a table that keeps every id whole: a list
        out.print(f"{len(runs)} run(s)")
        for r, row in zip(runs, rows, strict=True):
            out.print(r.thread_id, style="bold")
            out.print(
                f"  {row[1]}  {r.method}  {r.status}  stop {row[4] or '-'}  answer {row[5] or '-'}  "
                f"B_seq {row[6]}  B_total {row[7]}"
            )
            out.print(f"  {shorten(r.question, max(out.width - 2, MIN_QUESTION_WIDTH))}")
        return 0
    table = Table(title=f"{len(runs)} run(s)")
    for head in heads:
        table.add_column(head, no_wrap=True, justify="right" if head.startswith("B_") else "left")
    table.add_column("question", no_wrap=True)
    for r, row in zip(runs, rows, strict=True):
        table.add_row(*row, shorten(r.question, room))
    out.print(table)
    return 0
