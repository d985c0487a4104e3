"""MCP servers' tools for drafts: a small MCP server the test starts (stdio, tests/mcp_math_server.py),
a real OpenAI-compatible fake on 127.0.0.1 whose drafts call its tools, through `run_pdr(tools=...)`
and `pdr run --mcp-config` (then `pdr inspect`, and `pdr resume` after a SIGKILL)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("langchain_mcp_adapters")

from fake_openai import FakeOpenAIServer, ToolCalls, default_reply  # noqa: E402
from test_durable import wait_until  # noqa: E402

from langgraph_pdr import PDRConfig, run_pdr  # noqa: E402
from langgraph_pdr.tooling.mcp_client import load_mcp_tools, mcp_connections  # noqa: E402

PDR = [sys.executable, "-m", "langgraph_pdr.cli"]
SERVER = Path(__file__).with_name("mcp_math_server.py")
NATIVE = PDRConfig(method="single", tool_format="native", max_tool_calls=4)


@pytest.fixture
def mcp_config(tmp_path) -> Path:
    """An `mcpServers` file, as a desktop client writes it, naming the math server; its calls are
    logged in `calls.log` beside it."""
    path = tmp_path / "mcp.json"
    log = tmp_path / "calls.log"
    server = {"command": sys.executable, "args": [str(SERVER)], "env": {"MCP_CALL_LOG": str(log)}}
    path.write_text(json.dumps({"mcpServers": {"math": server}}))
    return path


def calls_made(mcp_config: Path) -> list[str]:
    log = mcp_config.with_name("calls.log")
    return log.read_text().splitlines() if log.exists() else []


def calls_tools(req):
    """A draft's first turn calls `add` and `fail`; its next turn answers with what `add` returned."""
    if req.role != "draft":
        return default_reply(req)
    results = req.tool_results()
    if not results:
        return ToolCalls([("add", {"a": 17, "b": 25}), ("fail", {"reason": "testing"})])
    return f"The tool computed {results[0]}, so the answer is \\boxed{{{results[0]}}}"


def test_a_draft_calls_an_mcp_servers_tools_and_each_call_is_recorded(tmp_path, mcp_config):
    tools = asyncio.run(load_mcp_tools(mcp_config))
    assert sorted(t.name for t in tools) == ["add", "fail"]
    with FakeOpenAIServer(reply=calls_tools) as upstream:
        result = run_pdr(
            "What is 17 + 25?",
            model="fake-model",
            base_url=upstream.base_url,
            config=NATIVE,
            db=tmp_path / "runs.sqlite",
            tools=tools,
        )
    assert sorted(upstream.requests[0].tools) == ["add", "fail"]  # offered natively
    assert upstream.requests[1].tool_results()[0] == "42"
    draft = result.rounds[0].drafts[0]
    added, failed = draft.turns[0].tool_calls
    assert (added.name, added.args, added.output, added.error) == ("add", {"a": 17, "b": 25}, "42", False)
    assert failed.name == "fail" and failed.error and "the tool failed on purpose: testing" in failed.output
    assert result.answer == "42" and len(draft.turns) == 2
    assert [c.turn for c in result.calls] == [0, 1]  # each turn is a call of the draft
    assert calls_made(mcp_config) == ["add 17 25", "fail testing"]


def test_pdr_run_mcp_config_and_pdr_inspect_show_the_calls(tmp_path, mcp_config):
    db = tmp_path / "runs.sqlite"
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    with FakeOpenAIServer(reply=calls_tools) as upstream:
        run = subprocess.run(
            [*PDR, "run", "What is 17 + 25?", "--mcp-config", str(mcp_config), "--model", "fake-model"]
            + ["--base-url", upstream.base_url, "--method", "single", "--tool-format", "native"]
            + ["--json", "--db", str(db)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    calls = result["rounds"][0]["drafts"][0]["turns"][0]["tool_calls"]
    assert [(c["name"], c["output"]) for c in calls][0] == ("add", "42") and result["answer"] == "42"
    shown = subprocess.run(
        [*PDR, "inspect", result["thread_id"], "--db", str(db)],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert '    add {"a": 17, "b": 25}\n      output:\n      > 42\n' in shown.stdout
    assert (
        "> error: ToolException: Error executing tool fail: the tool failed on purpose: testing"
        in shown.stdout
    )


def test_a_killed_run_resumes_with_its_mcp_config_calling_no_tool_twice(tmp_path, mcp_config):
    db = tmp_path / "runs.sqlite"
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    hold = threading.Event()

    def delay(req) -> float:
        if req.role == "draft" and req.tool_results():
            hold.wait(60)  # the draft's second turn waits: the process is killed meanwhile
        return 0.0

    with FakeOpenAIServer(reply=calls_tools, delay=delay) as upstream:
        child = subprocess.Popen(
            [*PDR, "run", "What is 17 + 25?", "--mcp-config", str(mcp_config), "--model", "fake-model"]
            + ["--base-url", upstream.base_url, "--method", "single", "--tool-format", "native"]
            + ["--thread-id", "t-mcp", "--json", "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            upstream.wait_for(lambda: len(upstream.requests) == 2, timeout=120)

            def first_turn_recorded() -> bool:
                with sqlite3.connect(db) as conn:
                    return (
                        conn.execute("SELECT COUNT(*) FROM turns WHERE thread_id = 't-mcp'").fetchone()[0]
                        == 1
                    )

            wait_until(first_turn_recorded)
        finally:
            child.send_signal(signal.SIGKILL)
            child.communicate(timeout=30)
        hold.set()
        assert calls_made(mcp_config) == ["add 17 25", "fail testing"]

        forgot = subprocess.run(
            [*PDR, "resume", "t-mcp", "--db", str(db)], capture_output=True, text=True, env=env, timeout=60
        )
        assert forgot.returncode == 2
        assert forgot.stderr.strip() == (
            "pdr: error: this run's drafts were given the tools add, fail of MCP servers; resume it with "
            "the same --mcp-config FILE"
        )
        resumed = subprocess.run(
            [*PDR, "resume", "t-mcp", "--db", str(db), "--mcp-config", str(mcp_config), "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["answer"] == "42" and result["status"] == "completed"
    assert calls_made(mcp_config) == ["add 17 25", "fail testing"]  # the recorded turn was not run again
    turns = result["rounds"][0]["drafts"][0]["turns"]
    assert [c["name"] for c in turns[0]["tool_calls"]] == ["add", "fail"] and len(turns) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "mcp_config: no such file: "),
        ("{not json", "mcp_config: "),
        ('{"mcpServers": {}}', "mcp_config: "),
        ('{"mcpServers": {"x": {"args": []}}}', "mcp_config: server 'x' in "),
        (
            '{"mcpServers": {"x": {"command": "no-such-mcp-server-here"}}}',
            "mcp_config: cannot load the tools",
        ),
    ],
)
def test_a_bad_mcp_config_is_one_line_and_runs_nothing(tmp_path, content, message):
    path = tmp_path / "mcp.json"
    if content is not None:
        path.write_text(content)
    with FakeOpenAIServer() as upstream:
        proc = subprocess.run(
            [*PDR, "run", "q", "--mcp-config", str(path), "--model", "fake-model", "--base-url"]
            + [upstream.base_url, "--db", str(tmp_path / "runs.sqlite")],
            capture_output=True,
            text=True,
            env={**os.environ, "OPENAI_API_KEY": "sk-test"},
            timeout=60,
        )
    assert proc.returncode == 2 and proc.stderr.startswith(f"pdr: error: {message}")
    assert len(proc.stderr.strip().splitlines()) == 1 and upstream.requests == []


def test_mcp_connections_reads_both_forms():
    adapters = {"math": {"transport": "stdio", "command": "python", "args": ["m.py"]}}
    assert mcp_connections(adapters) == adapters
    vscode = {"servers": {"web": {"type": "sse", "url": "http://127.0.0.1:9/sse", "headers": {"k": "v"}}}}
    assert mcp_connections(vscode) == {
        "web": {"transport": "sse", "url": "http://127.0.0.1:9/sse", "headers": {"k": "v"}}
    }
