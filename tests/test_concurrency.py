"""Many runs at once on one database: a real `pdr serve` process under load, and concurrent `arun_pdr`
calls on one SQLite file and one PostgreSQL database. Nothing is lost, nothing refused."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from fake_openai import FakeOpenAIServer
from serve_process import pdr_serve

from langgraph_pdr import PDRConfig, arun_pdr, list_runs, run_pdr
from langgraph_pdr.models import build_model
from langgraph_pdr.state.spec import ModelSpec

SMALL = PDRConfig(schedule="2,1", distiller="random_k", k=1, max_tokens=64)
#: SQLite's busy timeout for these tests: a process's writers of one file take turns in its write gate,
#: so none of them waits in SQLite's (unfair) busy handler; without the gate 96 runs at once lost
#: most of their requests to "database is locked" with 1-3 s, and some with the default 30 s.
TIGHT_DB_TIMEOUT = "2"


def spread(req):
    """Replies come back over a few tens of milliseconds, as from a busy provider."""
    return 0.01 * (1 + (req.draft or (0, 0))[1] % 4)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


@pytest.mark.parametrize("where", ["sqlite", "postgres"])
async def test_64_concurrent_async_runs_on_one_database(where, tmp_path, request, monkeypatch):
    monkeypatch.setenv("PDR_DB_TIMEOUT", TIGHT_DB_TIMEOUT)
    db = request.getfixturevalue("postgres_db") if where == "postgres" else str(tmp_path / "runs.sqlite")
    with FakeOpenAIServer(delay=spread) as server:
        results = await asyncio.gather(
            *[
                arun_pdr(
                    f"What is 6 * 7? (#{n})",
                    model="fake-model",
                    base_url=server.base_url,
                    db=db,
                    config=SMALL,
                )
                for n in range(64)
            ]
        )
        asked = len(server.requests)
    assert [(r.status, r.answer) for r in results] == [("completed", "42")] * 64
    assert asked == 64 * 3
    stored = list_runs(db)
    assert len(stored) == 64 and {r.status for r in stored} == {"completed"}
    assert sorted(r.b_total for r in stored) == sorted(r.b_total for r in results)


def _complete(url: str, n: int) -> tuple[int, dict]:
    body = json.dumps({"model": "pdr", "messages": [{"role": "user", "content": f"What is 6 * 7? (#{n})"}]})
    request = urllib.request.Request(
        url + "/chat/completions", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.parametrize("clients", [16, 64])
def test_pdr_serve_answers_every_concurrent_completion_on_its_default_sqlite_store(clients, tmp_path):
    env = {"PDR_DB": str(tmp_path / "default-store.sqlite"), "PDR_DB_TIMEOUT": TIGHT_DB_TIMEOUT}
    with FakeOpenAIServer(delay=spread) as upstream, pdr_serve(upstream.base_url, env=env) as url:
        with ThreadPoolExecutor(clients) as pool:
            replies = list(pool.map(lambda n: _complete(url, n), range(clients)))
    statuses = [status for status, _ in replies]
    assert statuses == [200] * clients, [body for status, body in replies if status != 200][:3]
    assert all(body["pdr"]["answer"] == "42" and body["pdr"]["status"] == "completed" for _, body in replies)
    assert len({body["pdr"]["thread_id"] for _, body in replies}) == clients
    stored = list_runs(tmp_path / "default-store.sqlite")
    assert len(stored) == clients and {r.status for r in stored} == {"completed"}


def test_concurrent_sync_runs_in_threads_on_one_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PDR_DB_TIMEOUT", TIGHT_DB_TIMEOUT)
    db = tmp_path / "threads.sqlite"
    with FakeOpenAIServer(delay=spread) as server, ThreadPoolExecutor(32) as pool:

        def one(n: int):
            return run_pdr(
                f"What is 6 * 7? (#{n})", model="fake-model", base_url=server.base_url, db=db, config=SMALL
            )

        results = list(pool.map(one, range(32)))
    assert [(r.status, r.answer) for r in results] == [("completed", "42")] * 32
    assert len(list_runs(db)) == 32


def test_async_calls_go_through_the_sdks_aiohttp_transport():
    # openai[aiohttp] is a dependency: at high concurrency httpx's pool costs more CPU per call
    async def transport() -> str:
        model = build_model(ModelSpec(id="fake-model", base_url="http://127.0.0.1:9/v1"))
        return type(model.root_async_client._client._transport).__name__

    assert asyncio.run(transport()) == "AiohttpTransport"


def test_async_runs_in_successive_event_loops_share_a_kept_alive_server(tmp_path):
    """A server that keeps connections alive (as providers do): a second `asyncio.run(arun_pdr(...))`
    in the process does not reuse the first loop's connections (langchain-openai's one client per
    process failed it with "Event loop is closed"); within a loop, calls reuse connections."""
    with FakeOpenAIServer() as server:
        server.httpd.RequestHandlerClass.protocol_version = "HTTP/1.1"  # keep-alive
        for n in range(3):
            result = asyncio.run(
                arun_pdr(
                    f"What is 6 * 7? ({n})",
                    model="fake-model",
                    base_url=server.base_url,
                    db=tmp_path / "runs.sqlite",
                    config=SMALL,
                )
            )
            assert result.status == "completed"
    assert len(list_runs(tmp_path / "runs.sqlite")) == 3


def established(port: int) -> int:
    """This machine's TCP connections in state ESTABLISHED to `port` (Linux `/proc/net/tcp`)."""
    rows = open("/proc/net/tcp").read().splitlines()[1:]
    return sum(1 for row in rows if row.split()[2].endswith(f":{port:04X}") and row.split()[3] == "01")


def test_an_event_loop_that_ends_closes_its_connections(tmp_path):
    # the loop's HTTP client is closed as `asyncio.run` shuts the loop down: no connection stays open
    # (nor an aiohttp session that would say "Unclosed client session" when collected)
    with FakeOpenAIServer() as server:
        server.httpd.RequestHandlerClass.protocol_version = "HTTP/1.1"  # keep-alive
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])

        async def run_and_count() -> int:
            await arun_pdr("What is 6 * 7?", model="fake-model", base_url=server.base_url, config=SMALL)
            return established(port)

        assert asyncio.run(run_and_count()) > 0  # kept alive while the loop runs
        assert established(port) == 0
