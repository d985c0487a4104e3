"""Reading the run ledger: a run's row, its whole `PDRResult`, the list of runs, its failed attempts.

Each function takes a SQLAlchemy `Connection`; the `Ledger` runs it from sync code, or from async code
through `AsyncConnection.run_sync`, so both read the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from langgraph_pdr.checkpoints.errors import RunNotFoundError
from langgraph_pdr.checkpoints.schema import (
    calls,
    checks,
    drafts,
    failed_calls,
    images,
    judgments,
    kept_replies,
    rounds,
    runs,
    turns,
    workspaces,
)
from langgraph_pdr.checkpoints.schema import run_images as run_images_table
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.image_ref import ImageRef
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.state.records import (
    CallRecord,
    Check,
    Draft,
    DraftTurn,
    Judgment,
    KeptReply,
    RoundRecord,
    ToolCall,
    Verification,
    Workspace,
)
from langgraph_pdr.state.registry import PROMPT_SETS, VERIFIERS, Missing
from langgraph_pdr.state.result import PDRResult, RunSummary


def _without(row: Any, *names: str) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in names}


def _call(row: Any) -> CallRecord:
    return CallRecord(index=row.idx, **_without(row, "id", "thread_id", "idx"))


def kept_reply(conn: Connection, thread_id: str, key: str) -> KeptReply | None:
    """The reply a call of the run returned before its node ended, if it is kept (see `KeptReply`)."""
    where = (kept_replies.c.thread_id == thread_id, kept_replies.c.key == key)
    row = conn.execute(select(kept_replies).where(*where)).first()
    if row is None:
        return None
    return KeptReply(key=row.key, text=row.text, call=CallRecord.model_validate(row.call))


def run_row(conn: Connection, thread_id: str) -> dict[str, Any] | None:
    """The run's row, or None."""
    row = conn.execute(select(runs).where(runs.c.thread_id == thread_id)).first()
    return dict(row._mapping) if row else None


def stored_config(run: dict[str, Any]) -> PDRConfig:
    """A run's config from its row. A user's prompt set it names that this process has not registered
    is registered from the templates the run's spec keeps, so the run reads and resumes anywhere."""
    config = run["config"] or {}
    name, templates = config.get("prompts"), (run["spec"] or {}).get("prompts")
    if templates and name and name not in PROMPT_SETS:  # a user's set, registered in another process
        PROMPT_SETS.register(name, PromptSet(name=name, **templates))
    verifier = config.get("verifier")
    if verifier and verifier not in VERIFIERS:  # a user's verifier: the run reads; resuming imports it
        VERIFIERS.register(verifier, Missing(verifier))
    return PDRConfig.model_validate(config)


def list_runs(conn: Connection, limit: int | None = None) -> list[RunSummary]:
    """Every run, newest first."""
    query = select(runs).order_by(runs.c.created_at.desc(), runs.c.thread_id)
    if limit:
        query = query.limit(limit)
    fields = set(RunSummary.model_fields)
    return [
        RunSummary.model_validate(
            {
                **{k: v for k, v in r._mapping.items() if k in fields},
                "b_seq": r.b_seq or 0,
                "b_total": r.b_total or 0,
            }
        )
        for r in conn.execute(query).all()
    ]


def run_images(conn: Connection, thread_id: str) -> list[tuple[ImageRef, bytes | None]]:
    """The run's images, in order, with their bytes (None for an http(s) image)."""
    rows = conn.execute(
        select(run_images_table, images.c.data)
        .select_from(run_images_table.outerjoin(images, images.c.sha256 == run_images_table.c.sha256))
        .where(run_images_table.c.thread_id == thread_id)
        .order_by(run_images_table.c.position)
    ).all()
    return [
        (ImageRef(sha256=r.sha256, mime=r.mime, size=r.size, url=r.url), bytes(r.data) if r.data else None)
        for r in rows
    ]


def failed_attempts(conn: Connection, thread_id: str) -> list[CallRecord]:
    """The run's billed failed attempts, in the order they were made."""
    rows = conn.execute(
        select(failed_calls).where(failed_calls.c.thread_id == thread_id).order_by(failed_calls.c.id)
    ).all()
    return [_call(r) for r in rows]


def draft_turns(
    conn: Connection, thread_id: str, round: int | None = None, index: int | None = None
) -> dict[tuple[int, int], list[DraftTurn]]:
    """The recorded turns of the run's tool-using drafts (of one draft, given `round` and `index`),
    by (round, index), each with its call."""
    query = select(turns).where(turns.c.thread_id == thread_id)
    call_query = select(calls).where(calls.c.thread_id == thread_id, calls.c.role == "draft")
    if round is not None and index is not None:
        query = query.where(turns.c.round == round, turns.c.idx == index)
        call_query = call_query.where(calls.c.round == round, calls.c.idx == index)
    by_turn = {(r.round, r.idx, r.turn): _call(r) for r in conn.execute(call_query).all()}
    out: dict[tuple[int, int], list[DraftTurn]] = {}
    for r in conn.execute(query.order_by(turns.c.round, turns.c.idx, turns.c.turn)).all():
        out.setdefault((r.round, r.idx), []).append(
            DraftTurn(
                round=r.round,
                index=r.idx,
                turn=r.turn,
                text=r.text,
                tool_calls=[ToolCall.model_validate(c) for c in r.tool_calls or []],
                call=by_turn.get((r.round, r.idx, r.turn)),
            )
        )
    return out


def one_draft_turns(conn: Connection, thread_id: str, round: int, index: int) -> list[DraftTurn]:
    """The recorded turns of draft (`round`, `index`), in order."""
    return draft_turns(conn, thread_id, round, index).get((round, index), [])


def load_result(conn: Connection, thread_id: str) -> PDRResult:
    """The run's `PDRResult`, rebuilt from its rows.

    Raises:
        RunNotFoundError: no run with this id.
    """
    run = run_row(conn, thread_id)
    if run is None:
        raise RunNotFoundError(f"thread_id: no run {thread_id!r} in this database")
    call_list = [
        _call(r)
        for r in conn.execute(select(calls).where(calls.c.thread_id == thread_id).order_by(calls.c.id)).all()
    ]
    round_rows = conn.execute(
        select(rounds).where(rounds.c.thread_id == thread_id).order_by(rounds.c.round)
    ).all()
    draft_rows = conn.execute(
        select(drafts).where(drafts.c.thread_id == thread_id).order_by(drafts.c.round, drafts.c.idx)
    ).all()
    ws_rows = conn.execute(
        select(workspaces)
        .where(workspaces.c.thread_id == thread_id)
        .order_by(workspaces.c.round, workspaces.c.idx)
    ).all()
    by_key = {(c.role, c.round, c.index): c for c in call_list}  # a draft's last turn
    checked = {
        (r.round, r.idx): Check(index=r.idx, **_without(r, "thread_id", "idx"))
        for r in conn.execute(select(checks).where(checks.c.thread_id == thread_id)).all()
    }
    turns_of = draft_turns(conn, thread_id)
    config = stored_config(run)
    per_round: dict[int, RoundRecord] = {}

    def round_of(n: int) -> RoundRecord:
        if n not in per_round:
            per_round[n] = RoundRecord(round=n, width=config.width(n) if n <= config.rounds else 0)
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
                turns=turns_of.get((r.round, r.idx), []),
                check=checked.get((r.round, r.idx)),
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
    judged = conn.execute(
        select(judgments)
        .where(judgments.c.thread_id == thread_id)
        .order_by(judgments.c.round, judgments.c.role, judgments.c.idx)
    ).all()
    for r in judged:
        values = dict(r._mapping)
        values.pop("thread_id")
        values["index"] = values.pop("idx")
        round_of(r.round).judgments.append(Judgment(**values))
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
        failed_calls=failed_attempts(conn, thread_id),
        images=[ref for ref, _ in run_images(conn, thread_id)],
    )
