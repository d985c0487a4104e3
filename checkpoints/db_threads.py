"""The threads async runs wait for the database on.

An async run's ledger writes and checkpoints are whole transactions on sync connections, each run in
one of these threads: one hop off the event loop per transaction, where an async driver (aiosqlite)
hops back to the loop for every statement and the commit. With many runs in one process, a writer
then holds the file's write gate (`checkpoints.gate`) only while SQLite works, not while the busy
event loop gets round to its next statement (measured: 64 concurrent PDR 4,1 runs waited ~20 ms per
gated transaction that way). The threads are the process's own, apart from asyncio's default
executor, which LangChain's callbacks and LangGraph's sync nodes use.

Writes go in lanes (`in_db_lane`, one per file and event loop): what the file's writers queue while a
hop is away goes in the next hop together. A file's writes take turns at its gate anyway, so a batch
loses no parallelism, and many runs then cost one hop (and one thread holding the GIL) per batch instead
of one per write: with the cores busy, threads trading the GIL back and forth cost more CPU than the
writes themselves.

Example:
    ```python
    import asyncio
    from langgraph_pdr.checkpoints.db_threads import in_db_thread

    assert asyncio.run(in_db_thread(sum, [1, 2, 3])) == 6
    ```
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["DB_THREADS", "in_db_lane", "in_db_thread"]

T = TypeVar("T")

#: Threads for the database work of async runs (a thread waiting for the write gate holds one).
DB_THREADS = 16

_POOL = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="pdr-db")


async def in_db_thread(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`work(*args, **kwargs)` in a database thread, awaited without blocking the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(work, *args, **kwargs))


class _Lane:
    """The work queued under one key on one event loop, and the task carrying it while there is some
    (held here: the loop keeps only weak references to its tasks)."""

    def __init__(self) -> None:
        self.queue: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self.carrier: asyncio.Task[None] | None = None


_LANES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, _Lane]] = weakref.WeakKeyDictionary()


async def in_db_lane(key: Any, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`work(*args, **kwargs)` in a database thread after the work queued under `key` before it,
    awaited without blocking the event loop.

    The work queued under one key while a hop is away goes in the next hop together, each item in
    turn: many runs writing to one file (whose writes take turns at its gate anyway) then cost one hop
    off the event loop and back per batch, not one per write. Each item is still its own call: what it
    raises is raised to its caller only; an item whose caller was cancelled before its hop is skipped.

    Example:
        ```python
        import asyncio
        from langgraph_pdr.checkpoints.db_threads import in_db_lane

        async def main():
            return await asyncio.gather(*(in_db_lane("runs.sqlite", pow, n, 2) for n in range(4)))

        assert asyncio.run(main()) == [0, 1, 4, 9]
        ```
    """
    loop = asyncio.get_running_loop()
    lanes = _LANES.get(loop)
    if lanes is None:
        lanes = _LANES[loop] = {}
    lane = lanes.get(key)
    if lane is None:
        lane = lanes[key] = _Lane()
    future: asyncio.Future[T] = loop.create_future()
    lane.queue.append((functools.partial(work, *args, **kwargs), future))
    if lane.carrier is None:
        lane.carrier = loop.create_task(_carry(lane))
    return await future


async def _carry(lane: _Lane) -> None:
    """Hop the lane's queued work to a database thread, batch after batch, until none is left."""
    batch: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
    try:
        while lane.queue:
            batch, lane.queue = [item for item in lane.queue if not item[1].cancelled()], []
            outcomes = await in_db_thread(_each, [work for work, _ in batch])
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            batch = []
    except BaseException as exc:  # the hop itself failed or was cancelled: so did its callers' work
        for _, future in batch + lane.queue:
            if future.done():
                continue
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
        lane.queue = []
        if not isinstance(exc, Exception):
            raise  # a cancellation (or an exit) goes on; an error is its callers' now
    finally:
        lane.carrier = None  # nothing here keeps the event loop alive


def _each(works: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
    """Run each work in turn: (True, its result) or (False, what it raised)."""
    outcomes: list[tuple[bool, Any]] = []
    for work in works:
        try:
            outcomes.append((True, work()))
        except Exception as exc:
            outcomes.append((False, exc))
    return outcomes
