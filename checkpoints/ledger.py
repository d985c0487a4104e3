"""The run ledger: plain SQL tables beside the checkpoints, written as each node finishes.

The tables (`checkpoints.schema`) hold what a run did, queryable with SQL or pandas while it runs and
after it dies; the same code serves SQLite and PostgreSQL. Every operation is written once, as a
function of a SQLAlchemy connection (`checkpoints.writes`, `checkpoints.reads`, `checkpoints.lock`),
and run on a sync engine; from async code each transaction runs whole in a database thread
(`checkpoints.db_threads`): an async run never waits for the database on its event loop. A SQLite
file's writers in this process (every run's ledger and checkpointer) take turns through its
`checkpoints.gate`.

Example:
    ```python
    import sqlite3

    rows = sqlite3.connect("runs.sqlite").execute(
        "SELECT role, round, idx, input_tokens, output_tokens FROM calls WHERE thread_id = ?",
        ("my-thread",),
    ).fetchall()
    ```
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from langgraph_pdr.checkpoints import lock, reads, writes
from langgraph_pdr.checkpoints.db_threads import in_db_lane, in_db_thread
from langgraph_pdr.checkpoints.errors import (
    DatabaseBusyError,
    LeaseLostError,
    RunExistsError,
    RunLockedError,
    RunNotFoundError,
)
from langgraph_pdr.checkpoints.gate import WriteGate, write_gate
from langgraph_pdr.checkpoints.lock import new_lock_owner
from langgraph_pdr.checkpoints.schema import SchemaError, create_tables, ensure_schema, now
from langgraph_pdr.checkpoints.shared import Shared
from langgraph_pdr.checkpoints.writes import COMPLETED_REASONS, NO_DRAFTS
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.image_ref import ImageRef
from langgraph_pdr.state.records import CallRecord, Draft, DraftTurn, KeptReply, RunOutcome
from langgraph_pdr.state.result import PDRResult, RunSummary
from langgraph_pdr.state.spec import RunSpec

__all__ = [
    "COMPLETED_REASONS",
    "FINISHED",
    "NO_DRAFTS",
    "DatabaseBusyError",
    "LeaseLostError",
    "Ledger",
    "RunExistsError",
    "RunLockedError",
    "RunNotFoundError",
    "SchemaError",
    "create_tables",
    "db_timeout",
    "new_lock_owner",
    "now",
]

#: Statuses of runs that have ended; resuming them returns the stored result.
FINISHED = ("completed", "stopped")
#: Connections an engine keeps for one process's parallel calls.
POOL_SIZE = 16
#: Seconds a call waits for one of the engine's own connections when all are in use: queueing behind
#: this process's other runs, not a lock, so it is not `db_timeout()` (a run of 64 at once on a busy
#: machine waited more than 2 s for one, and failed, when it was).
POOL_WAIT_S = 300.0

T = TypeVar("T")


def db_timeout() -> float:
    """Seconds a write waits for another writer's lock: `$PDR_DB_TIMEOUT`, default 30."""
    try:
        return max(0.0, float(os.environ.get("PDR_DB_TIMEOUT", "30")))
    except ValueError:
        return 30.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL with `synchronous=NORMAL`: a commit survives a crashed or killed process without an
    fsync each (only a power cut may lose the last ones), as for the checkpoints."""
    cursor = dbapi_connection.cursor()
    _wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _wal(cursor: Any) -> None:
    """Put the file in WAL mode. Connections switching a new file at once are refused ("database is
    locked") without SQLite's busy handler waiting: such a connection tries again, until the
    write timeout (the file stays in WAL once one of them switched it)."""
    deadline = time.monotonic() + db_timeout()
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


#: The engines of the ledgers of one database, disposed with the last one.
_ENGINES = Shared()


def _sync_engine(url: str) -> Engine:
    pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_SIZE, "pool_timeout": POOL_WAIT_S}
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **pool)
    engine = create_engine(url, connect_args={"timeout": db_timeout(), "check_same_thread": False}, **pool)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _busy(exc: OperationalError, where: Any) -> DatabaseBusyError | None:
    if "locked" not in str(exc.orig) and "busy" not in str(exc.orig):
        return None
    return DatabaseBusyError(
        f"db: {where} is locked by another writer (waited {db_timeout():g} s; try again when it is done, "
        "or set PDR_DB_TIMEOUT)"
    )


class Ledger:
    """Writes and reads the run ledger in one database (a SQLAlchemy URL or engine).

    It implements `RunRecorder`: pass it as `PDRContext(recorder=...)` and every node's records land
    here as the node finishes (`record_many` from sync nodes, `arecord_many` from async ones). A
    ledger that holds a run's lease (`start_run(lock_owner=...)`, `holding`) checks it in every write
    of that run: once another process has taken the run over, writing raises `LeaseLostError`.
    """

    def __init__(self, url_or_engine: str | Engine) -> None:
        self._url: str | None = None
        self._gate: WriteGate | None = None  # a SQLite file's writers take turns (`checkpoints.gate`)
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
        elif url_or_engine in ("sqlite://", "sqlite:///:memory:"):
            self.engine = create_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            self._url = url_or_engine
            self.engine = _ENGINES.acquire(url_or_engine, lambda: _sync_engine(url_or_engine))
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
            self._gate = write_gate(database)
        self._lock = threading.Lock()  # this ledger's own writes, where there is no gate
        self._fences: dict[str, str] = {}  # thread id -> the lease (fencing token) this ledger holds
        # runs this ledger started and has held since -> the drafts it recorded for them: nobody else
        # can have recorded one (the lease), so reading a draft back needs no query (`recorded_draft`)
        self._fresh: dict[str, set[tuple[int, int]]] = {}
        try:
            ensure_schema(self.engine)
        except BaseException:
            self.dispose()
            raise

    # -- running operations ------------------------------------------------------------------------

    @property
    def _in_memory(self) -> bool:
        return self._url is None

    def _run(self, work: Callable[..., T], *args: Any) -> T:
        """`work(conn, *args)` in one transaction, one writer of this process at a time."""
        with self._gate or self._lock, self.engine.begin() as conn:
            return work(conn, *args)

    def _read(self, work: Callable[..., T], *args: Any) -> T:
        if self._in_memory:  # one connection for every thread: a reader returning it to the pool would
            with self._lock, self.engine.connect() as conn:  # roll back a writer's open transaction
                return work(conn, *args)
        with self.engine.connect() as conn:
            return work(conn, *args)

    async def _arun(self, work: Callable[..., T], *args: Any) -> T:
        """`_run` from async code: the whole transaction in a database thread, off the event loop; on
        a SQLite file, queued with this process's other writes of it: one hop for many (`in_db_lane`;
        a server database's writes need not take turns)."""
        if self._in_memory:  # nothing to wait for: no other connection can hold its lock
            return self._run(work, *args)
        if self._gate is None:
            return await in_db_thread(self._run, work, *args)
        return await in_db_lane(self._gate, self._run, work, *args)

    async def _aread(self, work: Callable[..., T], *args: Any) -> T:
        """`_read` from async code (readers never wait for SQLite's writer, but do for the network)."""
        if self._in_memory:
            return self._read(work, *args)
        return await in_db_thread(self._read, work, *args)

    # -- writing ---------------------------------------------------------------------------------

    def _records(self, conn: Connection, thread_id: str, records: list[Any]) -> None:
        owner = self._fences.get(thread_id)
        if owner is not None:
            lock.fence(conn, thread_id, owner)
        for record in records:
            conn.execute(*writes.record_statement(conn.dialect, thread_id, record))
            if isinstance(record, RunOutcome):  # the run ended: no node will read its kept replies
                conn.execute(*writes.kept_replies_forgotten(thread_id))

    def record(self, thread_id: str, record: Any) -> None:
        """Store one record (a `RunRecorder`)."""
        self.record_many(thread_id, [record])

    def record_many(self, thread_id: str, records: list[Any]) -> None:
        """Store records in one transaction (what one node made)."""
        self._run(self._records, thread_id, records)
        self._recorded(thread_id, records)

    async def arecord_many(self, thread_id: str, records: list[Any]) -> None:
        """`record_many` for a node on the event loop."""
        await self._arun(self._records, thread_id, records)
        self._recorded(thread_id, records)

    def _start(
        self,
        conn: Connection,
        thread_id: str,
        values: dict[str, Any],
        loaded: Sequence[tuple[ImageRef, bytes | None]],
    ) -> None:
        conn.execute(*writes.new_run(thread_id, **values))
        for statement in writes.image_statements(conn.dialect, thread_id, loaded):
            conn.execute(*statement)

    def _started(self, thread_id: str, lock_owner: str | None) -> None:
        if lock_owner:
            self._fences[thread_id] = lock_owner
            self._fresh[thread_id] = set()

    def _recorded(self, thread_id: str, records: list[Any]) -> None:
        """Note the drafts a fresh run recorded (after their transaction committed)."""
        seen = self._fresh.get(thread_id)
        if seen is not None:
            seen.update((r.round, r.index) for r in records if isinstance(r, Draft))

    def start_run(
        self,
        thread_id: str,
        *,
        question: str,
        config: PDRConfig,
        model: str | None = None,
        spec: RunSpec | None = None,
        lock_owner: str | None = None,
        images: Sequence[tuple[ImageRef, bytes | None]] = (),
    ) -> None:
        """Create the run's row (status `running`), leased to `lock_owner` when given.

        Raises:
            RunExistsError: a run with this thread id is already in the database.
            DatabaseBusyError: another writer held the database past `PDR_DB_TIMEOUT`.
        """
        values = dict(question=question, config=config, model=model, spec=spec, lock_owner=lock_owner)
        with self._start_errors(thread_id):
            self._run(self._start, thread_id, values, images)
        self._started(thread_id, lock_owner)

    async def astart_run(
        self,
        thread_id: str,
        *,
        question: str,
        config: PDRConfig,
        model: str | None = None,
        spec: RunSpec | None = None,
        lock_owner: str | None = None,
        images: Sequence[tuple[ImageRef, bytes | None]] = (),
    ) -> None:
        """Async twin of `start_run`."""
        values = dict(question=question, config=config, model=model, spec=spec, lock_owner=lock_owner)
        with self._start_errors(thread_id):
            await self._arun(self._start, thread_id, values, images)
        self._started(thread_id, lock_owner)

    @contextmanager
    def _start_errors(self, thread_id: str) -> Iterator[None]:
        try:
            yield
        except IntegrityError:
            raise RunExistsError(
                f"thread_id: a run {thread_id!r} already exists; resume it or pick another id"
            ) from None
        except OperationalError as exc:
            busy = _busy(exc, self.engine.url.database)
            if busy is None:
                raise
            raise busy from None

    def _status(self, conn: Connection, thread_id: str, status: str, error: str | None) -> None:
        conn.execute(*writes.status_update(thread_id, status, error, self._fences.get(thread_id)))

    def set_status(self, thread_id: str, status: str, *, error: str | None = None) -> None:
        """Mark a run `running`, `failed` or `interrupted` (finished runs get theirs from the graph);
        a ledger holding the run's lease changes nothing once it lost it."""
        self._run(self._status, thread_id, status, error)

    async def aset_status(self, thread_id: str, status: str, *, error: str | None = None) -> None:
        """Async twin of `set_status`."""
        await self._arun(self._status, thread_id, status, error)

    # -- the per-thread lease --------------------------------------------------------------------

    def acquire(self, thread_id: str, owner: str) -> None:
        """Lease the run to `owner` (see `checkpoints.lock.acquire`)."""
        self._run(lock.acquire, thread_id, owner)
        self._fences[thread_id] = owner

    async def aacquire(self, thread_id: str, owner: str) -> None:
        await self._arun(lock.acquire, thread_id, owner)
        self._fences[thread_id] = owner

    def release(self, thread_id: str, owner: str) -> None:
        self._fences.pop(thread_id, None)
        self._fresh.pop(thread_id, None)
        self._run(lock.release, thread_id, owner)

    async def arelease(self, thread_id: str, owner: str) -> None:
        self._fences.pop(thread_id, None)
        self._fresh.pop(thread_id, None)
        await self._arun(lock.release, thread_id, owner)

    def lease_owner(self, thread_id: str) -> str | None:
        """The lease (fencing token) this ledger holds on the run, if any: what a checkpointer on the
        same database checks in its own write transaction (`LeanSqliteSaver`)."""
        return self._fences.get(thread_id)

    def check_lease(self, thread_id: str) -> None:
        """Raise `LeaseLostError` when this ledger held the run's lease and another process took it
        over (the checkpointer calls it before each write: a read, no write lock)."""
        owner = self._fences.get(thread_id)
        if owner is not None:
            self._read(lock.check, thread_id, owner)

    async def acheck_lease(self, thread_id: str) -> None:
        owner = self._fences.get(thread_id)
        if owner is not None:
            await self._aread(lock.check, thread_id, owner)

    def _beat(self, thread_id: str, owner: str) -> Callable[[], None]:
        return lambda: self._run(lock.extend, thread_id, owner)

    @contextmanager
    def holding(self, thread_id: str, owner: str, *, acquire: bool = True) -> Iterator[None]:
        """Hold the run's lease (extended by a heartbeat) for the duration of the block."""
        if acquire:
            self.acquire(thread_id, owner)
        self._fences[thread_id] = owner
        try:
            with lock.heartbeat(self._beat(thread_id, owner)):
                yield
        finally:
            self.release(thread_id, owner)

    @asynccontextmanager
    async def aholding(self, thread_id: str, owner: str, *, acquire: bool = True) -> AsyncIterator[None]:
        """Async twin of `holding` (the heartbeat is a task on the event loop)."""
        if acquire:
            await self.aacquire(thread_id, owner)
        self._fences[thread_id] = owner
        try:
            # a beat hops alone: it never waits behind a batch of the file's other writes
            async with lock.aheartbeat(lambda: in_db_thread(self._run, lock.extend, thread_id, owner)):
                yield
        finally:
            await self.arelease(thread_id, owner)

    # -- reading ---------------------------------------------------------------------------------

    def list_runs(self, *, limit: int | None = None) -> list[RunSummary]:
        """Every run, newest first."""
        return self._read(reads.list_runs, limit)

    def interrupted_runs(self) -> list[dict[str, Any]]:
        """The runs that read as `interrupted`, oldest first (see `checkpoints.reads.interrupted_runs`)."""
        return self._read(reads.interrupted_runs)

    async def ainterrupted_runs(self) -> list[dict[str, Any]]:
        return await self._aread(reads.interrupted_runs)

    def run_row(self, thread_id: str) -> dict[str, Any] | None:
        return self._read(reads.run_row, thread_id)

    async def arun_row(self, thread_id: str) -> dict[str, Any] | None:
        return await self._aread(reads.run_row, thread_id)

    def load_result(self, thread_id: str) -> PDRResult:
        """The run's `PDRResult`, rebuilt from its rows."""
        return self._read(reads.load_result, thread_id)

    async def aload_result(self, thread_id: str) -> PDRResult:
        return await self._aread(reads.load_result, thread_id)

    def run_images(self, thread_id: str) -> list[tuple[ImageRef, bytes | None]]:
        """The run's images, in order, with their bytes (None for an http(s) image)."""
        return self._read(reads.run_images, thread_id)

    async def arun_images(self, thread_id: str) -> list[tuple[ImageRef, bytes | None]]:
        return await self._aread(reads.run_images, thread_id)

    def draft_turns(self, thread_id: str, round: int, index: int) -> list[DraftTurn]:
        """The turns a tool-using draft recorded so far (a resumed draft goes on from them)."""
        return self._read(reads.one_draft_turns, thread_id, round, index)

    async def adraft_turns(self, thread_id: str, round: int, index: int) -> list[DraftTurn]:
        return await self._aread(reads.one_draft_turns, thread_id, round, index)

    def _never_recorded(self, thread_id: str, round: int, index: int) -> bool:
        """Whether this ledger knows, without a query, that the draft was never recorded: it started
        the run, has held it since, and did not record the draft."""
        seen = self._fresh.get(thread_id)
        return seen is not None and (round, index) not in seen

    def recorded_draft(self, thread_id: str, round: int, index: int) -> Draft | None:
        """Draft (`round`, `index`) as recorded whole, with its call (a node run again reads it back)."""
        if self._never_recorded(thread_id, round, index):
            return None
        return self._read(reads.recorded_draft, thread_id, round, index)

    async def arecorded_draft(self, thread_id: str, round: int, index: int) -> Draft | None:
        if self._never_recorded(thread_id, round, index):
            return None
        return await self._aread(reads.recorded_draft, thread_id, round, index)

    def kept_reply(self, thread_id: str, key: str) -> KeptReply | None:
        """A reply a node's call returned before the node ended (a node run again reads it back)."""
        return self._read(reads.kept_reply, thread_id, key)

    def failed_attempts(self, thread_id: str) -> list[CallRecord]:
        """The run's billed failed attempts."""
        return self._read(reads.failed_attempts, thread_id)

    async def afailed_attempts(self, thread_id: str) -> list[CallRecord]:
        return await self._aread(reads.failed_attempts, thread_id)

    # -- closing ---------------------------------------------------------------------------------

    def dispose(self) -> None:
        """Give the engine back (it is disposed with the last ledger of its database)."""
        if self._url is None:
            self.engine.dispose()
            return
        engine = _ENGINES.release(self._url)
        if engine is not None:
            engine.dispose()

    async def adispose(self) -> None:
        """`dispose` from async code."""
        if self._in_memory:
            self.dispose()
            return
        await in_db_thread(self.dispose)
