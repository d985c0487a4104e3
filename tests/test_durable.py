"""Durable runs: SIGKILL mid-round then resume in a new process, against a real HTTP server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAIServer

from langgraph_pdr import (
    PDRConfig,
    RunLockedError,
    RunNotFoundError,
    inspect_run,
    list_runs,
    resume_pdr,
    run_pdr,
)

KEY = "sk-test-PDR-SECRET-KEY-4242"
CONFIG = PDRConfig(schedule="4,2,1", distiller="global_summary", max_tokens=200)

CHILD = """
import json, sys
from langgraph_pdr import PDRConfig, run_pdr, resume_pdr
mode, db, url, tid = sys.argv[1:5]
if mode == "run":
    config = PDRConfig.model_validate_json(sys.argv[5])
    r = run_pdr("What is 6 * 7?", model="openai:fake-model", base_url=url, db=db, thread_id=tid,
                config=config)
else:
    r = resume_pdr(tid, db=db)
print(json.dumps({"answer": r.answer, "b_total": r.b_total, "b_seq": r.b_seq, "status": r.status,
                  "calls": len(r.calls)}))
"""


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def spawn(mode: str, db: Path, url: str, tid: str, config: PDRConfig = CONFIG) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(db), url, tid, config.model_dump_json()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def durable_drafts(db: str | Path, thread_id: str) -> int:
    """Draft tasks whose results are on disk in the checkpointer (what a resume will not re-run)."""
    # the pending writes of the superstep in flight belong to the thread's latest checkpoint
    latest = "(SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = {p})"
    query = (
        "SELECT COUNT(DISTINCT task_id) FROM {writes} WHERE thread_id = {p} AND channel = 'drafts' "
        "AND checkpoint_id = " + latest
    )
    if str(db).startswith("postgresql"):
        import psycopg

        with psycopg.connect(str(db)) as conn:
            sql = query.format(writes="checkpoint_writes", p="%s")
            return conn.execute(sql, (thread_id, thread_id)).fetchone()[0]
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute(query.format(writes="writes", p="?"), (thread_id, thread_id)).fetchone()[0]
        except sqlite3.OperationalError:  # the tables are not there yet
            return 0


def wait_until(predicate, timeout: float = 60.0) -> None:
    """Wait for a condition the test can observe (a row on disk, a request seen), not for a time."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition never held")
        time.sleep(0.01)


def finish(proc: subprocess.Popen, timeout: float = 60) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


DELAYS = {0: 0.05, 1: 0.15, 2: 0.35, 3: 0.5}


@pytest.fixture(params=["sqlite", "postgres"])
def durable_db(request, tmp_path):
    """A database that outlives a process: a SQLite file, or a database of a real PostgreSQL server."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_db")
    return str(tmp_path / "runs.sqlite")


def delays(hang: dict):
    def delay(req):
        if req.role == "draft" and req.draft and req.draft[0] == 1:
            r, i = req.draft
            return 120.0 if hang["on"] and i >= 2 else DELAYS[i]
        return 0.02 * (1 + (req.draft or (0, 0))[1])

    return delay


def test_sigkill_mid_round_then_resume_rerequests_only_unfinished_drafts(tmp_path, durable_db):
    with FakeOpenAIServer(delay=delays({"on": False})) as ref_server:
        reference = finish(spawn("run", tmp_path / "ref.sqlite", ref_server.base_url, "ref"))
        reference_requests = len(ref_server.requests)

    hang = {"on": True}
    db = durable_db
    with FakeOpenAIServer(delay=delays(hang)) as server:
        child = spawn("run", db, server.base_url, "t1")
        server.wait_for(lambda: len(server.answered("draft")) == 2 and len(server.requests) == 4)
        wait_until(lambda: durable_drafts(db, "t1") == 2)  # the answered drafts are on disk
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        before = list(server.requests)
        answered = {r.draft for r in before if r.answered}
        in_flight = [r for r in before if not r.answered]
        assert len(answered) == 2 and len(in_flight) == 2

        assert inspect_run("t1", db=db).status == "interrupted"  # died without a word: an orphan
        hang["on"] = False
        resumed = finish(spawn("resume", db, server.base_url, "t1"))
        after = server.requests[len(before) :]

    assert not [r for r in after if r.role == "draft" and r.draft in answered]
    assert {r.draft for r in after if r.draft and r.draft[0] == 1} == {r.draft for r in in_flight}
    assert len(before) + len(after) == reference_requests + len(in_flight)
    assert resumed["answer"] == reference["answer"] == "42"
    assert resumed["b_total"] == reference["b_total"]
    assert resumed["b_seq"] == reference["b_seq"]
    assert resumed["status"] == "completed"
    # the ledger holds every call once
    calls = inspect_run("t1", db=db).calls
    assert len({(c.role, c.round, c.index) for c in calls}) == len(calls) == reference_requests
    assert resumed["calls"] == reference_requests


def test_resuming_a_finished_run_calls_nothing(tmp_path):
    db = tmp_path / "runs.sqlite"
    with FakeOpenAIServer() as server:
        first = run_pdr(
            "What is 6 * 7?", model="openai:fake-model", base_url=server.base_url, db=db, config=CONFIG
        )
        n = len(server.requests)
        again = resume_pdr(first.thread_id, db=db)
        assert len(server.requests) == n
    assert again == first


def test_unknown_thread_id_is_a_clear_error(tmp_path):
    db = tmp_path / "runs.sqlite"
    with pytest.raises(RunNotFoundError, match="no run 'nope'"):
        resume_pdr("nope", db=db)
    with pytest.raises(ValueError, match="nope"):
        inspect_run("nope", db=db)


def test_a_thread_id_cannot_be_reused_for_another_run(tmp_path):
    from fakes import ScriptedChatModel

    db = tmp_path / "runs.sqlite"
    single = PDRConfig(method="single")
    first = run_pdr("q?", model=ScriptedChatModel(), db=db, thread_id="same", config=single)
    with pytest.raises(ValueError, match="already exists.*pick another thread id"):
        run_pdr("q?", model=ScriptedChatModel(), db=db, thread_id="same")  # another config
    with pytest.raises(ValueError, match="already exists"):
        run_pdr("other?", model=ScriptedChatModel(), db=db, thread_id="same", config=single)
    again = ScriptedChatModel()
    assert run_pdr("q?", model=again, db=db, thread_id="same", config=single) == first
    assert again.log == []  # the same finished run is not paid for twice


def test_a_thread_run_by_one_process_cannot_be_run_by_another(durable_db):
    hang = {"on": True}
    db = durable_db
    with FakeOpenAIServer(delay=delays(hang)) as server:
        child = spawn("run", db, server.base_url, "busy")
        server.wait_for(lambda: len(server.requests) == 4)
        with pytest.raises(RunLockedError, match="another process"):
            resume_pdr("busy", db=db)
        second = spawn("resume", db, server.base_url, "busy")
        _, err = second.communicate(timeout=60)
        assert second.returncode != 0 and "RunLockedError" in err
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        hang["on"] = False
        result = resume_pdr("busy", db=db)  # the holder died: its lock is stale
    assert result.status == "completed" and result.answer == "42"


def test_ledger_rows_match_the_result(tmp_path):
    db = tmp_path / "runs.sqlite"
    with FakeOpenAIServer() as server:
        result = run_pdr(
            "What is 6 * 7?",
            model="openai:fake-model",
            base_url=server.base_url,
            db=db,
            config=PDRConfig(schedule="4,2,1", distiller="per_sample_top_k"),
        )
        served = sum(r.prompt_tokens + r.completion_tokens for r in server.requests)
    con = sqlite3.connect(db)
    calls = con.execute(
        "SELECT role, round, idx, input_tokens, output_tokens, usage_source FROM calls "
        "WHERE thread_id=? ORDER BY id",
        (result.thread_id,),
    ).fetchall()
    assert sorted(calls) == sorted(
        (c.role, c.round, c.index, c.input_tokens, c.output_tokens, "provider") for c in result.calls
    )
    assert sum(i + o for _, _, _, i, o, _ in calls) == result.b_total == served
    ws = con.execute(
        "SELECT round, idx, tokens, text, sources FROM workspaces WHERE thread_id=? ORDER BY round, idx",
        (result.thread_id,),
    ).fetchall()
    assert ws == [(w.round, w.index, w.tokens, w.text, json.dumps(w.sources)) for w in result.workspaces]
    run = con.execute(
        "SELECT answer, b_seq, b_total, status, method FROM runs WHERE thread_id=?", (result.thread_id,)
    ).fetchone()
    assert run == (result.answer, result.b_seq, result.b_total, "completed", "pdr")
    drafts = con.execute(
        "SELECT COUNT(*), COUNT(score) FROM drafts WHERE thread_id=?", (result.thread_id,)
    ).fetchone()
    assert drafts == (7, 6)  # every draft; the first two rounds were scored
    assert inspect_run(result.thread_id, db=db) == result
    (summary,) = list_runs(db)
    assert (summary.thread_id, summary.b_total, summary.status) == (
        result.thread_id,
        result.b_total,
        "completed",
    )


def test_no_api_key_anywhere_in_the_database(tmp_path):
    from langchain_openai import ChatOpenAI

    db = tmp_path / "runs.sqlite"
    with FakeOpenAIServer() as server:
        run_pdr("q?", model="openai:fake-model", base_url=server.base_url, db=db, config=CONFIG)
        model = ChatOpenAI(
            model="fake-model", base_url=server.base_url, api_key=KEY + "-object", max_retries=0
        )
        result = run_pdr("q?", model=model, db=db, config=CONFIG)
    assert result.answer == "42"
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("runs.sqlite"))
    assert b"fake-model" in blob  # the spec is there ...
    assert KEY.encode() not in blob  # ... the key is not
    assert b"PDR-SECRET" not in blob


def test_resume_rebuilds_the_model_from_the_spec(tmp_path):
    db = tmp_path / "runs.sqlite"
    with FakeOpenAIServer() as server:
        result = run_pdr("q?", model="openai:fake-model", base_url=server.base_url, db=db, config=CONFIG)
    row = sqlite3.connect(db).execute("SELECT spec FROM runs").fetchone()[0]
    spec = json.loads(row)
    assert spec["model"] == {
        "id": "openai:fake-model",
        "base_url": server.base_url,
        "local_model": None,
        "timeout": None,
    }
    assert result.model == "openai:fake-model"


def test_default_database_comes_from_the_environment(tmp_path, monkeypatch):
    from fakes import ScriptedChatModel

    monkeypatch.setenv("PDR_DB", str(tmp_path / "env.sqlite"))
    result = run_pdr("q?", model=ScriptedChatModel(), config=PDRConfig(method="single"))
    assert (tmp_path / "env.sqlite").exists()
    assert [r.thread_id for r in list_runs()] == [result.thread_id]


def test_a_round_with_no_survivor_fails_clearly_and_resumes(tmp_path):
    from fakes import ScriptedChatModel, default_reply

    def broken(call):
        if call.role == "draft" and call.round == 2:
            raise ValueError("the provider rejected the request")
        return default_reply(call)

    db = tmp_path / "runs.sqlite"
    config = PDRConfig(schedule="3,2,1", distiller="random_k")
    failed = run_pdr("q?", model=ScriptedChatModel(script=broken), config=config, db=db)
    assert (failed.stop_reason, failed.status) == ("no_drafts", "failed")
    assert [d.error for d in failed.rounds[1].drafts] == ["ValueError: the provider rejected the request"] * 2
    assert failed.answer is None
    fixed = ScriptedChatModel()
    result = resume_pdr(failed.thread_id, db=db, model=fixed)
    assert (result.stop_reason, result.status, result.answer) == ("completed", "completed", "30")
    assert [(c.role, c.round) for c in fixed.log] == [("draft", 2), ("draft", 2), ("draft", 3)]
    assert [d.ok for d in result.rounds[1].drafts] == [True, True]
    assert result.b_total == sum(c.total_tokens for c in result.calls)


def test_transient_errors_are_retried_and_a_dead_draft_is_a_failure_record(tmp_path):
    from fakes import ScriptedChatModel, default_reply

    from langgraph_pdr.calls import retry

    attempts: dict[int, int] = {}

    def flaky(call):
        if call.role == "draft" and call.round == 1:
            attempts[call.index] = attempts.get(call.index, 0) + 1
            if call.index == 0 and attempts[0] == 1:
                raise ConnectionError("connection reset")  # transient: retried
            if call.index == 2:
                raise ConnectionError("always down")  # retried, then a failure record
        return default_reply(call)

    fast = retry.DEFAULT_RETRY._replace(initial_interval=0.01, max_interval=0.02)
    original = retry.DEFAULT_RETRY
    retry.DEFAULT_RETRY = fast
    try:
        import langgraph_pdr.graphs.pdr as pdr_graph

        pdr_graph.DEFAULT_RETRY = fast
        result = run_pdr(
            "q?",
            model=ScriptedChatModel(script=flaky),
            db=tmp_path / "r.sqlite",
            config=PDRConfig(schedule="3,1", distiller="random_k"),
        )
    finally:
        retry.DEFAULT_RETRY = original
        pdr_graph.DEFAULT_RETRY = original
    assert attempts == {0: 2, 1: 1, 2: fast.max_attempts}
    assert [d.ok for d in result.rounds[0].drafts] == [True, True, False]
    assert result.rounds[0].drafts[2].error == "ConnectionError: always down"
    assert result.stop_reason == "completed"
    assert result.rounds[0].workspaces[0].sources and 2 not in result.rounds[0].workspaces[0].sources


async def test_async_resume_of_a_failed_round(tmp_path):
    from fakes import ScriptedChatModel, default_reply

    from langgraph_pdr import aresume_pdr, arun_pdr

    def broken(call):
        if call.role == "draft" and call.round == 1:
            raise ValueError("bad request")
        return default_reply(call)

    db = tmp_path / "runs.sqlite"
    failed = await arun_pdr(
        "q?",
        model=ScriptedChatModel(script=broken),
        db=db,
        config=PDRConfig(schedule="2,1", distiller="random_k"),
    )
    assert (failed.stop_reason, failed.status) == ("no_drafts", "failed")
    result = await aresume_pdr(failed.thread_id, db=db, model=ScriptedChatModel())
    assert (result.stop_reason, result.answer) == ("completed", "20")


def test_billed_failures_of_a_killed_process_count_after_resume(durable_db):
    """An empty completion is billed; its process is then killed before the draft finished. The resume,
    in a fresh process, books that failure into B_total, and a retry under a generous B_total cap is
    not refused (the stage's reservation is read from the run's state, not from the dead process)."""
    from collections import Counter

    seen: Counter = Counter()
    phase = {"now": "kill"}

    def fault(req):
        if req.draft != (1, 0):
            return None
        seen[phase["now"]] += 1
        if seen[phase["now"]] == 1:
            return "empty"  # billed: the prompt's tokens
        return "hang" if phase["now"] == "kill" else None

    config = CONFIG.model_copy(update={"max_b_total": 50_000})
    with FakeOpenAIServer(fault=fault) as server:
        child = spawn("run", durable_db, server.base_url, "billed", config)
        server.wait_for(lambda: seen["kill"] == 2 and len(server.answered("draft")) == 4)
        wait_until(lambda: durable_drafts(durable_db, "billed") == 3)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        phase["now"] = "resume"
        result = resume_pdr("billed", db=durable_db)  # this process never saw the run: a fresh registry
        billed = sum(r.prompt_tokens + r.completion_tokens for r in server.requests if r.answered)
    assert (result.status, result.stop_reason, result.answer) == ("completed", "completed", "42")
    assert len(result.failed_calls) == 2 and seen["resume"] == 2
    assert result.b_total == billed
    assert result.b_total == (
        sum(c.total_tokens for c in result.calls) + sum(c.total_tokens for c in result.failed_calls)
    )


def test_a_holder_whose_run_was_taken_over_writes_nothing_more(durable_db):
    """A process paused past its lease (here: blocked in its drafts) finds the run taken over by another
    when it wakes: its next write raises LeaseLostError, and the ledger and the checkpoints hold nothing
    it wrote after the takeover."""
    import threading

    from fakes import ScriptedChatModel, default_reply
    from sqlalchemy import text

    from langgraph_pdr import LeaseLostError
    from langgraph_pdr.checkpoints.ledger import Ledger
    from langgraph_pdr.checkpoints.store import open_ledger

    gate, started = threading.Event(), threading.Semaphore(0)

    def paused(call):
        if call.role == "draft":
            started.release()
            gate.wait(60)
        return default_reply(call)

    outcome: dict = {}

    def first_holder():
        try:
            run_pdr(
                "q?",
                model=ScriptedChatModel(script=paused),
                db=durable_db,
                thread_id="fenced",
                config=PDRConfig(schedule="2,1", distiller="random_k", k=1),
            )
        except Exception as exc:
            outcome["error"] = exc

    holder = threading.Thread(target=first_holder)
    holder.start()
    for _ in range(2):
        assert started.acquire(timeout=60)
    ledger: Ledger = open_ledger(durable_db)

    def counts():
        with ledger.engine.connect() as conn:
            tables = ["drafts", "calls", "failed_calls", "workspaces", "rounds"]
            return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in tables}

    with ledger.engine.begin() as conn:  # the lease ran out while the holder was paused ...
        conn.execute(text("UPDATE runs SET lock_until = 0 WHERE thread_id = 'fenced'"))
    ledger.acquire("fenced", "elsewhere:1:takeover")  # ... and another process took the run over
    before, checkpoints = counts(), durable_drafts(durable_db, "fenced")
    gate.set()
    holder.join(60)
    assert isinstance(outcome.get("error"), LeaseLostError), outcome
    assert "taken over by another process (elsewhere:1:takeover)" in str(outcome["error"])
    assert counts() == before and durable_drafts(durable_db, "fenced") == checkpoints == 0
    row = ledger.run_row("fenced")
    assert (row["lock_owner"], row["status"]) == ("elsewhere:1:takeover", "running")
    ledger.dispose()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_held_lease_is_extended_by_its_heartbeat_until_the_block_ends(tmp_path, monkeypatch, mode):
    import asyncio
    import threading

    from langgraph_pdr.checkpoints import lock
    from langgraph_pdr.checkpoints.store import open_ledger

    monkeypatch.setattr(lock, "HEARTBEAT_S", 0.01)
    ledger = open_ledger(tmp_path / "runs.sqlite")
    ledger.start_run("beat", question="q?", config=CONFIG)
    tick = threading.Event()

    def lease_until() -> float:
        return ledger.run_row("beat")["lock_until"] or 0.0

    def extended(first: float) -> bool:  # by the heartbeat alone: nothing else writes meanwhile
        for _ in range(10_000):
            if lease_until() > first:
                return True
            tick.wait(0.001)
        return False

    if mode == "sync":
        with ledger.holding("beat", "here:1:sync"):
            assert extended(lease_until())
    else:

        async def hold() -> list[str]:
            async with ledger.aholding("beat", "here:1:async"):
                first = lease_until()
                assert await asyncio.to_thread(extended, first)
            return [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()]

        assert asyncio.run(hold()) == []  # the heartbeat task ended with the block
    row = ledger.run_row("beat")
    assert (row["lock_owner"], row["lock_until"]) == (None, None)  # released
    ledger.dispose()
