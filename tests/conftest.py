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


@pytest.fixture(params=["memory", "sqlite"])
def db(request, tmp_path):
    """Where runs are stored: in memory, or a real SQLite file."""
    return None if request.param == "memory" else str(tmp_path / "runs.sqlite")
