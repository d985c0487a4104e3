from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
sys.path.insert(0, str(Path(__file__).parent))

from fakes import ScriptedChatModel  # noqa: E402


@pytest.fixture
def fake() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture(autouse=True)
def _default_db(tmp_path, monkeypatch):
    """Runs that name no database go to a file of the test's own, never the user's data directory."""
    monkeypatch.setenv("PDR_DB", str(tmp_path / "default.sqlite"))


@pytest.fixture(params=["memory", "sqlite"])
def db(request, tmp_path):
    """Where runs are stored: in memory, or a real SQLite file."""
    return ":memory:" if request.param == "memory" else str(tmp_path / "runs.sqlite")


@pytest.fixture
def fast_retries(monkeypatch):
    """The default retry policy with short waits, for tests that inject faults."""
    import langgraph_pdr.graphs.pdr as pdr_graph
    from langgraph_pdr.nodes.retry import DEFAULT_RETRY

    fast = DEFAULT_RETRY._replace(initial_interval=0.05, max_interval=0.1, jitter=False)
    monkeypatch.setattr(pdr_graph, "DEFAULT_RETRY", fast)
    return fast
