"""Writing the run ledger: one SQL statement per record, as an upsert keyed by (thread, round, index).

The statements are built here and executed by the `Ledger`, in one transaction per node, from sync code
or from async code alike. A node that re-runs on resume replaces its rows instead of duplicating them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable

from langgraph_pdr.checkpoints.schema import (
    calls,
    checks,
    drafts,
    failed_calls,
    images,
    judgments,
    kept_replies,
    now,
    rounds,
    run_images,
    runs,
    turns,
    workspaces,
)
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.image_ref import ImageRef
from langgraph_pdr.state.records import (
    CallRecord,
    Check,
    Critique,
    Draft,
    DraftTurn,
    Judgment,
    KeptReply,
    RoundSummary,
    RunOutcome,
    Verification,
    Workspace,
)
from langgraph_pdr.state.spec import RunSpec

#: A run's lease lasts this long without a write or a heartbeat (a crashed process on another host).
LOCK_TTL_S = 60.0
#: The stop reason of a round whose every draft failed: the run is `failed` and resumable.
NO_DRAFTS = "no_drafts"
#: Stop reasons of runs that ended as planned: the schedule ran out, the drafts agreed early
#: (`early_stop`), the last round was cut off before any answer (the run answers with an earlier one),
#: or a draft passed its checks (`stop_on_pass`).
COMPLETED_REASONS = ("completed", "converged", "unfinished", "verified")


_INSERT_RUN = runs.insert()
_INSERT_FAILED_CALL = failed_calls.insert()
_FORGET_KEPT = delete(kept_replies).where(kept_replies.c.thread_id == bindparam("thread_id"))


class Write(NamedTuple):
    """A statement and its parameters: `conn.execute(*write)`.

    The statements are built once per shape (table, columns, dialect) with bound parameters:
    building a statement around its values (and SQLAlchemy deriving its cache key) costs about ten
    times more than executing a prebuilt one, and a run writes dozens.
    """

    statement: Executable
    params: dict[str, Any]


def insert_of(dialect: str) -> Any:
    """The INSERT (with ON CONFLICT) of SQLite or PostgreSQL, by dialect name; imported when used."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


@functools.cache
def _upsert(
    dialect: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...], replace: bool
) -> Executable:
    stmt = insert_of(dialect)(table).values({c: bindparam(f"v_{c}") for c in columns})
    changes = {c: stmt.excluded[c] for c in columns if c not in keys}
    upserted: Executable
    if changes and replace:
        upserted = stmt.on_conflict_do_update(index_elements=list(keys), set_=changes)
    else:
        upserted = stmt.on_conflict_do_nothing(index_elements=list(keys))
    return upserted


def upsert(
    dialect: Dialect, table: Table, values: dict[str, Any], keys: list[str], *, replace: bool = True
) -> Write:
    """INSERT ... ON CONFLICT (keys) DO UPDATE (DO NOTHING with `replace=False`), in SQLite's or
    PostgreSQL's dialect."""
    statement = _upsert(dialect.name, table, tuple(values), tuple(keys), replace)
    return Write(statement, {f"v_{c}": v for c, v in values.items()})


@functools.cache
def _update(table: Table, where: tuple[str, ...], columns: tuple[str, ...]) -> Executable:
    return (
        update(table)
        .where(*[table.c[k] == bindparam(f"w_{k}") for k in where])
        .values({c: bindparam(f"v_{c}") for c in columns})
    )


def update_where(table: Table, where: dict[str, Any], values: dict[str, Any]) -> Write:
    """UPDATE table SET values WHERE each column of `where` equals its value."""
    params = {f"w_{k}": v for k, v in where.items()} | {f"v_{c}": v for c, v in values.items()}
    return Write(_update(table, tuple(where), tuple(values)), params)


def new_run(
    thread_id: str,
    *,
    question: str,
    config: PDRConfig,
    model: str | None,
    spec: RunSpec | None,
    lock_owner: str | None,
) -> Write:
    """The INSERT of a new run's row (status `running`), leased to `lock_owner` when given."""
    stamp = now()
    values = {
        "thread_id": thread_id,
        "created_at": stamp,
        "updated_at": stamp,
        "question": question,
        "method": config.method,
        "config": config.model_dump(mode="json"),
        "spec": (spec or RunSpec()).model_dump(mode="json"),
        "model": model,
        "status": "running",
        "lock_owner": lock_owner,
        "lock_until": time.time() + LOCK_TTL_S if lock_owner else None,
    }
    return Write(_INSERT_RUN, values)


def image_statements(
    dialect: Dialect, thread_id: str, loaded: Sequence[tuple[ImageRef, bytes | None]]
) -> list[Write]:
    """Store a run's images: each image's bytes once (content-addressed), and the run's list of them."""
    statements: list[Write] = []
    for position, (ref, data) in enumerate(loaded):
        if data is not None:
            row = {"sha256": ref.sha256, "mime": ref.mime, "size": ref.size, "data": data}
            statements.append(upsert(dialect, images, row, ["sha256"], replace=False))
        statements.append(
            upsert(
                dialect,
                run_images,
                {
                    "thread_id": thread_id,
                    "position": position,
                    "sha256": ref.sha256,
                    "mime": ref.mime,
                    "size": ref.size,
                    "url": ref.url,
                },
                ["thread_id", "position"],
            )
        )
    return statements


def status_update(thread_id: str, status: str, error: str | None, owner: str | None) -> Write:
    """Mark a run `running`, `failed` or `interrupted`; with `owner`, only while it holds the lease."""
    where = {"thread_id": thread_id, **({"lock_owner": owner} if owner else {})}
    return update_where(runs, where, {"status": status, "error": error, "updated_at": now()})


def outcome_status(stop_reason: str) -> str:
    """The status of a run that ended with `stop_reason`."""
    if stop_reason == NO_DRAFTS:
        return "failed"
    return "completed" if stop_reason in COMPLETED_REASONS else "stopped"


def kept_replies_forgotten(thread_id: str) -> Write:
    """The statement that deletes a run's kept replies (its outcome is recorded: no node reads them)."""
    return Write(_FORGET_KEPT, {"thread_id": thread_id})


def record_statement(dialect: Dialect, thread_id: str, record: Any) -> Write:
    """The statement that stores one record of a run."""
    if isinstance(record, CallRecord):
        values = record.model_dump()
        values["idx"] = values.pop("index")
        if record.error:
            return Write(_INSERT_FAILED_CALL, {"thread_id": thread_id, **values})
        return upsert(
            dialect, calls, {"thread_id": thread_id, **values}, ["thread_id", "role", "round", "idx", "turn"]
        )
    if isinstance(record, DraftTurn):
        return upsert(
            dialect,
            turns,
            {
                "thread_id": thread_id,
                "round": record.round,
                "idx": record.index,
                "turn": record.turn,
                "text": record.text,
                "tool_calls": [c.model_dump(mode="json") for c in record.tool_calls],
            },
            ["thread_id", "round", "idx", "turn"],
        )
    if isinstance(record, Judgment):
        values = record.model_dump()
        values["idx"] = values.pop("index")
        key = ["thread_id", "role", "round", "idx"]
        return upsert(dialect, judgments, {"thread_id": thread_id, **values}, key)
    if isinstance(record, KeptReply):
        values = {"text": record.text, "call": record.call.model_dump(mode="json")}
        return upsert(
            dialect, kept_replies, {"thread_id": thread_id, "key": record.key, **values}, ["thread_id", "key"]
        )
    if isinstance(record, Draft):
        return upsert(
            dialect,
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
    if isinstance(record, Check):
        values = record.model_dump(mode="json")
        values["idx"] = values.pop("index")
        return upsert(dialect, checks, {"thread_id": thread_id, **values}, ["thread_id", "round", "idx"])
    if isinstance(record, Verification):
        return update_where(
            drafts,
            {"thread_id": thread_id, "round": record.round, "idx": record.index},
            {"score": record.score, "verification": record.text or record.error},
        )
    if isinstance(record, Workspace):
        return upsert(
            dialect,
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
    if isinstance(record, RoundSummary):
        return upsert(
            dialect, rounds, {"thread_id": thread_id, **record.model_dump()}, ["thread_id", "round"]
        )
    if isinstance(record, Critique):
        return update_where(
            rounds, {"thread_id": thread_id, "round": record.round}, {"critique": record.text}
        )
    if isinstance(record, RunOutcome):
        return update_where(
            runs,
            {"thread_id": thread_id},
            {**record.model_dump(), "status": outcome_status(record.stop_reason), "updated_at": now()},
        )
    raise TypeError(f"the ledger does not store {type(record).__name__}")
