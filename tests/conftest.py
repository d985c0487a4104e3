from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest

os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
sys.path.insert(0, str(Path(__file__).parent))

# A cache of the session's own, empty at first, so the suite sees what a new machine sees (the local
# model is assembled into it once); the shared model servers it starts stop soon after their last test.
_CACHE = tempfile.mkdtemp(prefix="pdr-test-cache-")
os.environ["PDR_CACHE_DIR"] = _CACHE
os.environ["PDR_SERVER_IDLE_S"] = "2"

from fakes import ScriptedChatModel  # noqa: E402


@pytest.fixture
def fake() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture(scope="session", autouse=True)
def _stop_shared_servers():
    """At the end of the session, stop (by PID) every shared model server the session's cache lists,
    and remove the cache."""
    yield
    for port_file in Path(_CACHE).glob("servers/*.json"):
        try:
            pid = json.loads(port_file.read_text())["pid"]
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, KeyError):
            continue
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True)
def _default_db(tmp_path, monkeypatch):
    """Runs that name no database go to a file of the test's own, never the user's data directory."""
    monkeypatch.setenv("PDR_DB", str(tmp_path / "default.sqlite"))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def db(request, tmp_path):
    """Where runs are stored: in memory, a real SQLite file, or a database of a real PostgreSQL server."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_db")
    return ":memory:" if request.param == "memory" else str(tmp_path / "runs.sqlite")


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (Debian's `postgresql` package) in a temporary directory on a free
    local port, for the whole session; yields its base URL (`postgresql://postgres@127.0.0.1:PORT`)."""
    from postgres_process import PostgresMissing, temporary_postgres

    try:
        with temporary_postgres() as url:
            yield url
    except PostgresMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture
def postgres_db(postgres_server):
    """A fresh database of the session's PostgreSQL server, as a URL."""
    from postgres_process import new_database

    return new_database(postgres_server)


@pytest.fixture
def fast_retries(monkeypatch):
    """The default retry policy with short waits, for tests that inject faults."""
    import langgraph_pdr.graphs.pdr as pdr_graph
    from langgraph_pdr.calls.retry import DEFAULT_RETRY

    fast = DEFAULT_RETRY._replace(initial_interval=0.05, max_interval=0.1, jitter=False)
    monkeypatch.setattr(pdr_graph, "DEFAULT_RETRY", fast)
    return fast
