"""Opening a run store: a LangGraph checkpointer and the run ledger, in one database.

The checkpointers (LangGraph's) are imported when a store is opened: reading the ledger alone
(`open_ledger`, `stored_runs`: `pdr runs`) does not need them, and starts fast.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, InterfaceError, OperationalError

from langgraph_pdr.checkpoints.db_threads import in_db_thread
from langgraph_pdr.checkpoints.ledger import DatabaseBusyError, Ledger, db_timeout
from langgraph_pdr.checkpoints.shared import Shared
from langgraph_pdr.state.result import RunSummary

MEMORY = ":memory:"
#: Below this much free space a run is refused before it starts (a run writes a few hundred KB).
MIN_FREE_BYTES = 1 << 20
#: Connections a PostgreSQL store keeps for one run's parallel calls.
PG_POOL_SIZE = 16
PG_MISSING = "db: PostgreSQL needs: pip install 'langgraph-pdr[postgres]'"
DB_ENV = "PDR_DB"


def default_db() -> str:
    """`$PDR_DB`, else `runs.sqlite` in the user's data directory."""
    env = os.environ.get(DB_ENV)
    if env:
        return env

    return str(Path(user_data_dir("langgraph-pdr", appauthor=False)) / "runs.sqlite")


#: What `db` may name: a SQLite file (a path, or a `sqlite:///` URL) or a PostgreSQL URL.
SUPPORTED_DBS = "a SQLite file path (or sqlite:///PATH) or a postgresql:// URL"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def resolve_db(db: str | Path | None) -> str:
    """Where a run goes: `db`, else the default; `":memory:"` keeps it in memory.

    Raises:
        ValueError: an empty `db`, or a URL of a database other than SQLite and PostgreSQL.

    Example:
        ```python
        from langgraph_pdr.checkpoints.store import resolve_db

        try:
            resolve_db("mysql://me@db.example/runs")
        except ValueError as exc:
            assert str(exc).startswith("db: mysql:// is not supported; give a SQLite file path")
        ```
    """
    if db is None:
        db = default_db()
    if not str(db).strip():
        raise ValueError(f"db: empty; give {SUPPORTED_DBS}")
    scheme = _SCHEME.match(str(db))
    if scheme and not (is_postgres(db) or str(db).startswith("sqlite:///")):
        raise ValueError(f"db: {scheme.group(1)}:// is not supported; give {SUPPORTED_DBS}")
    return str(db)


@dataclass
class Store:
    """A checkpointer and the ledger that share one database."""

    saver: Any
    ledger: Ledger
    location: str


def _file(db: str | Path) -> Path:
    """The SQLite file of `db`, absolute: engines and schema checks are shared per file in a process,
    so a relative path must not name another file after a change of directory."""
    return Path(str(db).removeprefix("sqlite:///")).expanduser().absolute()


def db_exists(db: str | Path | None) -> bool:
    """Whether `db` can hold runs already: a SQLite file that exists, or any PostgreSQL URL.

    Read-only commands check this first, so a mistyped path is reported, not created.
    """
    db = resolve_db(db)
    return db == MEMORY or is_postgres(db) or _file(db).exists()  # a directory is refused on opening


def _location(db: str | Path, *, create: bool) -> Path:
    """The SQLite file of `db`: not a directory, in a directory that exists. Only the default
    location's directory is created (with `create`); the directory of a path someone gave must exist,
    so a mistyped `--db` is an error before anything runs, not a new directory tree."""
    path = _file(db)
    if path.is_dir():
        raise ValueError(f"db: {path} is a directory; give a database file path")
    if str(db) == default_db() and not os.environ.get(DB_ENV):
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ValueError(f"db: cannot create the directory of {path}: {exc.strerror}") from None
    elif not path.parent.is_dir():
        raise ValueError(f"db: the directory {path.parent} does not exist (create it, or give another path)")
    return path


def _sqlite_path(db: str | Path) -> Path:
    """The SQLite file of `db`, checked (see `_location`): writable, on a disk with room."""
    path = _location(db, create=True)
    fs = os.statvfs(path.parent)
    if fs.f_flag & os.ST_RDONLY:
        raise ValueError(f"db: {path.parent} is on a read-only file system")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"db: {path} is not writable (check its directory's permissions)")
    free = fs.f_bavail * fs.f_frsize
    if free < MIN_FREE_BYTES:
        raise ValueError(f"db: the disk holding {path} is full ({free:,} bytes free)")
    return path


def check_db(db: str | Path | None) -> None:
    """Before a run is prepared: a SQLite file someone named must be in a directory that exists (the
    rest, room and permissions, is checked when the store is opened)."""
    db = resolve_db(db)
    if db != MEMORY and not is_postgres(db):
        _location(db, create=False)


def is_postgres(db: str | Path | None) -> bool:
    """Whether `db` is a PostgreSQL URL (`postgresql://user@host:port/dbname`)."""
    return str(db or "").startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def _postgres_urls(db: str) -> tuple[str, str, str]:
    """(libpq conninfo, SQLAlchemy URL, the URL without its password for messages)."""

    url = make_url(str(db).replace("postgres://", "postgresql://", 1))
    plain = url.set(drivername="postgresql")
    return (
        plain.render_as_string(hide_password=False),
        url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False),
        plain.render_as_string(hide_password=True),
    )


def _ledger(target: Path | str) -> Ledger:
    """The ledger of a SQLite file or a PostgreSQL URL, with one clear error for a database that
    cannot be used."""

    if isinstance(target, Path):
        url, shown = f"sqlite:///{target}", str(target)
    else:
        _, url, shown = _postgres_urls(target)
    try:
        return Ledger(url)
    except (DatabaseError, OperationalError, InterfaceError) as exc:
        reason = (str(getattr(exc, "orig", exc)) or type(exc).__name__).strip().splitlines()[0]
        raise ValueError(f"db: cannot use {shown} as a run database: {reason}") from None
    except ImportError:
        raise ValueError(PG_MISSING) from None


def open_ledger(db: str | Path | None) -> Ledger:
    """The run ledger alone, of a SQLite file or a PostgreSQL URL (None: the default database)."""
    db = resolve_db(db)
    if db == MEMORY:
        raise ValueError("db: ':memory:' holds no runs between calls; give a database file or URL")
    return _ledger(db if is_postgres(db) else _sqlite_path(db))


def stored_runs(db: str | Path | None, *, limit: int | None = None) -> list[RunSummary]:
    """The runs of `db`, newest first, read from the ledger alone (none when there is no database).

    Example:
        ```python
        from langgraph_pdr.checkpoints.store import stored_runs

        assert stored_runs("no-such-file.sqlite") == [] and stored_runs(":memory:") == []
        ```
    """
    db = resolve_db(db)
    if db == MEMORY or not db_exists(db):
        return []
    ledger = open_ledger(db)
    try:
        return ledger.list_runs(limit=limit)
    finally:
        ledger.dispose()


#: PostgreSQL databases whose checkpoint tables this process has set up.
_PG_READY: set[str] = set()
_PG_SETUP_LOCK = threading.Lock()
#: The advisory lock that serializes `setup()` (its migrations) across processes.
_PG_SETUP_KEY = 0x5044_5253  # "PDRS"


def _locked(conn: Any) -> bool:
    """Take the setup's advisory lock if it is free (never wait for it inside a statement)."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_PG_SETUP_KEY,)).fetchone()
    return bool(row and row["ok"])


def _setup_postgres(conninfo: str) -> None:
    """Create the checkpoint tables once per process, one process at a time.

    The cross-process lock is taken with `pg_try_advisory_lock` and polled: a session left waiting in
    `pg_advisory_lock` keeps a statement open, which the setup's `CREATE INDEX CONCURRENTLY` would wait
    for while that session waits for the lock (a deadlock PostgreSQL does not detect)."""
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver

    with _PG_SETUP_LOCK:
        if conninfo in _PG_READY:
            return
        with psycopg.connect(conninfo, **_pool_kwargs()) as conn:
            deadline = time.monotonic() + max(db_timeout(), 1.0)
            while not _locked(conn):
                if time.monotonic() > deadline:
                    raise DatabaseBusyError(
                        "db: another process is setting up this PostgreSQL database; "
                        "try again when it is done"
                    )
                time.sleep(0.05)
            try:
                PostgresSaver(conn).setup()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_PG_SETUP_KEY,))
        _PG_READY.add(conninfo)


def _pool_kwargs() -> dict[str, Any]:
    from psycopg.rows import dict_row

    return {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}


@contextmanager
def _postgres_store(db: str) -> Iterator[Store]:
    from langgraph_pdr.checkpoints.savers import compressed_serde, fenced

    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg_pool import ConnectionPool
    except ImportError:
        raise ValueError(PG_MISSING) from None
    conninfo, _, shown = _postgres_urls(db)
    ledger = _ledger(db)
    pool = ConnectionPool(conninfo, min_size=1, max_size=PG_POOL_SIZE, kwargs=_pool_kwargs(), open=True)
    try:
        saver = fenced(PostgresSaver, ledger, pool, serde=compressed_serde())
        _setup_postgres(conninfo)
        yield Store(saver, ledger, shown)
    finally:
        pool.close()
        ledger.dispose()


@asynccontextmanager
async def _apostgres_store(db: str) -> AsyncIterator[Store]:
    from langgraph_pdr.checkpoints.savers import compressed_serde, fenced

    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg_pool import AsyncConnectionPool
    except ImportError:
        raise ValueError(PG_MISSING) from None
    conninfo, _, shown = _postgres_urls(db)
    ledger = await asyncio.to_thread(_ledger, db)
    pool = AsyncConnectionPool(conninfo, min_size=1, max_size=PG_POOL_SIZE, kwargs=_pool_kwargs(), open=False)
    try:
        await pool.open()
        saver = fenced(AsyncPostgresSaver, ledger, pool, serde=compressed_serde())
        await asyncio.to_thread(_setup_postgres, conninfo)
        yield Store(saver, ledger, shown)
    finally:
        await pool.close()
        await ledger.adispose()


@contextmanager
def _memory_store() -> Iterator[Store]:
    from langgraph.checkpoint.memory import InMemorySaver

    ledger = Ledger("sqlite://")
    try:
        yield Store(InMemorySaver(), ledger, MEMORY)
    finally:
        ledger.dispose()


@contextmanager
def open_store(db: str | Path | None) -> Iterator[Store]:
    """A store for sync runs: `":memory:"` keeps everything in memory; a path is a SQLite file;
    None is the default database (`default_db`)."""
    db = resolve_db(db)
    if db == MEMORY:
        with _memory_store() as store:
            yield store
        return
    if is_postgres(db):
        with _postgres_store(db) as store:
            yield store
        return

    from langgraph_pdr.checkpoints.savers import LeanSqliteSaver

    path = _sqlite_path(db)
    ledger = _ledger(path)
    try:
        saver = _sqlite_saver(LeanSqliteSaver, path, ledger)
        try:
            yield Store(saver, ledger, str(path))
        finally:
            _close_saver(path)
    finally:
        ledger.dispose()


@dataclass
class _SaverConnection:
    """The checkpointer's connection to one SQLite file, shared by this process's open stores of it
    (their savers take turns on `lock`): a run no longer opens, sets up and closes its own, and one
    connection's page cache serves them all."""

    conn: sqlite3.Connection
    lock: threading.RLock = field(default_factory=threading.RLock)
    ready: bool = False  # the checkpoint tables are set up


#: The checkpointer's connection of each SQLite file, closed with the last store that uses it.
_SAVER_CONNECTIONS = Shared()


def _connect(path: Path) -> _SaverConnection:
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=db_timeout())
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL (set by the saver): crash-safe, fewer fsyncs
    return _SaverConnection(conn)


def _sqlite_saver(saver_class: type, path: Path, ledger: Ledger) -> Any:
    """A SQLite saver of the file at `path`, ready, checking `ledger`'s lease in its writes (give it
    back with `_close_saver`)."""
    from langgraph_pdr.checkpoints.savers import compressed_serde

    shared = _SAVER_CONNECTIONS.acquire(os.path.realpath(path), lambda: _connect(path))
    try:
        with shared.lock:
            saver = saver_class(shared.conn, serde=compressed_serde(), ledger=ledger, lock=shared.lock)
            if shared.ready:
                saver.is_setup = True
            else:
                saver.setup()
                shared.ready = True
    except BaseException:
        _close_saver(path)
        raise
    return saver


def _close_saver(path: Path) -> None:
    """Give back a saver's connection (closed when it was the last)."""
    shared = _SAVER_CONNECTIONS.release(os.path.realpath(path))
    if shared is not None:
        shared.conn.close()


@asynccontextmanager
async def aopen_store(db: str | Path | None) -> AsyncIterator[Store]:
    """Async twin of `open_store` (an `AsyncSqliteSaver` for files)."""
    db = resolve_db(db)
    if db == MEMORY:
        with _memory_store() as store:
            yield store
        return
    if is_postgres(db):
        async with _apostgres_store(db) as store:
            yield store
        return

    from langgraph_pdr.checkpoints.savers import ThreadedSqliteSaver

    path = _sqlite_path(db)
    ledger = await in_db_thread(_ledger, path)  # it may create or migrate the tables
    try:
        saver = await in_db_thread(_sqlite_saver, ThreadedSqliteSaver, path, ledger)
        try:
            yield Store(saver, ledger, str(path))
        finally:
            await in_db_thread(_close_saver, path)
    finally:
        await ledger.adispose()
