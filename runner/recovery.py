"""Finishing the runs their processes left: `interrupted_runs` finds them (a run whose process died or
whose lease expired reads as `interrupted`), `resume_interrupted` and its async twin resume each of them
once, several at a time. A run another process took over first is skipped, not run twice: resuming
takes the run's lease (`checkpoints.lock.acquire`, a compare-and-set on its fencing token)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from langgraph_pdr.checkpoints.ledger import RunLockedError
from langgraph_pdr.checkpoints.store import db_exists, open_ledger, resolve_db
from langgraph_pdr.runner.execution import ModelArg
from langgraph_pdr.runner.resuming import aresume_pdr, resume_pdr
from langgraph_pdr.state.result import PDRResult


@dataclass
class Resumed:
    """What resuming one interrupted run came to: its `result`, or `error`; `skipped` when another
    process held the run (it finishes it)."""

    thread_id: str
    result: PDRResult | None = None
    error: str | None = None
    skipped: bool = False


def _age(created_at: str, now: float) -> float:
    return now - datetime.fromisoformat(created_at).timestamp()


def _chosen(
    rows: list[dict[str, Any]],
    method: str | None,
    older_than: float | None,
    newer_than: float | None,
    orphans_only: bool,
) -> list[str]:
    now = time.time()
    return [
        r["thread_id"]
        for r in rows
        if (method is None or r["method"] == method)
        and (older_than is None or _age(r["created_at"], now) >= older_than)
        and (newer_than is None or _age(r["created_at"], now) <= newer_than)
        and (r["orphan"] or not orphans_only)
    ]


def interrupted_runs(
    db: str | Path | None = None,
    *,
    method: str | None = None,
    older_than: float | None = None,
    newer_than: float | None = None,
    orphans_only: bool = False,
) -> list[str]:
    """The thread ids of the runs of `db` that read as `interrupted`, oldest first.

    Args:
        db: the database (as for `run_pdr`).
        method: only runs of this method (`pdr`, `sr`, ...).
        older_than: only runs started at least this many seconds ago.
        newer_than: only runs started at most this many seconds ago.
        orphans_only: only runs whose process died (or whose lease expired) while they ran, not
            those that recorded themselves interrupted (Ctrl-C, a cancelled MCP call).

    Example:
        ```python
        from langgraph_pdr import PDRConfig, interrupted_runs
        from langgraph_pdr.checkpoints.store import open_ledger

        ledger = open_ledger("orphans.sqlite")
        ledger.start_run("gone", question="q?", config=PDRConfig(), lock_owner=None)  # no live holder
        ledger.dispose()
        assert interrupted_runs("orphans.sqlite") == ["gone"]
        assert interrupted_runs("orphans.sqlite", method="sr") == []
        ```
    """
    if not db_exists(db):
        return []
    ledger = open_ledger(resolve_db(db))
    try:
        rows = ledger.interrupted_runs()
    finally:
        ledger.dispose()
    return _chosen(rows, method, older_than, newer_than, orphans_only)


def _failed(thread_id: str, exc: Exception) -> Resumed:
    """A run another process holds is skipped; any other error is the run's, in one line."""
    if isinstance(exc, RunLockedError):
        return Resumed(thread_id, skipped=True)
    return Resumed(thread_id, error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def resume_interrupted(
    thread_ids: list[str],
    *,
    db: str | Path | None = None,
    jobs: int = 4,
    model: ModelArg | None = None,
    base_url: str | None = None,
    timeout: float | None = None,
    on_done: Callable[[Resumed], None] | None = None,
) -> list[Resumed]:
    """Resume each run of `thread_ids` once, `jobs` at a time (`resume_pdr` each, in a thread).

    Args:
        thread_ids: the runs (`interrupted_runs` lists them).
        db: the database they are in.
        jobs: how many runs are resumed at once.
        model, base_url, timeout: as for `resume_pdr` (default: each run's stored model).
        on_done: called with each run's `Resumed` as it ends.

    Returns:
        One `Resumed` per run, in the order of `thread_ids`.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, interrupted_runs, resume_interrupted
        from langgraph_pdr.checkpoints.store import open_ledger

        ledger = open_ledger("left.sqlite")
        ledger.start_run("left", question="What is 17 * 23?", config=PDRConfig(method="single"))
        ledger.dispose()
        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")]))
        [done] = resume_interrupted(interrupted_runs("left.sqlite"), db="left.sqlite", model=model)
        assert (done.thread_id, done.result.answer) == ("left", "391")
        assert interrupted_runs("left.sqlite") == []
        ```
    """

    def one(thread_id: str) -> Resumed:
        try:
            result = resume_pdr(thread_id, db=db, model=model, base_url=base_url, timeout=timeout)
            done = Resumed(thread_id, result=result)
        except Exception as exc:
            done = _failed(thread_id, exc)
        if on_done is not None:
            on_done(done)
        return done

    if not thread_ids:
        return []
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="pdr-resume") as pool:
        return list(pool.map(one, thread_ids))


async def aresume_interrupted(
    thread_ids: list[str],
    *,
    db: str | Path | None = None,
    jobs: int = 4,
    model: ModelArg | None = None,
    base_url: str | None = None,
    timeout: float | None = None,
    on_done: Callable[[Resumed], None] | None = None,
) -> list[Resumed]:
    """Async twin of `resume_interrupted` (`aresume_pdr` each, `jobs` at a time on the event loop).

    Example:
        ```python
        import asyncio
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, aresume_interrupted
        from langgraph_pdr.checkpoints.store import open_ledger

        ledger = open_ledger("aleft.sqlite")
        for thread_id in ("a1", "a2"):
            ledger.start_run(thread_id, question="What is 17 * 23?", config=PDRConfig(method="single"))
        ledger.dispose()
        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 2))
        done = asyncio.run(aresume_interrupted(["a1", "a2"], db="aleft.sqlite", model=model, jobs=2))
        assert [(d.thread_id, d.result.answer) for d in done] == [("a1", "391"), ("a2", "391")]
        ```
    """
    gate = asyncio.Semaphore(max(1, jobs))

    async def one(thread_id: str) -> Resumed:
        async with gate:
            try:
                done = Resumed(
                    thread_id,
                    result=await aresume_pdr(
                        thread_id, db=db, model=model, base_url=base_url, timeout=timeout
                    ),
                )
            except Exception as exc:
                done = _failed(thread_id, exc)
        if on_done is not None:
            on_done(done)
        return done

    return list(await asyncio.gather(*(one(t) for t in thread_ids)))
