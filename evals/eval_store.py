"""Which run answered which problem for which method: the `eval_items` table, beside the run ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text, select

from langgraph_pdr.checkpoints.ledger import Ledger
from langgraph_pdr.checkpoints.schema import create_tables, now, runs

metadata = MetaData()

eval_items = Table(
    "eval_items",
    metadata,
    Column("eval", String(200), primary_key=True),
    Column("dataset", String(200), primary_key=True),
    Column("problem_id", String(200), primary_key=True),
    Column("method", String(400), primary_key=True),
    Column("position", Integer, nullable=False),  # the problem's place in the evaluation
    Column("method_index", Integer, nullable=False, default=0),  # the method's place in --methods
    Column("thread_id", String(200), nullable=False),
    Column("gold", Text, nullable=False),
    Column("correct", Boolean),
    Column("wall_s", Float, nullable=False, default=0.0),
    Column("error", Text),
    Column("matches", String(400)),  # for a B_seq-matched single pass: the method it is matched to
    Column("updated_at", String(40), nullable=False),
    # code tasks: the answer passed the hidden base tests (`correct`: base and plus), its checks
    # passed the visible tests, and how many visible tests the task has
    Column("base_correct", Boolean),
    Column("visible", Boolean),
    Column("visible_tests", Integer),
)


@dataclass(frozen=True)
class Item:
    """One (problem, method) of an evaluation, with its run's outcome from the ledger. For a code task,
    `correct` is the answer's plus grade (EvalPlus's base and plus inputs), `base_correct` its base
    grade, `visible` whether it passed the run's checks of the visible tests, `visible_tests` how many
    visible tests the task has."""

    eval: str
    dataset: str
    problem_id: str
    method: str
    thread_id: str
    gold: str
    correct: bool | None
    wall_s: float
    error: str | None
    matches: str | None
    status: str | None
    answer: str | None
    b_seq: int
    b_total: int
    stop_reason: str | None = None
    base_correct: bool | None = None
    visible: bool | None = None
    visible_tests: int | None = None

    @property
    def finished(self) -> bool:
        return self.correct is not None

    @property
    def settled(self) -> bool:
        """Finished, or failed (a failed run is graded as a wrong answer)."""
        return self.finished or bool(self.error)


class EvalStore:
    """Evaluation items in the run database (SQLite or PostgreSQL through the ledger's engine)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        create_tables(metadata, ledger.engine)

    def save(self, *, eval: str, dataset: str, problem_id: str, method: str, **values: Any) -> None:
        """Insert or update one item (`wall_s` given here is added to what it already has)."""
        key = {"eval": eval, "dataset": dataset, "problem_id": problem_id, "method": method}
        with self.ledger.engine.begin() as conn:
            where = [eval_items.c[k] == v for k, v in key.items()]
            row = conn.execute(select(eval_items).where(*where)).first()
            values["updated_at"] = now()
            if row is None:
                values.setdefault("wall_s", 0.0)
                conn.execute(eval_items.insert().values(**key, **values))
                return
            if "wall_s" in values:
                values["wall_s"] = (row.wall_s or 0.0) + values["wall_s"]
            conn.execute(eval_items.update().where(*where).values(**values))

    def names(self) -> list[str]:
        with self.ledger.engine.connect() as conn:
            return sorted({r[0] for r in conn.execute(select(eval_items.c.eval).distinct())})

    def items(self, eval: str) -> list[Item]:
        """Every item of `eval`, in the order the evaluation listed them, joined with its run."""
        query = (
            select(eval_items, runs.c.status, runs.c.answer, runs.c.b_seq, runs.c.b_total, runs.c.stop_reason)
            .select_from(eval_items.outerjoin(runs, runs.c.thread_id == eval_items.c.thread_id))
            .where(eval_items.c.eval == eval)
            .order_by(eval_items.c.position, eval_items.c.method_index, eval_items.c.method)
        )
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Item(
                eval=r.eval,
                dataset=r.dataset,
                problem_id=r.problem_id,
                method=r.method,
                thread_id=r.thread_id,
                gold=r.gold,
                correct=r.correct,
                wall_s=r.wall_s or 0.0,
                error=r.error,
                matches=r.matches,
                status=r.status,
                answer=r.answer,
                b_seq=r.b_seq or 0,
                b_total=r.b_total or 0,
                stop_reason=r.stop_reason,
                base_correct=r.base_correct,
                visible=r.visible,
                visible_tests=r.visible_tests,
            )
            for r in rows
        ]
