"""The run ledger: plain SQL tables beside the checkpoints, written as each node finishes.

Tables `runs`, `rounds`, `drafts`, `calls` and `workspaces` (SQLAlchemy Core, so the same code serves
SQLite and PostgreSQL) hold what a run did, queryable with SQL or pandas while it runs and after it
dies. Rows are keyed by (thread, round, index[, role]) and written as upserts, so a node that re-runs on
resume replaces its rows instead of duplicating them.

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

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.records import (
    CallRecord,
    Critique,
    Draft,
    RoundRecord,
    RoundSummary,
    RunOutcome,
    Verification,
    Workspace,
)
from langgraph_pdr.state.result import PDRResult, RunSummary
from langgraph_pdr.state.spec import RunSpec

#: A run's lock lasts this long without a heartbeat (a crashed process on another host).
LOCK_TTL_S = 60.0
HEARTBEAT_S = 10.0
#: Statuses of runs that have ended; resuming them returns the stored result.
FINISHED = ("completed", "stopped")
#: The stop reason of a round whose every draft failed: the run is `failed` and resumable.
NO_DRAFTS = "no_drafts"
#: Stop reasons of runs that ended as planned: the schedule ran out, the drafts agreed early
#: (`early_stop`), or the last round was cut off before any answer (the run answers with an earlier one).
COMPLETED_REASONS = ("completed", "converged", "unfinished")

class RunNotFoundError(ValueError):
    """No run with this thread id in this database."""

class RunExistsError(ValueError):
    """A run with this thread id already exists."""

class RunLockedError(RuntimeError):
    """Another process is running this thread right now."""


class DatabaseBusyError(RuntimeError):
    """Another process holds the database's write lock for longer than `PDR_DB_TIMEOUT` seconds."""


def db_timeout() -> float:
    """Seconds a write waits for another writer's lock: `$PDR_DB_TIMEOUT`, default 30."""
    try:
        return max(0.0, float(os.environ.get("PDR_DB_TIMEOUT", "30")))
    except ValueError:
        return 30.0

def new_lock_owner() -> str:
    """`host:pid:nonce`, so a lock left by a dead process on this host can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another host: only the lock's expiry can tell
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("thread_id", String(200), primary_key=True),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("question", Text, nullable=False),
    Column("method", String(40), nullable=False),
    Column("config", JSON, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("model", String(200)),
    Column("status", String(20), nullable=False),
    Column("stop_reason", String(40)),
    Column("answer", Text),
    Column("text", Text),
    Column("b_seq", Integer, nullable=False, default=0),
    Column("b_total", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("lock_owner", String(200)),
    Column("lock_until", Float),
)

rounds = Table(
    "rounds",
    metadata,
    Column("thread_id", String(200), primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("width", Integer, nullable=False),
    Column("survivors", Integer),
    Column("critique", Text),
)

drafts = Table(
    "drafts",
    metadata,
    Column("thread_id", String(200), primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("ok", Boolean, nullable=False),
    Column("unfinished", Boolean, nullable=False, default=False),
    Column("text", Text, nullable=False),
    Column("answer", Text),
    Column("score", Float),
    Column("verification", Text),
    Column("workspace_idx", Integer),
    Column("error", Text),
)

def _call_columns() -> list[Column]:
    """The columns of one model call (fresh objects: a Column belongs to one table)."""
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("thread_id", String(200), nullable=False, index=True),
        Column("role", String(20), nullable=False),
        Column("round", Integer, nullable=False),
        Column("idx", Integer, nullable=False),
        Column("stage", String(60), nullable=False),
        Column("input_tokens", Integer, nullable=False),
        Column("output_tokens", Integer, nullable=False),
        Column("usage_source", String(20), nullable=False),
        Column("latency_s", Float, nullable=False),
        Column("finish_reason", String(40)),
        Column("model", String(200)),
        Column("error", Text),
    ]


calls = Table(
    "calls", metadata, *_call_columns(),
    UniqueConstraint("thread_id", "role", "round", "idx", name="calls_key"),
)

#: Attempts that failed after the provider billed them (an empty completion): insert-only, kept apart
#: from `calls` (one row per call) so that B_total = Σ calls + Σ failed_calls.
failed_calls = Table("failed_calls", metadata, *_call_columns())

workspaces = Table(
    "workspaces",
    metadata,
    Column("thread_id", String(200), primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("counted_by", String(60), nullable=False),
    Column("distiller", String(60), nullable=False),
    Column("sources", JSON, nullable=False),
)

_CREATE_LOCK = threading.Lock()


def create_tables(meta: MetaData, engine: Engine) -> None:
    """`create_all`, safe when several threads or processes open a new database at once."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    with _CREATE_LOCK:
        try:
            meta.create_all(engine)
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if "already exists" not in str(exc.orig) and "duplicate key" not in str(exc.orig):
                raise
            meta.create_all(engine)  # another process created them between the check and the create


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL with `synchronous=NORMAL`: a commit survives a crashed or killed process without an
    fsync each (only a power cut may lose the last ones), as for the checkpoints."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")

def _without(row: Any, *names: str) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in names}

class Ledger:
    """Writes and reads the run ledger in one database (a SQLAlchemy URL or engine).

    It implements `RunRecorder`: pass it as `PDRContext(recorder=...)` and every node's records land
    here as the node finishes.
    """

    def __init__(self, url_or_engine: str | Engine) -> None:
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
        elif url_or_engine in ("sqlite://", "sqlite:///:memory:"):
            self.engine = create_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        elif url_or_engine.startswith("sqlite"):
            self.engine = create_engine(url_or_engine, connect_args={"timeout": db_timeout()})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url_or_engine, pool_pre_ping=True)
        self._lock = threading.Lock()
        create_tables(metadata, self.engine)

    # -- writing ---------------------------------------------------------------------------------

    def _upsert_stmt(self, table: Table, values: dict[str, Any], keys: list[str]) -> Any:
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(table).values(**values)
        changes = {k: v for k, v in values.items() if k not in keys}
        return stmt.on_conflict_do_update(index_elements=keys, set_=changes) if changes else (
            stmt.on_conflict_do_nothing(index_elements=keys)
        )

    @staticmethod
    def _update_stmt(table: Table, where: dict[str, Any], values: dict[str, Any]) -> Any:
        return update(table).where(*[table.c[k] == v for k, v in where.items()]).values(**values)

    def _execute(self, *stmts: Any) -> None:
        """One transaction for the statements (one commit per node, not per row)."""
        with self._lock, self.engine.begin() as conn:
            for stmt in stmts:
                conn.execute(stmt)

    def _upsert(self, table: Table, values: dict[str, Any], keys: list[str]) -> None:
        self._execute(self._upsert_stmt(table, values, keys))

    def _update(self, table: Table, where: dict[str, Any], values: dict[str, Any]) -> None:
        self._execute(self._update_stmt(table, where, values))

    def start_run(
        self,
        thread_id: str,
        *,
        question: str,
        config: PDRConfig,
        model: str | None = None,
        spec: RunSpec | None = None,
        lock_owner: str | None = None,
    ) -> None:
        """Create the run's row (status `running`), locked by `lock_owner` when given.

        Raises:
            RunExistsError: a run with this thread id is already in the database.
        """
        from sqlalchemy.exc import IntegrityError, OperationalError

        now = _now()
        values = {
            "thread_id": thread_id,
            "created_at": now,
            "updated_at": now,
            "question": question,
            "method": config.method,
            "config": config.model_dump(mode="json"),
            "spec": (spec or RunSpec()).model_dump(mode="json"),
            "model": model,
            "status": "running",
            "lock_owner": lock_owner,
            "lock_until": time.time() + LOCK_TTL_S if lock_owner else None,
        }
        try:
            with self._lock, self.engine.begin() as conn:
                conn.execute(runs.insert().values(**values))
        except IntegrityError:
            raise RunExistsError(
                f"thread_id: a run {thread_id!r} already exists; resume it or pick another id"
            ) from None
        except OperationalError as exc:
            if "locked" not in str(exc.orig):
                raise
            raise DatabaseBusyError(
                f"db: {self.engine.url.database} is locked by another writer (waited {db_timeout():g} s; "
                "try again when it is done, or set PDR_DB_TIMEOUT)"
            ) from None

    # -- the per-thread lock ---------------------------------------------------------------------

    def acquire(self, thread_id: str, owner: str) -> None:
        """Lock the run for `owner`, taking over a lock whose holder died or expired.

        Raises:
            RunNotFoundError: no such run.
            RunLockedError: a live process holds it.
        """
        now = time.time()
        with self._lock, self.engine.begin() as conn:
            row = conn.execute(
                select(runs.c.lock_owner, runs.c.lock_until).where(runs.c.thread_id == thread_id)
            ).first()
            if row is None:
                raise RunNotFoundError(f"thread_id: no run {thread_id!r} in this database")
            held = row.lock_owner
            if held and held != owner and (row.lock_until or 0) > now and _owner_alive(held):
                raise RunLockedError(
                    f"thread_id: run {thread_id!r} is being run by another process ({held}); "
                    "wait for it to finish"
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
                raise RunLockedError(
                    f"thread_id: run {thread_id!r} was just taken by another process"
                )

    def refresh(self, thread_id: str, owner: str) -> None:
        self._update(runs, {"thread_id": thread_id, "lock_owner": owner},
                     {"lock_until": time.time() + LOCK_TTL_S})

    def release(self, thread_id: str, owner: str) -> None:
        self._update(runs, {"thread_id": thread_id, "lock_owner": owner},
                     {"lock_owner": None, "lock_until": None})

    @contextmanager
    def holding(self, thread_id: str, owner: str, *, acquire: bool = True) -> Iterator[None]:
        """Hold the run's lock (with a heartbeat) for the duration of the block."""
        if acquire:
            self.acquire(thread_id, owner)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_S):
                try:
                    self.refresh(thread_id, owner)
                except Exception:  # the run itself will report a broken database
                    pass

        heart = threading.Thread(target=beat, name="pdr-lock-heartbeat", daemon=True)
        heart.start()
        try:
            yield
        finally:
            stop.set()
            heart.join(timeout=5)
            self.release(thread_id, owner)

    def set_status(self, thread_id: str, status: str, *, error: str | None = None) -> None:
        """Mark a run `running`, `failed` or `interrupted` (finished runs get theirs from the graph)."""
        self._update(runs, {"thread_id": thread_id}, {"status": status, "error": error, "updated_at": _now()})

    def record(self, thread_id: str, record: Any) -> None:
        """Store one record (a `RunRecorder`)."""
        self.record_many(thread_id, [record])

    def record_many(self, thread_id: str, records: list[Any]) -> None:
        """Store records in one transaction (what one node made)."""
        self._execute(*(self._statement(thread_id, r) for r in records))

    async def arecord_many(self, thread_id: str, records: list[Any]) -> None:
        """`record_many` for a node on the event loop.

        A SQLite write is made at once when it needs no waiting; otherwise it waits for the lock in
        a worker thread, since waiting on the loop would block the async checkpointer's commit,
        which holds that lock. Other databases are written from a worker thread.
        """
        stmts = [self._statement(thread_id, r) for r in records]
        if not self._execute_now(stmts):
            await asyncio.to_thread(self._execute, *stmts)

    def _execute_now(self, stmts: list[Any]) -> bool:
        """One SQLite transaction for `stmts` if neither this ledger nor the database is busy."""
        from sqlalchemy.exc import OperationalError

        if self.engine.dialect.name != "sqlite" or not self._lock.acquire(blocking=False):
            return False
        try:
            with self.engine.connect() as conn:
                waited = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
                conn.exec_driver_sql("PRAGMA busy_timeout = 0")
                try:
                    for stmt in stmts:
                        conn.execute(stmt)
                    conn.commit()
                    return True
                except OperationalError as exc:
                    conn.rollback()
                    if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                        return False
                    raise
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(waited)}")
                    conn.commit()
        finally:
            self._lock.release()

    def _statement(self, thread_id: str, record: Any) -> Any:
        if isinstance(record, CallRecord):
            values = record.model_dump()
            values["idx"] = values.pop("index")
            if record.error:
                return failed_calls.insert().values(thread_id=thread_id, **values)
            return self._upsert_stmt(calls, {"thread_id": thread_id, **values},
                                     ["thread_id", "role", "round", "idx"])
        if isinstance(record, Draft):
            return self._upsert_stmt(
                drafts,
                {
                    "thread_id": thread_id,
                    "round": record.round,
                    "idx": record.index,
                    "ok": record.ok,
                    "unfinished": record.unfinished,
                    "text": record.text,
                    "answer": record.answer,
                    "workspace_idx": record.workspace_index,
                    "error": record.error,
                },
                ["thread_id", "round", "idx"],
            )
        elif isinstance(record, Verification):
            return self._update_stmt(
                drafts,
                {"thread_id": thread_id, "round": record.round, "idx": record.index},
                {"score": record.score, "verification": record.text or record.error},
            )
        elif isinstance(record, Workspace):
            return self._upsert_stmt(
                workspaces,
                {
                    "thread_id": thread_id,
                    "round": record.round,
                    "idx": record.index,
                    "text": record.text,
                    "tokens": record.tokens,
                    "counted_by": record.counted_by,
                    "distiller": record.distiller,
                    "sources": list(record.sources),
                },
                ["thread_id", "round", "idx"],
            )
        elif isinstance(record, RoundSummary):
            return self._upsert_stmt(
                rounds,
                {"thread_id": thread_id, **record.model_dump()},
                ["thread_id", "round"],
            )
        elif isinstance(record, Critique):
            return self._update_stmt(rounds, {"thread_id": thread_id, "round": record.round},
                                     {"critique": record.text})
        elif isinstance(record, RunOutcome):
            status = "failed" if record.stop_reason == NO_DRAFTS else (
                "completed" if record.stop_reason in COMPLETED_REASONS else "stopped")
            return self._update_stmt(
                runs,
                {"thread_id": thread_id},
                {**record.model_dump(), "status": status, "updated_at": _now()},
            )
        raise TypeError(f"the ledger does not store {type(record).__name__}")

    # -- reading ---------------------------------------------------------------------------------

    def list_runs(self, *, limit: int | None = None) -> list[RunSummary]:
        """Every run, newest first."""
        query = select(runs).order_by(runs.c.created_at.desc(), runs.c.thread_id)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        fields = set(RunSummary.model_fields)
        return [
            RunSummary.model_validate(
                {**{k: v for k, v in r._mapping.items() if k in fields},
                 "b_seq": r.b_seq or 0, "b_total": r.b_total or 0}
            )
            for r in rows
        ]

    def run_row(self, thread_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.thread_id == thread_id)).first()
        return dict(row._mapping) if row else None

    def load_result(self, thread_id: str) -> PDRResult:
        """The run's `PDRResult`, rebuilt from its rows."""
        run = self.run_row(thread_id)
        if run is None:
            raise RunNotFoundError(f"thread_id: no run {thread_id!r} in this database")
        with self.engine.connect() as conn:
            call_rows = conn.execute(
                select(calls).where(calls.c.thread_id == thread_id).order_by(calls.c.id)
            ).all()
            failed_rows = conn.execute(
                select(failed_calls).where(failed_calls.c.thread_id == thread_id).order_by(failed_calls.c.id)
            ).all()
            round_rows = conn.execute(
                select(rounds).where(rounds.c.thread_id == thread_id).order_by(rounds.c.round)
            ).all()
            draft_rows = conn.execute(
                select(drafts)
                .where(drafts.c.thread_id == thread_id)
                .order_by(drafts.c.round, drafts.c.idx)
            ).all()
            ws_rows = conn.execute(
                select(workspaces)
                .where(workspaces.c.thread_id == thread_id)
                .order_by(workspaces.c.round, workspaces.c.idx)
            ).all()
        call_list = [
            CallRecord(index=r.idx, **_without(r, "id", "thread_id", "idx")) for r in call_rows
        ]
        by_key = {(c.role, c.round, c.index): c for c in call_list}
        per_round: dict[int, RoundRecord] = {}
        config = PDRConfig.model_validate(run["config"])

        def round_of(n: int) -> RoundRecord:
            if n not in per_round:
                width = config.width(n) if n <= config.rounds else 0
                per_round[n] = RoundRecord(round=n, width=width)
            return per_round[n]

        for r in round_rows:
            rec = round_of(r.round)
            rec.width, rec.critique = r.width, r.critique
        for r in draft_rows:
            round_of(r.round).drafts.append(
                Draft(
                    round=r.round,
                    index=r.idx,
                    ok=bool(r.ok),
                    unfinished=bool(r.unfinished),
                    text=r.text,
                    answer=r.answer,
                    score=r.score,
                    workspace_index=r.workspace_idx,
                    error=r.error,
                    call=by_key.get(("draft", r.round, r.idx)),
                )
            )
            if r.verification is not None or ("verify", r.round, r.idx) in by_key:
                round_of(r.round).verifications.append(
                    Verification(
                        round=r.round,
                        index=r.idx,
                        score=r.score,
                        text=r.verification or "",
                        call=by_key.get(("verify", r.round, r.idx)),
                    )
                )
        for r in ws_rows:
            round_of(r.round).workspaces.append(
                Workspace(
                    round=r.round,
                    index=r.idx,
                    text=r.text,
                    tokens=r.tokens,
                    counted_by=r.counted_by,
                    distiller=r.distiller,
                    sources=list(r.sources or []),
                    call=by_key.get(("distill", r.round, 0)) if r.counted_by.startswith("usage") else None,
                )
            )
        return PDRResult(
            thread_id=thread_id,
            question=run["question"],
            config=config,
            answer=run["answer"],
            text=run["text"] or "",
            b_seq=run["b_seq"] or 0,
            b_total=run["b_total"] or 0,
            stop_reason=run["stop_reason"] or run["status"],
            status=run["status"],
            model=run["model"],
            error=run["error"],
            rounds=[per_round[n] for n in sorted(per_round)],
            calls=call_list,
            failed_calls=[CallRecord(index=r.idx, **_without(r, "id", "thread_id", "idx"))
                          for r in failed_rows],
        )

    def dispose(self) -> None:
        self.engine.dispose()
