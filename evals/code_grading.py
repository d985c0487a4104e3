"""Grading a program on a code task's hidden tests, the way EvalPlus grades, in the sandbox.

A program passes `base` when it returns the reference solution's output on every `base_input`, and
`plus` when it also does on every `plus_input` (EvalPlus's HumanEval+ / MBPP+ pass@1 figures). Outputs
compare exactly, floats within `atol` (at least 1e-6, `np.allclose`), with EvalPlus's special cases
(HumanEval/32's root check, MBPP's set-equal and not-None tasks, Mbpp/164, 295, 558, 581); each input
gets `max(4 s, 4 x the reference's time)`, all of them at most 60 s. The program is first cut to its
definitions (`sanitize`, as EvalPlus's sanitizer does), and runs with `run_python`: the hidden inputs go
to the sandbox and nowhere else.

Example:
    ```python
    from langgraph_pdr.evals import load_dataset
    from langgraph_pdr.evals.code_grading import grade_program

    task = load_dataset("humanevalplus")[2].code  # truncate_number
    assert grade_program("def truncate_number(number):\\n    return number % 1.0", task).plus
    wrong = grade_program("def truncate_number(number):\\n    return round(number % 1.0, 3)", task)
    assert wrong.base and not wrong.plus  # right on HumanEval's tests, wrong on EvalPlus's
    ```
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy import Boolean, Column, Float, MetaData, String, Table, Text, select
from sqlalchemy.engine import Engine

from langgraph_pdr.checking.programs import sanitize
from langgraph_pdr.checkpoints.schema import create_tables
from langgraph_pdr.checkpoints.writes import upsert
from langgraph_pdr.evals.code import CodeTask
from langgraph_pdr.tooling.sandboxed_python import run_python

HARNESS = resources.files("langgraph_pdr.evals").joinpath("grading_harness.py").read_text("utf-8")
#: A sandboxed grading run's limits: the program's inputs take at most 61 s, the reference's first.
WALL_S = 120.0
MEMORY_MIB = 4096

metadata = MetaData()

#: Grades already computed, by task and program (identical programs of different runs are graded once).
code_grades = Table(
    "code_grades",
    metadata,
    Column("task_id", String(200), primary_key=True),
    Column("program_sha", String(64), primary_key=True),
    Column("base", Boolean, nullable=False),
    Column("plus", Boolean, nullable=False),
    Column("detail", Text),
    Column("seconds", Float, nullable=False),
)


@dataclass(frozen=True)
class CodeGrade:
    """A program's grade on a task's hidden tests: `base` and `plus` passed (plus implies base), and
    why it failed (`detail`: the status and the input it failed on, or the error)."""

    base: bool
    plus: bool
    detail: str | None = None
    seconds: float = 0.0
    #: False when the sandbox ended a grading run before its harness gave a verdict (the run's wall
    #: time, on a machine too busy to finish it): such a grade is not kept, a later one grades again.
    settled: bool = True


def _verdict(task: CodeTask, program: str, inputs: list[Any]) -> dict[str, Any]:
    """One sandboxed differential run: the harness's verdict (`status`: pass, fail or timeout)."""
    nonce = secrets.token_hex(8)
    payload = {
        "kind": task.kind,
        "entry_point": task.entry_point,
        "atol": task.atol,
        "task_id": task.task_id,
        "reference": task.prompt + task.canonical_solution,
        "program": program,
        "inputs": inputs,
        "nonce": nonce,
    }
    run = run_python(
        f"{HARNESS}\nmain({json.dumps(json.dumps(payload))})\n",
        wall_s=WALL_S,
        cpu_s=int(WALL_S),
        memory_mib=MEMORY_MIB,
        output_chars=100_000,
    )
    for line in run.stdout.splitlines():
        if line.startswith(nonce):
            try:
                found = json.loads(line[len(nonce) :])
            except ValueError:
                continue
            if isinstance(found, dict) and "status" in found:
                return found
    # the sandbox's wall time cut the run short (a busy machine): no verdict on the program itself
    cut = (run.exception or "").startswith("killed: wall time")
    return {"status": "fail", "error": run.exception or "the sandbox reported no verdict", "settled": not cut}


def _settled_verdict(task: CodeTask, program: str, inputs: list[Any]) -> dict[str, Any]:
    """`_verdict`, run once more when the sandbox ended the first before it gave one."""
    verdict = _verdict(task, program, inputs)
    return verdict if verdict.get("settled", True) else _verdict(task, program, inputs)


def _detail(stage: str, verdict: dict[str, Any]) -> str:
    where = verdict.get("at")
    at = " loading the program" if where == "load" else (f" on input {where}" if where is not None else "")
    error = f": {verdict['error']}" if verdict.get("error") else ""
    return f"{stage} {verdict['status']}{at}{error}"


def grade_program(program: str | None, task: CodeTask) -> CodeGrade:
    """Grade `program` (a run's answer) on `task`'s hidden base and plus inputs (see the module)."""
    started = time.monotonic()
    if not program or not program.strip():
        return CodeGrade(False, False, "no program")
    code = sanitize(program, [task.entry_point])
    base = _settled_verdict(task, code, task.base_input)
    if base["status"] != "pass":
        seconds = time.monotonic() - started
        return CodeGrade(False, False, _detail("base", base), seconds, bool(base.get("settled", True)))
    plus = _settled_verdict(task, code, task.plus_input) if task.plus_input else {"status": "pass"}
    detail = None if plus["status"] == "pass" else _detail("plus", plus)
    seconds = time.monotonic() - started
    return CodeGrade(True, plus["status"] == "pass", detail, seconds, bool(plus.get("settled", True)))


def program_sha(program: str | None) -> str:
    return hashlib.sha256((program or "").encode()).hexdigest()


class CodeGrader:
    """`grade_program` with its grades kept in a database (table `code_grades`), so a program is graded
    once per task however many runs answer with it, and a resumed evaluation grades nothing twice. A
    grade the sandbox cut short (`CodeGrade.settled` false) is not kept."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(metadata, engine)

    def grade(self, program: str | None, task: CodeTask) -> CodeGrade:
        key = {"task_id": task.task_id, "program_sha": program_sha(program)}
        with self.engine.connect() as conn:
            row = conn.execute(
                select(code_grades).where(*(code_grades.c[k] == v for k, v in key.items()))
            ).first()
        if row is not None:
            return CodeGrade(bool(row.base), bool(row.plus), row.detail, row.seconds)
        grade = grade_program(program, task)
        if not grade.settled:
            return grade
        values = {
            **key,
            "base": grade.base,
            "plus": grade.plus,
            "detail": grade.detail,
            "seconds": grade.seconds,
        }
        with self.engine.begin() as conn:
            conn.execute(*upsert(conn.dialect, code_grades, values, ["task_id", "program_sha"]))
        return grade
