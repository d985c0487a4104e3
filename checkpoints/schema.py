"""The run ledger's tables, its schema version, and the migrations from earlier versions.

Tables `runs`, `rounds`, `drafts`, `calls`, `failed_calls`, `turns`, `judgments`, `kept_replies`,
`checks` and `workspaces`
(SQLAlchemy Core, so the same code serves SQLite and PostgreSQL); `pdr_schema` records the version a
database was written with. A database written by an earlier version is migrated when it is opened (the
tables and columns added since are added, with their defaults); one written by a later version is
refused with one clear error.

| version | change |
|---|---|
| 1 | the first schema (no `pdr_schema` table) |
| 2 | `drafts.unfinished`: a draft cut off before its answer |
| 3 | `images` (each image's bytes once, by sha256) and `run_images` (a run's images, in order) |
| 4 | `calls.turn` and `failed_calls.turn` (a tool-using draft calls once per turn; `calls` is keyed by
  role, round, index and turn), and `turns` (each turn's text and tool calls) |
| 5 | `judgments` (each comparison of a tournament: the two drafts, the judge's reply, its verdict) |
| 6 | `kept_replies` (the replies a node's calls returned before the node ended, until the run ends) |
| 7 | `checks` (what the run's verifier found about each draft: passed, score, feedback, each test) |
| 8 | `checks.probes`: what a passing program returned on the probe inputs |
"""

from __future__ import annotations

import os
import threading
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from langgraph_pdr.checkpoints.gate import write_gate

#: The version this code writes and reads.
SCHEMA_VERSION = 8

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
    Column("lock_owner", String(200)),  # the fencing token: unique to each holder of the run's lease
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
    Column("unfinished", Boolean, nullable=False, default=False, server_default=false()),
    Column("text", Text, nullable=False),
    Column("answer", Text),
    Column("score", Float),
    Column("verification", Text),
    Column("workspace_idx", Integer),
    Column("error", Text),
)


def _call_columns() -> list[Column[Any]]:
    """The columns of one model call (fresh objects: a Column belongs to one table)."""
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("thread_id", String(200), nullable=False, index=True),
        Column("role", String(20), nullable=False),
        Column("round", Integer, nullable=False),
        Column("idx", Integer, nullable=False),
        Column("turn", Integer, nullable=False, default=0, server_default=text("0")),
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
    "calls",
    metadata,
    *_call_columns(),
    UniqueConstraint("thread_id", "role", "round", "idx", "turn", name="calls_key"),
)

#: The turns of tool-using drafts: what the model wrote in each, and its tool calls with their results
#: (the turn's model call is the `calls` row of the same draft and turn).
turns = Table(
    "turns",
    metadata,
    Column("thread_id", String(200), primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("turn", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("tool_calls", JSON, nullable=False),
)

#: Attempts that failed after the provider billed them (an empty completion): insert-only, kept apart
#: from `calls` (one row per call) so that B_total = Σ calls + Σ failed_calls.
failed_calls = Table("failed_calls", metadata, *_call_columns())

#: The comparisons of tournaments: the two drafts shown, the judge's reply and the solution it
#: preferred (the comparison's model call is the `calls` row of the same role, round and index).
judgments = Table(
    "judgments",
    metadata,
    Column("thread_id", String(200), primary_key=True),
    Column("role", String(20), primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("level", Integer, nullable=False),
    Column("first", Integer, nullable=False),
    Column("second", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("verdict", Integer),
)

#: The replies of a node's calls that returned before the node ended (`KeptReply`): a node run again
#: (after a failure, or resumed in another process) reads them back instead of paying for them again.
#: Written as each call returns, deleted when the run's outcome is recorded.
kept_replies = Table(
    "kept_replies",
    metadata,
    Column("thread_id", String(200), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("text", Text, nullable=False),
    Column("call", JSON, nullable=False),
)

#: What the run's verifier found about each draft (`Check`): no model call, its wall time recorded.
checks = Table(
    "checks",
    metadata,
    Column("thread_id", String(200), primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("verifier", String(200), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("score", Float, nullable=False),
    Column("feedback", Text, nullable=False),
    Column("tests", JSON, nullable=False),
    Column("probes", JSON, nullable=False, default=list, server_default=text("'[]'")),
    Column("seconds", Float, nullable=False),
    Column("error", Text),
)

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

#: Image bytes, content-addressed: an image is stored once, however many runs and calls use it.
images = Table(
    "images",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("mime", String(40), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

#: A run's images, in the order it was given them (an http(s) image by its URL, with no bytes).
run_images = Table(
    "run_images",
    metadata,
    Column("thread_id", String(200), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("mime", String(40), nullable=False),
    Column("size", Integer, nullable=False),
    Column("url", Text),
)

schema_version = Table(
    "pdr_schema",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

#: Columns added after version 1, by the version that added them: what a migration adds.
ADDED_COLUMNS: list[tuple[int, Table, str]] = [
    (2, drafts, "unfinished"),
    (4, failed_calls, "turn"),
    (8, checks, "probes"),
]


class SchemaError(ValueError):
    """A database this version of langgraph-pdr cannot use (written by a later version).

    Opening a database checks the ledger schema version it records in its `pdr_schema` table: an older
    one is migrated in place, a newer one is refused with this error (its tables are left as they
    are). A `ValueError`.

    Example:
        ```python
        import sqlite3
        from langgraph_pdr import SchemaError, list_runs

        with sqlite3.connect("future.sqlite") as conn:  # as a later langgraph-pdr would leave it
            conn.execute("CREATE TABLE pdr_schema (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)")
            conn.execute("INSERT INTO pdr_schema VALUES (1, 99)")
        try:
            list_runs("future.sqlite")
        except SchemaError as exc:
            error = str(exc)
        assert "written by a newer langgraph-pdr (ledger schema 99" in error
        ```
    """


def now() -> str:
    """A timestamp as the ledger stores it (UTC, ISO 8601, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _stored_version(conn: Connection) -> int | None:
    """The database's schema version: None for an empty database, 1 for one that predates versions."""
    names = set(inspect(conn).get_table_names())
    if schema_version.name in names:
        found = conn.execute(select(schema_version.c.version).where(schema_version.c.id == 1)).scalar()
        if found is not None:
            return int(found)
    return 1 if runs.name in names else None


def _add_column(conn: Connection, table: Table, name: str) -> None:
    """`ALTER TABLE ... ADD COLUMN`, with the column's server default (which fills existing rows)."""
    column = table.c[name]
    ddl = f'ALTER TABLE {table.name} ADD COLUMN "{name}" {column.type.compile(dialect=conn.dialect)}'
    default = getattr(column.server_default, "arg", None)
    if default is not None:
        ddl += " DEFAULT " + str(default.compile(dialect=conn.dialect))
        if not column.nullable:
            ddl += " NOT NULL"
    conn.execute(text(ddl))


def _key_calls_by_turn(conn: Connection) -> None:
    """Version 4: `calls` gets its `turn` column, and its key (role, round, index) gains it too."""
    if conn.dialect.name == "postgresql":
        _add_column(conn, calls, "turn")
        conn.execute(text("ALTER TABLE calls DROP CONSTRAINT IF EXISTS calls_key"))
        conn.execute(
            text("ALTER TABLE calls ADD CONSTRAINT calls_key UNIQUE (thread_id, role, round, idx, turn)")
        )
        return
    # SQLite cannot change a table's constraints: the table is rebuilt, its rows copied
    conn.execute(text("ALTER TABLE calls RENAME TO calls_v3"))
    for index in calls.indexes:
        conn.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
    calls.create(conn)
    columns = ", ".join(f'"{c.name}"' for c in calls.columns if c.name != "turn")
    conn.execute(text(f"INSERT INTO calls ({columns}, turn) SELECT {columns}, 0 FROM calls_v3"))
    conn.execute(text("DROP TABLE calls_v3"))


def migrate(conn: Connection) -> int:
    """Bring the database on `conn` to `SCHEMA_VERSION` (creating the tables of an empty one); returns
    the version it had.

    Raises:
        SchemaError: the database was written by a later version.
    """
    found = _stored_version(conn)
    if found is not None and found > SCHEMA_VERSION:
        raise SchemaError(
            f"db: written by a newer langgraph-pdr (ledger schema {found}; this version reads up to "
            f"{SCHEMA_VERSION}): upgrade langgraph-pdr to use it"
        )
    metadata.create_all(conn)
    if found is not None and found < SCHEMA_VERSION:
        inspector = inspect(conn)
        for version, table, name in ADDED_COLUMNS:
            have = {c["name"] for c in inspector.get_columns(table.name)}
            if version > found and name not in have:
                _add_column(conn, table, name)
        if found < 4 and "turn" not in {c["name"] for c in inspector.get_columns(calls.name)}:
            _key_calls_by_turn(conn)
    if found != SCHEMA_VERSION:
        conn.execute(schema_version.delete())
        conn.execute(schema_version.insert().values(id=1, version=SCHEMA_VERSION))
    return found if found is not None else SCHEMA_VERSION


#: Databases this process has brought to the current version (checked once per process; a SQLite
#: file by its inode too, so a file deleted and created again is set up again).
_READY: set[tuple[str, int]] = set()
_READY_LOCK = threading.Lock()


def _retrying(engine: Engine, work: object) -> None:
    """Run `work(conn)` in a transaction, once more if another process did the same at once."""
    for attempt in (1, 2):
        try:
            with engine.begin() as conn:
                work(conn)  # type: ignore[operator]
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            message = str(exc.orig).lower()
            racing = ("already exists", "duplicate", "unique constraint", "locked")
            if attempt == 2 or not any(r in message for r in racing):
                raise


def ensure_schema(engine: Engine) -> None:
    """Create or migrate the ledger's tables in `engine`'s database, once per process and database.

    Raises:
        SchemaError: the database was written by a later version.
    """
    lasting = engine.url.database not in (None, "", ":memory:")
    database = engine.url.database if engine.dialect.name == "sqlite" and lasting else None
    url = engine.url.render_as_string(hide_password=False)
    if lasting and (url, _inode(database)) in _READY:
        return
    with _READY_LOCK:
        if not _current(engine):  # a current database needs no write (and no write lock)
            # another process creating the same new file waits at its gate, then finds it current
            with write_gate(database) if database else nullcontext():
                if not _current(engine):
                    _retrying(engine, migrate)
        if lasting:
            _READY.add((url, _inode(database)))  # a new file's inode exists only now


def _inode(database: str | None) -> int:
    """The SQLite file's inode (0 for none, or a file not created yet)."""
    try:
        return os.stat(database).st_ino if database else 0
    except OSError:
        return 0


def _current(engine: Engine) -> bool:
    with engine.connect() as conn:
        return _stored_version(conn) == SCHEMA_VERSION


def create_tables(meta: MetaData, engine: Engine) -> None:
    """`create_all` of other tables in the ledger's database (the evaluation's), safe when several
    threads or processes open a new database at once; a table an earlier version created gets the
    (nullable) columns added since."""
    _retrying(engine, meta.create_all)

    def add_missing(conn: Connection) -> None:
        inspector = inspect(conn)
        for table in meta.sorted_tables:
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have and column.nullable:
                    _add_column(conn, table, column.name)

    _retrying(engine, add_missing)
