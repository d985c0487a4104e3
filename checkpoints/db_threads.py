"""The threads async runs wait for the database on.

An async run's ledger writes and checkpoints are whole transactions on sync connections, each run in
one of these threads: one hop off the event loop per transaction, where an async driver (aiosqlite)
hops back to the loop for every statement and the commit. With many runs in one process, a writer
then holds the file's write gate (`checkpoints.gate`) only while SQLite works, not while the busy
event loop gets round to its next statement (measured: 64 concurrent PDR 4,1 runs waited ~20 ms per
gated transaction that way). The threads are the process's own, apart from asyncio's default
executor, which LangChain's callbacks and LangGraph's sync nodes use.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["DB_THREADS", "in_db_thread"]

T = TypeVar("T")

#: Threads for the database work of async runs (a thread waiting for the write gate holds one).
DB_THREADS = 16

_POOL = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="pdr-db")


async def in_db_thread(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`work(*args, **kwargs)` in a database thread, awaited without blocking the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(work, *args, **kwargs))
