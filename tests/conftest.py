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


def _pg_bin() -> Path | None:
    import glob
    import shutil

    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return Path(versions[-1]) if versions else None


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (Debian's `postgresql` package) in a temporary directory on a free
    local port, for the whole session; yields its base URL (`postgresql://postgres@127.0.0.1:PORT`)."""
    import shutil
    import socket
    import subprocess
    import tempfile

    bindir = _pg_bin()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)")
    root = Path(tempfile.mkdtemp(prefix="pdr-pg-"))
    root.chmod(0o755)
    data = root / "data"
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        import pwd

        user = pwd.getpwnam("postgres")
        data.mkdir()
        os.chown(data, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *cmd: subprocess.run([*as_postgres, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-w",
        "-l",
        str(data / "server.log"),
        "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
        "start",
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_server):
    """A fresh database of the session's PostgreSQL server, as a URL."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


@pytest.fixture
def fast_retries(monkeypatch):
    """The default retry policy with short waits, for tests that inject faults."""
    import langgraph_pdr.graphs.pdr as pdr_graph
    from langgraph_pdr.calls.retry import DEFAULT_RETRY

    fast = DEFAULT_RETRY._replace(initial_interval=0.05, max_interval=0.1, jitter=False)
    monkeypatch.setattr(pdr_graph, "DEFAULT_RETRY", fast)
    return fast
