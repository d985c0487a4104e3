"""PostgreSQL: checkpoints (langgraph-checkpoint-postgres) and the ledger in one real PostgreSQL server.

The SIGKILL-then-resume test and the cross-process lock test run on it too (`tests/test_durable.py`),
as do all tests parametrized by the `db` fixture."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from fake_openai import FakeOpenAIServer
from fakes import ScriptedChatModel
from test_cli import pdr

from langgraph_pdr import PDRConfig, inspect_run, list_runs, run_pdr

CONFIG = PDRConfig(schedule="3,2,1", distiller="global_summary", max_tokens=64)


def test_sixteen_concurrent_runs_all_finish_with_correct_ledgers(postgres_db):
    model = ScriptedChatModel(delay=0.05)
    with ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(
                lambda i: run_pdr(
                    f"What is {i} + {i}?", model=model, db=postgres_db, thread_id=f"pg-{i}", config=CONFIG
                ),
                range(16),
            )
        )
    assert all(r.status == "completed" and r.answer == "30" for r in results)
    runs = {r.thread_id: r for r in list_runs(postgres_db)}
    assert set(runs) == {f"pg-{i}" for i in range(16)}
    for r in results:
        stored = inspect_run(r.thread_id, postgres_db)
        assert stored.question == f"What is {r.thread_id[3:]} + {r.thread_id[3:]}?"
        assert [len(x.drafts) for x in stored.rounds] == [3, 2, 1]
        assert len(stored.calls) == 3 + 1 + 2 + 1 + 1  # drafts and summaries, round by round
        assert stored.b_total == runs[r.thread_id].b_total == sum(c.total_tokens for c in stored.calls)
    assert len(model.log) == 16 * 8


def test_the_cli_takes_a_postgres_url(postgres_db):
    with FakeOpenAIServer() as server:
        ran = pdr(
            "run",
            "What is 6 * 7?",
            "--model",
            "fake-model",
            "--base-url",
            server.base_url,
            "--schedule",
            "2,1",
            "--distiller",
            "random_k",
            "--k",
            "1",
            "--db",
            postgres_db,
            "--json",
            env={"OPENAI_API_KEY": "sk-test"},
        )
    assert ran.returncode == 0, ran.stderr
    thread = json.loads(ran.stdout)["thread_id"]
    listed = pdr("runs", "--db", postgres_db, "--json")
    assert [r["thread_id"] for r in json.loads(listed.stdout)["runs"]] == [thread]
    shown = pdr("inspect", thread, "--db", postgres_db, "--json")
    assert json.loads(shown.stdout)["answer"] == "42"


def test_an_unreachable_postgres_is_one_clear_error(postgres_server):
    from test_cli import assert_one_line_error

    dead = postgres_server.rsplit(":", 1)[0] + ":9/nothing"
    with pytest.raises(ValueError, match="cannot use postgresql://postgres@127.0.0.1:9/nothing"):
        run_pdr("q?", model=ScriptedChatModel(), db=dead)
    assert_one_line_error(pdr("runs", "--db", dead), 2, "cannot use postgresql://")
