"""The lease that lets one process at a time run a thread, with a fencing token.

A run's row holds `lock_owner` (`host:pid:nonce`, unique to each acquisition: the fencing token) and
`lock_until`. Every write of the holder's ledger checks, in its own transaction, that it still holds
the lease (and extends it); so does every checkpoint it writes. A holder paused past its lease, whose
run another process then took over, gets `LeaseLostError` at its next write and writes nothing more.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from langgraph_pdr.checkpoints.errors import LeaseLostError, RunLockedError, RunNotFoundError
from langgraph_pdr.checkpoints.schema import runs
from langgraph_pdr.checkpoints.writes import LOCK_TTL_S

#: Seconds between two extensions of a lease while its run waits on a long call.
HEARTBEAT_S = 10.0

# the statements of every write, built once (see `writes.Write`)
_HELD = (runs.c.thread_id == bindparam("w_thread_id"), runs.c.lock_owner == bindparam("w_owner"))
_EXTEND = update(runs).where(*_HELD).values(lock_until=bindparam("v_until"))
_RELEASE = update(runs).where(*_HELD).values(lock_owner=None, lock_until=None)
_HOLDER = select(runs.c.lock_owner).where(runs.c.thread_id == bindparam("w_thread_id"))


def new_lock_owner() -> str:
    """`host:pid:nonce`, so a lock left by a dead process on this host can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool:
    """Whether the process that holds `owner` may still run (on another host only expiry can tell)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lapsed(owner: str | None, until: float | None, now: float | None = None) -> bool:
    """Whether a lease is free to take over: no holder, expired, or its holder's process is gone
    (a run `running` under such a lease is an orphan, and reads as `interrupted`).

    Example:
        ```python
        import time
        from langgraph_pdr.checkpoints.lock import lapsed, new_lock_owner

        assert lapsed(None, None) and lapsed(new_lock_owner(), time.time() - 1)
        assert not lapsed(new_lock_owner(), time.time() + 60)  # this process holds it
        assert lapsed("localhost-gone:0:dead", time.time() + 60) is False  # another host: expiry only
        ```
    """
    if not owner:
        return True
    return (until or 0) <= (time.time() if now is None else now) or not owner_alive(owner)


def acquire(conn: Connection, thread_id: str, owner: str) -> None:
    """Lease the run to `owner`, taking over a lease whose holder died or expired.

    Raises:
        RunNotFoundError: no such run.
        RunLockedError: a live process holds it.
    """
    now = time.time()
    row = conn.execute(
        select(runs.c.lock_owner, runs.c.lock_until).where(runs.c.thread_id == thread_id)
    ).first()
    if row is None:
        raise RunNotFoundError(f"thread_id: no run {thread_id!r} in this database")
    held = row.lock_owner
    if held and held != owner and not lapsed(held, row.lock_until, now):
        raise RunLockedError(
            f"thread_id: run {thread_id!r} is being run by another process ({held}); wait for it to finish"
        )
    taken = conn.execute(
        update(runs)
        .where(
            runs.c.thread_id == thread_id,
            runs.c.lock_owner.is_(None) if held is None else runs.c.lock_owner == held,
        )
        .values(lock_owner=owner, lock_until=now + LOCK_TTL_S)
    )
    if taken.rowcount != 1:
        raise RunLockedError(f"thread_id: run {thread_id!r} was just taken by another process")


def fence(conn: Connection, thread_id: str, owner: str) -> None:
    """Check, in the writer's transaction, that `owner` still holds the run's lease, and extend it.

    Raises:
        LeaseLostError: another process took the run over.
    """
    held = conn.execute(_EXTEND, _lease(thread_id, owner, time.time() + LOCK_TTL_S))
    if held.rowcount != 1:
        check(conn, thread_id, owner)  # raises: another owner, or none


def check(conn: Connection, thread_id: str, owner: str) -> None:
    """`fence` without extending the lease: a read, for the checkpointer's writes.

    Raises:
        LeaseLostError: another process took the run over.
    """
    holder = conn.execute(_HOLDER, {"w_thread_id": thread_id}).scalar()
    if holder != owner:
        raise lease_lost(thread_id, holder)


def lease_lost(thread_id: str, holder: str | None) -> LeaseLostError:
    """The error of a writer whose run `holder` (another process, or none) now holds."""
    return LeaseLostError(
        f"thread_id: run {thread_id!r} was taken over by another process ({holder or 'none'}) after "
        "this one's lease expired; this process stopped writing to it"
    )


def release(conn: Connection, thread_id: str, owner: str) -> None:
    """Give the lease up (nothing happens when another process holds it now)."""
    conn.execute(_RELEASE, _lease(thread_id, owner))


def extend(conn: Connection, thread_id: str, owner: str) -> None:
    """Extend the lease while `owner` holds it (the heartbeat; a lost lease is left alone)."""
    conn.execute(_EXTEND, _lease(thread_id, owner, time.time() + LOCK_TTL_S))


def _lease(thread_id: str, owner: str, until: float | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"w_thread_id": thread_id, "w_owner": owner}
    if until is not None:
        params["v_until"] = until
    return params


@contextmanager
def heartbeat(beat: Callable[[], None]) -> Iterator[None]:
    """Call `beat` every `HEARTBEAT_S` seconds in a thread of its own while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                beat()
            except Exception:  # the run itself will report a broken database
                pass

    heart = threading.Thread(target=loop, name="pdr-lock-heartbeat", daemon=True)
    heart.start()
    try:
        yield
    finally:
        stop.set()
        heart.join(timeout=5)


@asynccontextmanager
async def aheartbeat(beat: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """`heartbeat` for async runs: a task on the running event loop, cancelled when the block ends.

    A thread's beat would wait for the database file's write gate behind the loop's own writers, and
    joining it at the end would stop the loop those writers need.
    """

    async def loop() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await beat()
            except Exception:  # the run itself will report a broken database
                pass

    task = asyncio.create_task(loop(), name="pdr-lock-heartbeat")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task])
