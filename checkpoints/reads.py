"""Reading the run ledger: a run's row, its whole `PDRResult`, the list of runs, its failed attempts.

Each function takes a SQLAlchemy `Connection`; the `Ledger` runs it from sync code, or from async code
through `AsyncConnection.run_sync`, so both read the same way.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, Table, bindparam, func, select
from sqlalchemy.engine import Connection

from langgraph_pdr.checkpoints.errors import RunNotFoundError
from langgraph_pdr.checkpoints.lock import lapsed
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


@functools.cache
def _of_run(table: Table, *order: str) -> Select[Any]:
    """SELECT the rows of one run (`:thread_id`), in `order`, built once (see `writes.Write`)."""
    return (
        select(table)
        .where(table.c.thread_id == bindparam("thread_id"))
        .order_by(*(table.c[o] for o in order))
    )


def _rows(conn: Connection, thread_id: str, table: Table, *order: str) -> list[Any]:
    return list(conn.execute(_of_run(table, *order), {"thread_id": thread_id}).all())


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
    row = conn.execute(_of_run(runs), {"thread_id": thread_id}).first()
    return dict(row._mapping) if row else None


def status_of(run: dict[str, Any]) -> str:
    """A run's status as it reads: a run `running` whose lease lapsed (its process is gone, or its
    lease expired) is an orphan, `interrupted` (`pdr resume` finishes it)."""
    if run["status"] == "running" and lapsed(run.get("lock_owner"), run.get("lock_until")):
        return "interrupted"
    return str(run["status"])


def interrupted_runs(conn: Connection) -> list[dict[str, Any]]:
    """The runs that read as `interrupted`, oldest first: `thread_id`, `created_at`, `method`, `model`
    (the stored model spec) and `orphan` (True: its process died or its lease expired while it ran;
    False: it recorded itself interrupted, e.g. on Ctrl-C)."""
    query = (
        select(
            runs.c.thread_id,
            runs.c.created_at,
            runs.c.method,
            runs.c.status,
            runs.c.spec,
            runs.c.lock_owner,
            runs.c.lock_until,
        )
        .where(runs.c.status.in_(("running", "interrupted")))
        .order_by(runs.c.created_at, runs.c.thread_id)
    )
    return [
        {
            "thread_id": r.thread_id,
            "created_at": r.created_at,
            "method": r.method,
            "model": (r.spec or {}).get("model") or {},
            "orphan": r.status == "running",
        }
        for r in conn.execute(query).all()
        if status_of(dict(r._mapping)) == "interrupted"
    ]


def paid_so_far(conn: Connection, thread_ids: list[str]) -> dict[str, tuple[int, int]]:
    """(B_seq, B_total) of the calls each run has paid so far, by thread id: for runs that booked no
    budget of their own yet (running, interrupted, failed). B_total adds every call and every billed
    failed attempt; B_seq adds the largest call of each stage (a tool-using draft's turns summed)."""
    if not thread_ids:
        return {}
    tokens = calls.c.input_tokens + calls.c.output_tokens
    per_call = (
        select(calls.c.thread_id, calls.c.stage, func.sum(tokens).label("tokens"))
        .where(calls.c.thread_id.in_(thread_ids))
        .group_by(calls.c.thread_id, calls.c.stage, calls.c.role, calls.c.round, calls.c.idx)
        .subquery()
    )
    per_stage = (
        select(per_call.c.thread_id, func.max(per_call.c.tokens).label("tokens"))
        .group_by(per_call.c.thread_id, per_call.c.stage)
        .subquery()
    )
    seq = select(per_stage.c.thread_id, func.sum(per_stage.c.tokens)).group_by(per_stage.c.thread_id)
    failed = (
        select(failed_calls.c.thread_id, func.sum(failed_calls.c.input_tokens + failed_calls.c.output_tokens))
        .where(failed_calls.c.thread_id.in_(thread_ids))
        .group_by(failed_calls.c.thread_id)
    )
    b_seq = {t: int(n or 0) for t, n in conn.execute(seq).all()}
    b_total = {
        t: int(n or 0)
        for t, n in conn.execute(
            select(per_call.c.thread_id, func.sum(per_call.c.tokens)).group_by(per_call.c.thread_id)
        ).all()
    }
    for t, n in conn.execute(failed).all():
        b_total[t] = b_total.get(t, 0) + int(n or 0)
    return {t: (b_seq.get(t, 0), b_total.get(t, 0)) for t in thread_ids}


def _budgets(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(B_seq, B_total) of each run as it reads: booked by the run, or paid so far where none is."""
    unbooked = [r["thread_id"] for r in rows if not r["b_total"]]
    paid = paid_so_far(conn, unbooked)
    return {r["thread_id"]: paid.get(r["thread_id"]) or (r["b_seq"] or 0, r["b_total"] or 0) for r in rows}


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
    rows = [dict(r._mapping) for r in conn.execute(query).all()]
    budgets = _budgets(conn, rows)
    return [
        RunSummary.model_validate(
            {
                **{k: v for k, v in r.items() if k in fields},
                "status": status_of(r),
                "b_seq": budgets[r["thread_id"]][0],
                "b_total": budgets[r["thread_id"]][1],
            }
        )
        for r in rows
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
    return [_call(r) for r in _rows(conn, thread_id, failed_calls, "id")]


def draft_turns(
    conn: Connection, thread_id: str, round: int | None = None, index: int | None = None
) -> dict[tuple[int, int], list[DraftTurn]]:
    """The recorded turns of the run's tool-using drafts (of one draft, given `round` and `index`),
    by (round, index), each with its call."""
    call_query = select(calls).where(calls.c.thread_id == thread_id, calls.c.role == "draft")
    if round is not None and index is not None:
        query = select(turns).where(
            turns.c.thread_id == thread_id, turns.c.round == round, turns.c.idx == index
        )
        turn_rows = conn.execute(query.order_by(turns.c.turn)).all()
        call_query = call_query.where(calls.c.round == round, calls.c.idx == index)
    else:
        turn_rows = _rows(conn, thread_id, turns, "round", "idx", "turn")
    if not turn_rows:  # a run without tools (most): no turns, no calls to read for them
        return {}
    by_turn = {(r.round, r.idx, r.turn): _call(r) for r in conn.execute(call_query).all()}
    out: dict[tuple[int, int], list[DraftTurn]] = {}
    for r in turn_rows:
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


def recorded_draft(conn: Connection, thread_id: str, round: int, index: int) -> Draft | None:
    """Draft (`round`, `index`) as recorded with its call, if it was written whole (a draft node killed
    after it recorded its draft, before its checkpoint, is not paid for again when it runs again)."""
    row = conn.execute(
        select(drafts).where(
            drafts.c.thread_id == thread_id, drafts.c.round == round, drafts.c.idx == index, drafts.c.ok
        )
    ).first()
    if row is None:
        return None
    call = conn.execute(
        select(calls).where(
            calls.c.thread_id == thread_id,
            calls.c.role == "draft",
            calls.c.round == round,
            calls.c.idx == index,
            calls.c.turn == 0,
        )
    ).first()
    if call is None:
        return None
    return Draft(
        round=row.round,
        index=row.idx,
        ok=True,
        unfinished=bool(row.unfinished),
        text=row.text,
        answer=row.answer,
        workspace_index=row.workspace_idx,
        call=_call(call),
    )


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
    call_list = [_call(r) for r in _rows(conn, thread_id, calls, "id")]
    round_rows = _rows(conn, thread_id, rounds, "round")
    draft_rows = _rows(conn, thread_id, drafts, "round", "idx")
    ws_rows = _rows(conn, thread_id, workspaces, "round", "idx")
    by_key = {(c.role, c.round, c.index): c for c in call_list}  # a draft's last turn
    checked = {
        (r.round, r.idx): Check(index=r.idx, **_without(r, "thread_id", "idx"))
        for r in _rows(conn, thread_id, checks)
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
    judged = _rows(conn, thread_id, judgments, "round", "role", "idx")
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
    b_seq, b_total = _budgets(conn, [run])[thread_id]
    status = status_of(run)
    return PDRResult(
        thread_id=thread_id,
        question=run["question"],
        config=config,
        answer=run["answer"],
        text=run["text"] or "",
        b_seq=b_seq,
        b_total=b_total,
        stop_reason=run["stop_reason"] or status,
        status=status,
        model=run["model"],
        error=run["error"],
        rounds=[per_round[n] for n in sorted(per_round)],
        calls=call_list,
        failed_calls=failed_attempts(conn, thread_id),
        images=[ref for ref, _ in run_images(conn, thread_id)],
    )
