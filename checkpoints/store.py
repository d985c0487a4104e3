"""Opening a run store: a LangGraph checkpointer and the run ledger, in one database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from langgraph_pdr.checkpoints.ledger import Ledger, db_timeout
from langgraph_pdr.checkpoints.savers import LeanAsyncSqliteSaver, LeanSqliteSaver, compressed_serde

MEMORY = ":memory:"
#: Below this much free space a run is refused before it starts (a run writes a few hundred KB).
MIN_FREE_BYTES = 1 << 20
DB_ENV = "PDR_DB"


def default_db() -> str:
    """`$PDR_DB`, else `runs.sqlite` in the user's data directory."""
    env = os.environ.get(DB_ENV)
    if env:
        return env
    from platformdirs import user_data_dir

    return str(Path(user_data_dir("langgraph-pdr", appauthor=False)) / "runs.sqlite")


def resolve_db(db: str | Path | None) -> str:
    """Where a run goes: `db`, else the default; `":memory:"` keeps it in memory."""
    return str(db) if db is not None else default_db()


@dataclass
class Store:
    """A checkpointer and the ledger that share one database."""

    saver: Any
    ledger: Ledger
    location: str


def _sqlite_path(db: str | Path) -> Path:
    path = Path(str(db).removeprefix("sqlite:///")).expanduser()
    if path.exists() and path.is_dir():
        raise ValueError(f"db: {path} is a directory; give a database file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"db: cannot create the directory of {path}: {exc.strerror}") from None
    fs = os.statvfs(path.parent)
    if fs.f_flag & os.ST_RDONLY:
        raise ValueError(f"db: {path.parent} is on a read-only file system")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"db: {path} is not writable (check its directory's permissions)")
    free = fs.f_bavail * fs.f_frsize
    if free < MIN_FREE_BYTES:
        raise ValueError(f"db: the disk holding {path} is full ({free:,} bytes free)")
    return path


def _ledger(path: Path) -> Ledger:
    """The ledger of a SQLite file, with one clear error for a file that is not a usable database."""
    from sqlalchemy.exc import DatabaseError, OperationalError

    try:
        return Ledger(f"sqlite:///{path}")
    except (DatabaseError, OperationalError) as exc:
        reason = str(getattr(exc, "orig", exc)) or type(exc).__name__
        raise ValueError(f"db: cannot use {path} as a run database: {reason}") from None


@contextmanager
def _memory_store() -> Iterator[Store]:
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
    import sqlite3

    path = _sqlite_path(db)
    ledger = _ledger(path)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=db_timeout())
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL (set by the saver): crash-safe, fewer fsyncs
    try:
        saver = LeanSqliteSaver(conn, serde=compressed_serde())
        saver.setup()
        yield Store(saver, ledger, str(path))
    finally:
        conn.close()
        ledger.dispose()


@asynccontextmanager
async def aopen_store(db: str | Path | None) -> AsyncIterator[Store]:
    """Async twin of `open_store` (an `AsyncSqliteSaver` for files)."""
    db = resolve_db(db)
    if db == MEMORY:
        with _memory_store() as store:
            yield store
        return
    import aiosqlite

    path = _sqlite_path(db)
    ledger = _ledger(path)
    try:
        async with aiosqlite.connect(str(path), timeout=db_timeout()) as conn:
            await conn.execute("PRAGMA synchronous=NORMAL")
            saver = LeanAsyncSqliteSaver(conn, serde=compressed_serde())
            await saver.setup()
            yield Store(saver, ledger, str(path))
    finally:
        ledger.dispose()
