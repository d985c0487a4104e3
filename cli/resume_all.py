"""`pdr resume --all`: finish every run of a database that reads as interrupted (its process died, its
lease expired, or it was stopped), each once, several at a time; a run another process is finishing
is skipped."""

from __future__ import annotations

import argparse
from typing import Any

from langgraph_pdr.checkpoints.store import db_exists
from langgraph_pdr.cli.common import (
    EXIT_FAILED,
    UsageError,
    console,
    interruptible,
    print_json,
    probe,
    shorten,
)
from langgraph_pdr.runner.recovery import Resumed, interrupted_runs, resume_interrupted


def _line(done: Resumed) -> str:
    if done.skipped:
        return f"{done.thread_id}  skipped: another process is finishing it"
    if done.error is not None or done.result is None:
        return f"{done.thread_id}  failed: {done.error}"
    r = done.result
    return (
        f"{done.thread_id}  {r.status}  answer {shorten(r.answer, 24) or '(none)'}  "
        f"B_seq {r.b_seq:,}  B_total {r.b_total:,}"
    )


def _failed(done: Resumed) -> bool:
    return done.error is not None or (done.result is not None and done.result.status == "failed")


def _json(done: Resumed) -> dict[str, Any]:
    r = done.result
    return {
        "thread_id": done.thread_id,
        "status": "skipped" if done.skipped else (r.status if r is not None else "failed"),
        "answer": r.answer if r is not None else None,
        "stop_reason": r.stop_reason if r is not None else None,
        "b_seq": r.b_seq if r is not None else None,
        "b_total": r.b_total if r is not None else None,
        "error": done.error,
    }


def resume_all(args: argparse.Namespace, db: str, model: str | None, base_url: str | None) -> int:
    """`pdr resume --all [--method M] [--older-than AGE] [--newer-than AGE] [--jobs N]`: exit 0 when
    every chosen run finished (or another process is finishing it), 1 when one failed."""
    if not args.all:
        raise UsageError("resume: give a thread id (pdr runs lists them), or --all")
    if args.thread_id is not None:
        raise UsageError("resume: give a thread id or --all, not both")
    if args.mcp_config:
        raise UsageError("--mcp-config: resume runs given MCP tools one at a time (pdr resume THREAD_ID)")
    if not db_exists(db):
        raise UsageError(f"db: there is no database at {db}")
    chosen = interrupted_runs(db, method=args.method, older_than=args.older_than, newer_than=args.newer_than)
    out = console(stderr=True) if args.json else console()
    if not chosen:
        if args.json:
            print_json({"runs": []})
        else:
            out.print("no interrupted runs to resume")
        return 0
    if base_url:
        probe(base_url)
    out.print(f"resuming {len(chosen)} interrupted run(s), {args.jobs} at a time")
    done = interruptible(
        lambda: resume_interrupted(
            chosen,
            db=db,
            jobs=args.jobs,
            model=model,
            base_url=base_url,
            timeout=args.timeout,
            on_done=lambda d: out.print(_line(d), highlight=False),
        ),
        hint=f"the runs left read as interrupted; continue with: pdr resume --all --db {db}",
    )
    if args.json:
        print_json({"runs": [_json(d) for d in done]})
    failed = [d for d in done if _failed(d)]
    skipped = sum(d.skipped for d in done)
    out.print(f"{len(done) - len(failed) - skipped} finished, {skipped} skipped, {len(failed)} failed")
    return EXIT_FAILED if failed else 0
