"""Runs that outlive their process: a run whose process died (or whose lease expired) reads as
`interrupted` everywhere with the budgets it paid so far, and `pdr resume --all` finishes every such run
once. Real processes, killed with SIGKILL, against a real HTTP upstream."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from fake_openai import FakeOpenAIServer
from test_durable import durable_drafts, wait_until

from langgraph_pdr import inspect_run, list_runs
from langgraph_pdr.checkpoints.store import open_ledger

PDR = [sys.executable, "-m", "langgraph_pdr.cli"]
HOST = socket.gethostname()


@pytest.fixture(params=["sqlite", "postgres"])
def store_db(request, tmp_path) -> str:
    """A store that outlives a process: a SQLite file, or a database of a real PostgreSQL server."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_db"))
    return str(tmp_path / "runs.sqlite")


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def pdr(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*PDR, *args], capture_output=True, text=True, timeout=120, **kwargs)


def start_run(db: str, url: str, thread_id: str, schedule: str = "4,2,1") -> subprocess.Popen:
    return subprocess.Popen(
        [*PDR, "run", "What is 6 * 7?", "--model", "fake-model", "--base-url", url, "--db", db,
         "--thread-id", thread_id, "--schedule", schedule, "--max-tokens", "200", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def hanging_drafts(hang: dict):
    """Drafts 2 and 3 of round 1 hang while `hang["on"]`; everything else answers at once."""

    def delay(req):
        if hang["on"] and req.role == "draft" and req.draft and req.draft[0] == 1 and req.draft[1] >= 2:
            return 3600.0
        return 0.0

    return delay


def killed_mid_round(db: str, server: FakeOpenAIServer, thread_id: str) -> None:
    """`pdr run` started, two drafts of round 1 answered and on disk, the other two in flight: SIGKILL."""
    child = start_run(db, server.base_url, thread_id)
    try:
        server.wait_for(lambda: len(server.answered("draft")) >= 2 and len(server.requests) >= 4)
        wait_until(lambda: durable_drafts(db, thread_id) == 2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)


def paid(server: FakeOpenAIServer) -> int:
    return sum(r.prompt_tokens + r.completion_tokens for r in server.answered())


def test_a_sigkilled_pdr_run_reads_as_interrupted_with_what_it_paid(tmp_path, store_db):
    db = store_db
    hang = {"on": True}
    with FakeOpenAIServer(delay=hanging_drafts(hang)) as server:
        killed_mid_round(db, server, "killed")
        billed = paid(server)
        drafts = [r.prompt_tokens + r.completion_tokens for r in server.answered("draft")]
        hang["on"] = False
        assert billed > 0 and len(drafts) == 2

        listed = json.loads(pdr("runs", "--db", db, "--json").stdout)["runs"]
        assert [(r["thread_id"], r["status"]) for r in listed] == [("killed", "interrupted")]
        assert (listed[0]["b_seq"], listed[0]["b_total"]) == (max(drafts), billed)
        shown = json.loads(pdr("inspect", "killed", "--db", db, "--json").stdout)
        assert (shown["status"], shown["b_seq"], shown["b_total"]) == ("interrupted", max(drafts), billed)
        table = pdr("runs", "--db", db, env={**os.environ, "COLUMNS": "200"}).stdout
        assert "interrupted" in table and f"{billed:,}" in table
        # what MCP's list_runs and inspect_run return
        [summary] = list_runs(db)
        assert (summary.status, summary.b_total) == ("interrupted", billed)
        assert inspect_run("killed", db=db).status == "interrupted"
        page = tmp_path / "page.html"
        assert pdr("view", "killed", "--db", db, "--output", str(page)).returncode == 0
        html = page.read_text()
        assert "was interrupted" in html and "still going" not in html

        done = pdr("resume", "--all", "--db", db, "--json")
        assert done.returncode == 0, done.stderr
    run = inspect_run("killed", db=db)
    assert (run.status, run.answer) == ("completed", "42")
    assert run.b_total == paid(server)  # every answered call booked once, none paid twice


def set_lease(db: str, thread_id: str, owner: str | None, until: float | None) -> None:
    from sqlalchemy import update

    from langgraph_pdr.checkpoints.schema import runs

    ledger = open_ledger(db)
    try:
        with ledger.engine.begin() as conn:
            conn.execute(
                update(runs).where(runs.c.thread_id == thread_id).values(lock_owner=owner, lock_until=until)
            )
    finally:
        ledger.dispose()


def test_a_run_on_another_host_is_interrupted_only_once_its_lease_expired(tmp_path):
    from langgraph_pdr import PDRConfig

    db = str(tmp_path / "runs.sqlite")
    ledger = open_ledger(db)
    try:
        ledger.start_run("far", question="q?", config=PDRConfig(), lock_owner="elsewhere:1:abc")
    finally:
        ledger.dispose()
    assert [r.status for r in list_runs(db)] == ["running"]  # a live lease on another host
    set_lease(db, "far", "elsewhere:1:abc", time.time() - 1)
    assert [r.status for r in list_runs(db)] == ["interrupted"]
    assert inspect_run("far", db=db).status == "interrupted"
    set_lease(db, "far", f"{HOST}:{os.getpid()}:abc", time.time() + 60)
    assert [r.status for r in list_runs(db)] == ["running"]  # this process is alive
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    set_lease(db, "far", f"{HOST}:{int(dead.stdout)}:abc", time.time() + 60)
    assert [r.status for r in list_runs(db)] == ["interrupted"]  # its process is gone


def test_a_draft_recorded_before_its_checkpoint_is_not_paid_again(tmp_path):
    """A process killed after a draft node recorded its draft, before the checkpoint held it: the draft
    runs again on resume, and reads its recorded reply back instead of paying for it again."""
    from langgraph_pdr import PDRConfig, resume_pdr, run_pdr

    config = PDRConfig(schedule="4,2,1", max_tokens=200)
    with FakeOpenAIServer() as server:
        model = {"model": "openai:fake-model", "base_url": server.base_url}
        first = run_pdr("What is 6 * 7?", **model, config=config, db=tmp_path / "first.sqlite")
        [draft] = [d for d in first.rounds[0].drafts if d.index == 0]
        db = str(tmp_path / "cut.sqlite")
        ledger = open_ledger(db)
        try:  # the run as the killed process left it: draft (1, 0) in the ledger, no checkpoint yet
            ledger.start_run("cut", question="What is 6 * 7?", config=config)
            ledger.record_many("cut", [draft.call, draft])
        finally:
            ledger.dispose()
        server.requests.clear()
        result = resume_pdr("cut", db=db, **model)
        again = [r.draft for r in server.requests if r.role == "draft"]
    assert (1, 0) not in again and len(again) == 6
    assert result.b_total == paid(server) + draft.call.total_tokens
    assert (result.status, result.answer) == ("completed", "42")


def orphan(db: str, thread_id: str, method: str, url: str) -> None:
    """A run whose process died before its first checkpoint (no lease holder: an orphan)."""
    from langgraph_pdr import PDRConfig
    from langgraph_pdr.state.spec import ModelSpec, RunSpec

    config = PDRConfig(method=method, schedule="2,1" if method == "pdr" else None, max_tokens=200)
    ledger = open_ledger(db)
    try:
        spec = RunSpec(model=ModelSpec(id="fake-model", base_url=url))
        ledger.start_run(thread_id, question="What is 6 * 7?", config=config, spec=spec)
    finally:
        ledger.dispose()


def test_resume_all_chooses_by_method_and_age_and_runs_each_once(tmp_path):
    db = str(tmp_path / "runs.sqlite")
    with FakeOpenAIServer() as server:
        for thread_id, method in (("a", "pdr"), ("b", "pdr"), ("c", "single"), ("d", "single")):
            orphan(db, thread_id, method, server.base_url)
        old = pdr("resume", "--all", "--method", "single", "--older-than", "1d", "--db", db)
        assert old.returncode == 0 and "no interrupted runs" in old.stdout and server.requests == []

        singles = pdr("resume", "--all", "--method", "single", "--db", db, "--json")
        assert singles.returncode == 0, singles.stderr
        done = json.loads(singles.stdout)["runs"]
        assert sorted((r["thread_id"], r["status"], r["answer"]) for r in done) == [
            ("c", "completed", "42"),
            ("d", "completed", "42"),
        ]
        assert {r.thread_id: r.status for r in list_runs(db)} == {
            "a": "interrupted", "b": "interrupted", "c": "completed", "d": "completed"
        }  # fmt: skip

        # two `pdr resume --all` at once: each run is resumed by one of them
        both = [subprocess.Popen([*PDR, "resume", "--all", "--jobs", "2", "--db", db, "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]  # fmt: skip
        outs = [p.communicate(timeout=120) for p in both]
        assert [p.returncode for p in both] == [0, 0], outs
    runs = list_runs(db)
    assert {r.status for r in runs} == {"completed"}
    assert sum(r.b_total for r in runs) == paid(server)  # no call paid twice
    assert len([r for r in server.requests if r.role == "draft"]) == 2 * 3 + 2  # a, b: 2 + 1; c, d: 1


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "give a thread id"),
        (("t1", "--all"), "not both"),
        (("--all", "--older-than", "5x"), "expected an age"),
        (("t1", "--method", "pdr"), "give --all"),
    ],
)
def test_resume_all_bad_usage_is_one_line(tmp_path, args, message):
    done = pdr("resume", *args, "--db", str(tmp_path / "runs.sqlite"))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
