"""Writing the run ledger: one SQL statement per record, as an upsert keyed by (thread, round, index).

The statements are built here and executed by the `Ledger`, in one transaction per node, from sync code
or from async code alike. A node that re-runs on resume replaces its rows instead of duplicating them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, delete, update
from sqlalchemy.engine import Dialect

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


def insert_of(dialect: Dialect) -> Any:
    """The INSERT (with ON CONFLICT) of SQLite or PostgreSQL; the dialect is imported when used."""
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def upsert(dialect: Dialect, table: Table, values: dict[str, Any], keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, in SQLite's or PostgreSQL's dialect."""
    insert = insert_of(dialect)
    stmt = insert(table).values(**values)
    changes = {k: v for k, v in values.items() if k not in keys}
    if changes:
        return stmt.on_conflict_do_update(index_elements=keys, set_=changes)
    return stmt.on_conflict_do_nothing(index_elements=keys)


def update_where(table: Table, where: dict[str, Any], values: dict[str, Any]) -> Any:
    return update(table).where(*[table.c[k] == v for k, v in where.items()]).values(**values)


def new_run(
    thread_id: str,
    *,
    question: str,
    config: PDRConfig,
    model: str | None,
    spec: RunSpec | None,
    lock_owner: str | None,
) -> Any:
    """The INSERT of a new run's row (status `running`), leased to `lock_owner` when given."""
    stamp = now()
    return runs.insert().values(
        thread_id=thread_id,
        created_at=stamp,
        updated_at=stamp,
        question=question,
        method=config.method,
        config=config.model_dump(mode="json"),
        spec=(spec or RunSpec()).model_dump(mode="json"),
        model=model,
        status="running",
        lock_owner=lock_owner,
        lock_until=time.time() + LOCK_TTL_S if lock_owner else None,
    )


def image_statements(
    dialect: Dialect, thread_id: str, loaded: Sequence[tuple[ImageRef, bytes | None]]
) -> list[Any]:
    """Store a run's images: each image's bytes once (content-addressed), and the run's list of them."""
    statements: list[Any] = []
    for position, (ref, data) in enumerate(loaded):
        if data is not None:
            row = {"sha256": ref.sha256, "mime": ref.mime, "size": ref.size, "data": data}
            statements.append(
                insert_of(dialect)(images).values(**row).on_conflict_do_nothing(index_elements=["sha256"])
            )
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


def status_update(thread_id: str, status: str, error: str | None, owner: str | None) -> Any:
    """Mark a run `running`, `failed` or `interrupted`; with `owner`, only while it holds the lease."""
    where = {"thread_id": thread_id, **({"lock_owner": owner} if owner else {})}
    return update_where(runs, where, {"status": status, "error": error, "updated_at": now()})


def outcome_status(stop_reason: str) -> str:
    """The status of a run that ended with `stop_reason`."""
    if stop_reason == NO_DRAFTS:
        return "failed"
    return "completed" if stop_reason in COMPLETED_REASONS else "stopped"


def kept_replies_forgotten(thread_id: str) -> Any:
    """The statement that deletes a run's kept replies (its outcome is recorded: no node reads them)."""
    return delete(kept_replies).where(kept_replies.c.thread_id == thread_id)


def record_statement(dialect: Dialect, thread_id: str, record: Any) -> Any:
    """The statement that stores one record of a run."""
    if isinstance(record, CallRecord):
        values = record.model_dump()
        values["idx"] = values.pop("index")
        if record.error:
            return failed_calls.insert().values(thread_id=thread_id, **values)
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
