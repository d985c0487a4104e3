"""`pdr serve` runs outlive its process: SIGKILL mid-batch, a restart, every run finished once with no
client action; idempotent requests; two workers on one PostgreSQL database, one killed. Real `pdr serve`
processes killed with SIGKILL, a real upstream on 127.0.0.1, real clients."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading

import httpx
import pytest
from fake_openai import FakeOpenAIServer
from serve_process import pdr_serve_process
from test_durable import wait_until
from test_orphans import hanging_drafts

from langgraph_pdr import list_runs

PDR = [sys.executable, "-m", "langgraph_pdr.cli"]
MODEL = "pdr-4-2-1-global_summary"


def body(question: str = "What is 6 * 7?", **extra) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": question}], "max_tokens": 200, **extra}


def serving(upstream: str, db: str, *args: str):
    """A `pdr serve` process on `db` (stopped by its PID when the block ends, unless the test killed it)."""
    return pdr_serve_process(upstream, "--db", db, *args)


def post(url: str, payload: dict, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return httpx.post(f"{url}/chat/completions", json=payload, headers=headers, timeout=120)


def billed(upstream: FakeOpenAIServer) -> int:
    return sum(r.prompt_tokens + r.completion_tokens for r in upstream.answered())


def ledger_drafts(db: str) -> int:
    if db.startswith("postgresql"):
        import psycopg

        with psycopg.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM calls WHERE role = 'draft'").fetchone()[0]
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM calls WHERE role = 'draft'").fetchone()[0]


def send_all(url: str, keys: list[str]) -> list[threading.Thread]:
    """Each key's request from a client thread of its own (its outcome is not awaited: the server dies)."""

    def client(key: str) -> None:
        try:
            post(url, body(), key)
        except httpx.HTTPError:
            pass  # the server was killed under it

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in keys]
    for t in threads:
        t.start()
    return threads


def killed_mid_batch(
    upstream: FakeOpenAIServer, url: str, proc: subprocess.Popen, db: str, n: int, before_kill=None
) -> None:
    """`n` keyed requests sent; once each run's first two drafts are answered and in the ledger, and
    the other two in flight (and `before_kill()` called): SIGKILL."""
    threads = send_all(url, [f"key-{i}" for i in range(n)])
    sent = lambda: len(upstream.answered("draft")) == 2 * n and len(upstream.requests) >= 4 * n  # noqa: E731
    upstream.wait_for(sent, 120)
    wait_until(lambda: ledger_drafts(db) == 2 * n, 120)
    if before_kill is not None:
        before_kill()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    for t in threads:
        t.join(timeout=30)


def test_sigkill_of_pdr_serve_mid_batch_then_a_restart_finishes_every_run_once(tmp_path):
    db, n = str(tmp_path / "runs.sqlite"), 16
    hang = {"on": True}
    with FakeOpenAIServer(delay=hanging_drafts(hang)) as upstream:
        with serving(upstream.base_url, db) as (proc, url):
            killed_mid_batch(upstream, url, proc, db, n)
        assert {r.status for r in list_runs(db)} == {"interrupted"}
        hang["on"] = False
        with serving(upstream.base_url, db) as (_, url):  # no client asks: it finds them itself
            wait_until(lambda: [r.status for r in list_runs(db)] == ["completed"] * n, 300)
            runs = list_runs(db)
            assert sum(r.b_total for r in runs) == billed(upstream)  # each call paid once
            assert all(r.answer == "42" for r in runs)
            requests = len(upstream.requests)
            retried = [post(url, body(), f"key-{i}") for i in range(n)]  # clients retry with their keys
            assert len(upstream.requests) == requests  # no second payment
    assert [r.status_code for r in retried] == [200] * n
    assert {r.json()["id"] for r in retried} == {f"chatcmpl-key-{i}" for i in range(n)}
    assert {r.json()["pdr"]["answer"] for r in retried} == {"42"}


def test_the_same_key_is_the_same_run(tmp_path):
    db = str(tmp_path / "runs.sqlite")
    gate = threading.Event()

    def delay(req):  # the first draft waits for the test: the run is in progress while it asks again
        if req.draft == (1, 0):
            gate.wait(60)
        return 0.0

    with FakeOpenAIServer(delay=delay) as upstream, serving(upstream.base_url, db) as (_, url):
        first: dict = {}
        started = threading.Thread(target=lambda: first.update(r=post(url, body(), "same")))
        started.start()
        upstream.wait_for(lambda: len(upstream.requests) >= 4)
        stream = {}
        joined = threading.Thread(
            target=lambda: stream.update(r=post(url, body(stream=True), "same")), daemon=True
        )
        joined.start()
        by_field = post(url, body(pdr={"thread_id": "other"}))  # a key in the body is a key too
        gate.set()
        started.join(timeout=120)
        joined.join(timeout=120)
        calls = len(upstream.requests)
        again = post(url, body(), "same")
        assert len(upstream.requests) == calls  # finished: its answer, nothing called
        reused = post(url, body("What is 5 * 5?"), "same")
    reply = first["r"].json()
    assert first["r"].status_code == 200 and again.json()["id"] == reply["id"] == "chatcmpl-same"
    assert again.json()["choices"][0]["message"]["content"] == reply["choices"][0]["message"]["content"]
    assert by_field.json()["id"] == "chatcmpl-other"
    events = [json.loads(line[6:]) for line in stream["r"].text.splitlines() if line.startswith("data: {")]
    assert {e["id"] for e in events} == {"chatcmpl-same"}
    assert any(e["choices"] and e["choices"][0]["delta"].get("pdr_event") for e in events)
    assert (
        "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
        == (reply["choices"][0]["message"]["content"])
    )
    drafts = [r for r in upstream.requests if r.role == "draft"]
    assert len(drafts) == 2 * 7  # two runs (same, other) of 4 + 2 + 1 drafts: none twice
    assert reused.status_code == 422 and "another question" in reused.json()["error"]["message"]


@pytest.mark.parametrize("bad", ["", "x" * 201])
def test_a_bad_idempotency_key_is_400(tmp_path, bad):
    with FakeOpenAIServer() as upstream, serving(upstream.base_url, str(tmp_path / "r.sqlite")) as (_, url):
        reply = post(url, body(pdr={"thread_id": bad}))
    assert reply.status_code == 400 and "Idempotency-Key" in reply.json()["error"]["message"]
    assert upstream.requests == []


@pytest.mark.parametrize("store", ["postgres", "sqlite"])
def test_two_workers_on_one_store_one_killed_the_other_finishes_its_runs(request, tmp_path, store):
    """On one PostgreSQL database (or one SQLite file on one machine): a client retrying its key on the
    other worker while the run is in progress follows it there, and gets its answer after the kill."""
    db, n = str(request.getfixturevalue("postgres_db") if store == "postgres" else tmp_path / "r.sqlite"), 8
    hang = {"on": True}
    follower: dict = {}

    def follow() -> None:
        follower["r"] = post(other, body(), "key-0")

    retry = threading.Thread(target=follow, daemon=True)
    with (
        FakeOpenAIServer(delay=hanging_drafts(hang)) as upstream,
        serving(upstream.base_url, db, "--recover-every", "0.5") as (survivor, other),
    ):
        with serving(upstream.base_url, db, "--recover-every", "0.5") as (proc, url):
            killed_mid_batch(upstream, url, proc, db, n, before_kill=retry.start)
        hang["on"] = False
        retry.join(timeout=300)
        wait_until(lambda: [r.status for r in list_runs(db)] == ["completed"] * n, 300)
        runs = list_runs(db)
        assert sum(r.b_total for r in runs) == billed(upstream)
        requests = len(upstream.requests)
        retried = [post(other, body(), f"key-{i}") for i in range(n)]
        assert len(upstream.requests) == requests
        assert survivor.poll() is None
    assert {r.json()["pdr"]["answer"] for r in retried} == {"42"}
    assert follower["r"].status_code == 200 and follower["r"].json()["id"] == "chatcmpl-key-0"
    assert follower["r"].json()["pdr"]["answer"] == "42"


def test_two_workers_share_one_port_with_reuse_port(tmp_path):
    # `--reuse-port`: a second worker binds the first one's port and the kernel spreads the connections
    db = str(tmp_path / "runs.sqlite")
    with FakeOpenAIServer() as upstream, serving(upstream.base_url, db, "--reuse-port") as (first, url):
        port = url.rsplit(":", 1)[1].split("/")[0]
        with serving(upstream.base_url, db, "--reuse-port", "--port", port) as (second, same):
            assert same == url
            replies = [post(url, body(f"What is 6 * 7? (#{n})")) for n in range(16)]  # a connection each
    logs = [first.stderr.read(), second.stderr.read()]
    assert [r.status_code for r in replies] == [200] * 16
    assert all(r.json()["pdr"]["answer"] == "42" for r in replies)
    served = [log.count("POST /v1/chat/completions") for log in logs]
    assert sum(served) == 16 and min(served) > 0, served  # both took some: one port, two workers
    assert len(list_runs(db)) == 16


def test_workers_share_one_port_and_stop_with_their_process(tmp_path):
    # `--workers 2`: two server processes on one port and store; SIGTERM stops them both
    db = str(tmp_path / "runs.sqlite")
    with FakeOpenAIServer() as upstream, serving(upstream.base_url, db, "--workers", "2") as (proc, url):
        replies = [post(url, body(f"What is 6 * 7? (#{n})")) for n in range(16)]  # a connection each
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
    log = proc.stderr.read()
    assert [r.status_code for r in replies] == [200] * 16
    assert all(r.json()["pdr"]["answer"] == "42" for r in replies)
    served = [log.count(f"pdr serve (worker {n}): POST /v1/chat/completions") for n in (1, 2)]
    assert sum(served) == 16 and min(served) > 0, served  # both took some
    pids = [int(p) for p in re.search(r"PIDs (\d+), (\d+)", log).groups()]
    for pid in pids:  # stopped, by their own PIDs
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert len(list_runs(db)) == 16


def test_a_worker_that_cannot_accept_leaves_its_connections_to_the_others(tmp_path):
    # the workers accept from one socket: while one cannot (stopped here, as a worker busy for long
    # would be), the other takes every connection; a port shared by SO_REUSEPORT would deal about half
    # of them to the stopped one, where they would wait
    db = str(tmp_path / "runs.sqlite")
    with FakeOpenAIServer() as upstream, serving(upstream.base_url, db, "--workers", "2") as (proc, url):
        stopped, running = (int(p) for p in open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split())
        os.kill(stopped, signal.SIGSTOP)
        try:
            replies = [
                httpx.post(f"{url}/chat/completions", json=body(f"What is 6 * 7? (#{n})"), timeout=30)
                for n in range(8)  # a connection each
            ]
        finally:
            os.kill(stopped, signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
    log = proc.stderr.read()
    assert [r.json()["pdr"]["answer"] for r in replies] == ["42"] * 8
    pids = [int(p) for p in re.search(r"PIDs (\d+), (\d+)", log).groups()]
    served = {pid: log.count(f"pdr serve (worker {pids.index(pid) + 1}): POST /v1") for pid in pids}
    assert served == {stopped: 0, running: 8}


def test_workers_need_a_store_they_can_share(tmp_path):
    with FakeOpenAIServer() as upstream:
        done = subprocess.run(
            [*PDR, "serve", "--model", "fake-model", "--base-url", upstream.base_url, "--port", "0"]
            + ["--workers", "2", "--db", ":memory:"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "OPENAI_API_KEY": "sk-test"},
        )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("pdr: error: --workers: workers share one store")


def test_a_port_in_use_is_one_clear_error(tmp_path):
    with socket.socket() as taken, FakeOpenAIServer() as upstream:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [*PDR, "serve", "--model", "fake-model", "--base-url", upstream.base_url, "--port", port],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "OPENAI_API_KEY": "sk-test", "PDR_DB": str(tmp_path / "runs.sqlite")},
        )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"pdr: error: cannot listen on 127.0.0.1:{port}: Address already in use; --port 0 picks a free "
        "port, --reuse-port shares one"
    )
