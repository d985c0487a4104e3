"""One writer at a time per SQLite file, first come, first served in a process.

SQLite lets one connection write at a time. The others wait in its busy handler, which polls with
growing sleeps (up to 100 ms) and is not fair: with many runs writing to one file from one process
(`pdr serve`, `asyncio.gather` of `arun_pdr`), a waiting writer can lose the race again and again
until `PDR_DB_TIMEOUT` runs out, and its run fails with "database is locked" (measured: 96 concurrent
`pdr serve` completions with a 3 s timeout lost 63 of them). So a process's writers of one file (every
run's ledger and checkpointer, threads and coroutines alike) queue here first, in arrival order.

Between processes (`pdr serve --workers N`, several `pdr` commands on one file) the gate's holder also
takes an exclusive `flock` on a lock file beside the database (`runs.sqlite-gate`): a writer of another
process waits in the kernel and is woken the moment the lock is let go, where SQLite's busy handler
would sleep 1, 2, 5, 10... ms between tries while this process's other writers queue behind it. SQLite's
own locks still decide what is safe: the lock file only orders the writers (where it cannot be created,
on a read-only directory say, the busy handler arbitrates between processes as before).

Example:
    ```python
    import asyncio
    from langgraph_pdr.checkpoints.gate import write_gate

    gate = write_gate("runs.sqlite")
    assert write_gate("./runs.sqlite") is gate  # one gate per file
    with gate:  # a thread's write transaction
        pass

    async def main():
        async with gate:  # a coroutine's: it waits without blocking the event loop
            pass

    asyncio.run(main())
    ```
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["WriteGate", "write_gate"]


class WriteGate:
    """A fair lock taken by threads (`with gate:`) and by coroutines (`async with gate:`) alike.

    It is handed to waiters in the order they came. A coroutine waits on its event loop; a thread
    that runs an event loop never waits here (it would stop the loop a coroutine holding the gate
    needs to finish its write): it goes straight to SQLite, as it would without the gate.
    """

    def __init__(self, lock_file: str | os.PathLike[str] | None = None) -> None:
        """Args:
        lock_file: a file whose `flock` the holder also takes, so writers of other processes wait
            for it too (None: this process only). It is created at the first write.
        """
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[Callable[[], None]] = deque()  # each hands the gate to one waiter
        self._lock_file = lock_file
        self._fd: int | None = None  # the lock file, open from the first write; -1: cannot be

    @property
    def waiting(self) -> int:
        """How many threads and coroutines wait for the gate now."""
        with self._mutex:
            return len(self._waiters)

    def _take_or_queue(self, wake: Callable[[], None]) -> bool:
        """Take the free gate (True), or queue `wake` to be called when it is handed over (False)."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            self._waiters.append(wake)
            return False

    def acquire(self) -> bool:
        """Wait for the gate in this thread; False (not taken) on a thread that runs an event loop."""
        if _on_event_loop():
            return False
        handed = threading.Event()
        if not self._take_or_queue(handed.set):
            handed.wait()
        fd = self._file()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        return True

    async def aacquire(self) -> None:
        """Wait for the gate on the running event loop."""
        loop = asyncio.get_running_loop()
        handed: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_resolve, handed)

        if not self._take_or_queue(wake):
            try:
                await handed
            except asyncio.CancelledError:
                with self._mutex:
                    queued = wake in self._waiters
                    if queued:
                        self._waiters.remove(wake)
                if not queued:  # it was handed over as the task was cancelled: pass it on
                    self._hand_over()
                raise
        fd = self._file()
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:  # another process writes: wait in a thread, not on the loop
            pass
        locking = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
        try:
            await asyncio.shield(locking)
        except asyncio.CancelledError:
            # the thread takes the lock all the same: the gate stays held until it has, then is let go
            locking.add_done_callback(lambda _: self.release())
            raise

    def release(self) -> None:
        """Let go of the lock file, and hand the gate to the next waiter or free it."""
        fd = self._file()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        self._hand_over()

    def _file(self) -> int | None:
        """The lock file's descriptor (opened by the gate's holder, once), None without one."""
        if self._fd is None and self._lock_file is not None:
            try:
                self._fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o666)
                weakref.finalize(self, os.close, self._fd)
            except OSError:
                self._fd = -1
        return self._fd if self._fd is not None and self._fd >= 0 else None

    def _hand_over(self) -> None:
        with self._mutex:
            while self._waiters:
                wake = self._waiters.popleft()
                try:
                    wake()
                    return
                except RuntimeError:  # its event loop is closed: the next one
                    continue
            self._held = False

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        # `acquire` said False only on an event loop's thread, where nothing here is held
        if not _on_event_loop():
            self.release()

    async def __aenter__(self) -> None:
        await self.aacquire()

    async def __aexit__(self, *exc: Any) -> None:
        self.release()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


_GATES: weakref.WeakValueDictionary[str, WriteGate] = weakref.WeakValueDictionary()
_GATES_LOCK = threading.Lock()


def write_gate(path: str | os.PathLike[str]) -> WriteGate:
    """The gate of the SQLite file at `path` (one per file in this process, while anything holds it),
    shared with other processes through the lock file `<path>-gate`."""
    key = os.path.realpath(path)
    with _GATES_LOCK:
        gate = _GATES.get(key)
        if gate is None:
            gate = _GATES[key] = WriteGate(key + "-gate")
        return gate
