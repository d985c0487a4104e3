"""A compact copy of a run store (`pdr eval --snapshot`): finished runs kept, read back, nothing re-paid."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest
from test_cli import assert_one_line_error, pdr

from langgraph_pdr import inspect_run
from langgraph_pdr.checkpoints.snapshot import snapshot
from langgraph_pdr.evals import run_eval
from langgraph_pdr.evals.datasets import Problem
from langgraph_pdr.state.methods import parse_methods

METHODS = "single,pdr:2-1:majority_k"


def problems(n: int) -> list[Problem]:
    return [Problem(f"p{i}", f"What is 6 * 7? (problem {i})", "42", "toy") for i in range(n)]


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.fixture
def store(tmp_path, fake) -> Path:
    """An evaluation store: 3 problems, 2 methods; problem 1's runs failed (unfinished)."""

    def script(call):
        if "problem 1)" in call.prompt:
            raise ValueError("bad request: not retryable")
        return "6 * 7 = 42 \\boxed{42}"

    fake.script = script
    db = tmp_path / "eval.sqlite"
    run_eval(problems(3), parse_methods(METHODS), model=fake, db=db)
    assert count(db, "checkpoints") > 0
    return db


def test_a_snapshot_keeps_the_finished_runs_and_a_repeated_evaluation_pays_only_for_the_rest(
    tmp_path, fake, store
):
    made = snapshot(store, tmp_path / "copy.sqlite.gz")
    assert (made.runs, made.left_out) == (4, 2)
    assert made.size == (tmp_path / "copy.sqlite.gz").stat().st_size
    copy = tmp_path / "restored.sqlite"
    copy.write_bytes(gzip.decompress(made.path.read_bytes()))
    assert count(copy, "checkpoints") == 0 and count(copy, "runs") == 4
    with sqlite3.connect(copy) as conn:
        left = {r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM calls")}
        pdr_run = conn.execute("SELECT thread_id FROM runs WHERE method = 'pdr' AND thread_id LIKE '%p0%'")
        pdr_run = pdr_run.fetchone()[0]
    assert len(left) == 4 and not any("p1" in t for t in left)  # no call of a left-out run remains
    assert inspect_run(pdr_run, copy).answer == "42" and len(inspect_run(pdr_run, copy).rounds) == 2

    fake.script = lambda call: "6 * 7 = 42 \\boxed{42}"
    calls = len(fake.log)
    items = run_eval(problems(3), parse_methods(METHODS), model=fake, db=copy)
    assert all(i.correct for i in items) and len(items) == 6
    paid = fake.log[calls:]
    assert paid and all("problem 1)" in call.prompt for call in paid)  # the others are read back


def test_an_uncompressed_snapshot_and_the_original_are_untouched(tmp_path, store):
    before = count(store, "runs"), count(store, "checkpoints")
    made = snapshot(store, tmp_path / "copy.sqlite")
    assert count(made.path, "runs") == 4 and (count(store, "runs"), count(store, "checkpoints")) == before


def test_pdr_eval_writes_a_snapshot_with_its_report(tmp_path, store):
    out = tmp_path / "copy.sqlite.gz"
    proc = pdr("eval", "--report", str(tmp_path / "r"), "--db", str(store), "--snapshot", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)["snapshot"]
    assert got == {"path": str(out), "bytes": out.stat().st_size, "runs": 4, "left_out": 2}
    proc = pdr("eval", "--report", str(tmp_path / "r"), "--db", str(store), "--snapshot", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"snapshot: {out} (" in proc.stdout and "4 finished runs; 2 unfinished left out)" in proc.stdout


@pytest.mark.parametrize(
    "target, needle",
    [
        ("missing/copy.gz", "snapshot: the directory"),
        (".", "is a directory; name the file to write"),
    ],
)
def test_a_snapshot_that_cannot_be_written_is_one_clear_error(tmp_path, store, target, needle):
    report = ("eval", "--report", str(tmp_path / "r"), "--db", str(store))
    proc = pdr(*report, "--snapshot", str(tmp_path / target))
    assert_one_line_error(proc, 2, needle)


def test_only_a_sqlite_store_is_copied(tmp_path):
    with pytest.raises(ValueError, match="for PostgreSQL use pg_dump") as caught:
        snapshot("postgresql://user:secret@localhost/pdr", tmp_path / "x.gz")
    assert "secret" not in str(caught.value)
    with pytest.raises(ValueError, match="there is no database"):
        snapshot(tmp_path / "none.sqlite", tmp_path / "x.gz")
    (tmp_path / "notes.sqlite").write_text("not a database")
    with pytest.raises(ValueError, match="is not a run store"):
        snapshot(tmp_path / "notes.sqlite", tmp_path / "x.gz")
    db = "postgresql://u@localhost/x"
    proc = pdr("eval", "--dataset", "gsm8k", "--limit", "1", "--db", db, "--snapshot", "x.gz")
    assert_one_line_error(proc, 2, "for PostgreSQL use pg_dump")
