"""`pdr mcp`: the MCP SDK's own client talking to a real `pdr mcp` process (stdio, and streamable HTTP)
in front of a real OpenAI-compatible fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from fake_openai import FakeOpenAIServer  # noqa: E402
from mcp import ClientSession, StdioServerParameters, types  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared.exceptions import McpError  # noqa: E402
from test_durable import durable_drafts, wait_until  # noqa: E402

PDR = [sys.executable, "-m", "langgraph_pdr.cli"]


def server_env(db: Path) -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": "sk-test", "PDR_DB": str(db)}


@asynccontextmanager
async def pdr_mcp(upstream_url: str, db: Path, log: Path) -> AsyncIterator[ClientSession]:
    """A `pdr mcp` process over stdio (started and stopped by the SDK's client), its session open."""
    params = StdioServerParameters(
        command=PDR[0],
        args=[*PDR[1:], "mcp", "--model", "fake-model", "--base-url", upstream_url, "--db", str(db)],
        env=server_env(db),
    )
    with log.open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def text_of(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def test_solve_answers_with_progress_and_inspect_run_reads_the_run(tmp_path):
    db = tmp_path / "runs.sqlite"
    with FakeOpenAIServer() as upstream:
        async with pdr_mcp(upstream.base_url, db, tmp_path / "mcp.log") as session:
            names = {t.name for t in (await session.list_tools()).tools}
            assert {"solve", "inspect_run", "list_runs", "resume_run"} <= names
            progress: list[tuple[float, str | None]] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append((value, message))

            result = await session.call_tool(
                "solve",
                {"question": "What is 6 * 7?", "method": "pdr", "schedule": "4,1"},
                progress_callback=on_progress,
            )
            assert not result.isError, text_of(result)
            solved = result.structuredContent
            assert solved["answer"] == "42" and solved["stop_reason"] == "completed"
            assert "\\boxed{42}" in text_of(result) and solved["thread_id"] in text_of(result)
            messages = [m or "" for _, m in progress]
            assert messages[0] == f"Run {solved['thread_id']} started."
            assert {"Round 1/2: writing 4 draft(s).", "Round 2/2: writing 1 draft(s)."} <= set(messages)
            assert sum(m.startswith("Draft ") and " done " in m for m in messages) == 5
            assert any(m.startswith("Distilled round 1") for m in messages)
            values = [v for v, _ in progress]
            assert values == sorted(set(values))  # each notification's progress goes up

            inspected = await session.call_tool("inspect_run", {"thread_id": solved["thread_id"]})
            run = inspected.structuredContent
            assert not inspected.isError and run["thread_id"] == solved["thread_id"]
            assert [len(r["drafts"]) for r in run["rounds"]] == [4, 1]
            assert run["rounds"][0]["workspaces"] and run["status"] == "completed"
            assert (run["b_seq"], run["b_total"]) == (solved["b_seq"], solved["b_total"])
            listed = (await session.call_tool("list_runs", {})).structuredContent["runs"]
            assert [r["thread_id"] for r in listed] == [solved["thread_id"]]


async def test_solve_with_tests_answers_with_the_program_that_passed(tmp_path):
    fence = "`" * 3

    def programs(req) -> str:  # round 1: one wrong program, one right one
        body = "return a - b" if req.draft == (1, 0) else "return a + b"
        return f"{fence}python\ndef add(a, b):\n    {body}\n{fence}"

    with FakeOpenAIServer(reply=programs) as upstream:
        async with pdr_mcp(upstream.base_url, tmp_path / "runs.sqlite", tmp_path / "mcp.log") as session:
            arguments = {
                "question": "Write add(a, b).",
                "method": "pdr",
                "schedule": "2,2",
                "distiller": "verified_top_k",
                "k": 1,
                "tests": "assert add(2, 2) == 4",
                "stop_on_pass": True,
            }
            result = await session.call_tool("solve", arguments)
            bad = await session.call_tool("solve", {**arguments, "tests": "assert add("})
    assert not result.isError, text_of(result)
    solved = result.structuredContent
    assert solved["answer"] == "def add(a, b):\n    return a + b" and solved["stop_reason"] == "verified"
    assert bad.isError and text_of(bad).startswith("tests: not valid Python")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"method": "pdr"}, "question: Field required"),
        ({"question": "What is 6 * 7?", "method": "magic"}, "method: Input should be 'pdr', "),
        ({"question": "What is 6 * 7?", "schedule": "4,x"}, "schedule: '4,x' is not a list of draft counts"),
        ({"question": "What is 6 * 7?", "kappa": 0}, "kappa: must be at least 1, got 0"),
        ({"question": "What is 6 * 7?", "max_tokens": -5}, "max_tokens: must be at least 1, got -5"),
        (
            {"question": "Write add.", "tests": "assert add(2, 2) == 4", "pass_quorum": 2},
            "pass_quorum: counts",
        ),
        ({"question": "  "}, "question: must be a non-empty string"),
    ],
)
async def test_bad_input_is_one_clear_tool_error(tmp_path, arguments, message):
    with FakeOpenAIServer() as upstream:
        async with pdr_mcp(upstream.base_url, tmp_path / "runs.sqlite", tmp_path / "mcp.log") as session:
            result = await session.call_tool("solve", arguments)
            missing = await session.call_tool("inspect_run", {"thread_id": "nope"})
    assert result.isError and text_of(result).startswith(message)
    assert "\n" not in text_of(result) and "Traceback" not in text_of(result)
    assert missing.isError and text_of(missing).startswith("thread_id: no run 'nope'")
    assert upstream.requests == []  # nothing ran


async def test_a_cancelled_solve_leaves_a_run_that_resume_run_finishes_paying_nothing_twice(tmp_path):
    db = tmp_path / "runs.sqlite"
    release = threading.Event()

    def delay(req) -> float:
        if req.draft in ((1, 2), (1, 3)):
            release.wait(60)  # two drafts of round 1 hang until the run is cancelled
        return 0.0

    with FakeOpenAIServer(delay=delay) as upstream:
        async with pdr_mcp(upstream.base_url, db, tmp_path / "mcp.log") as session:
            finished = asyncio.Event()
            done: list[str] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                if (message or "").startswith("Draft "):
                    done.append(message or "")
                    if len(done) == 2:
                        finished.set()

            request_id = session._request_id  # the id the SDK gives the next request: the one to cancel
            call = asyncio.create_task(
                session.call_tool(
                    "solve",
                    {"question": "What is 6 * 7?", "schedule": "4,1", "thread_id": "t-cancel"},
                    progress_callback=on_progress,
                )
            )
            await asyncio.wait_for(finished.wait(), 60)
            await asyncio.to_thread(wait_until, lambda: durable_drafts(db, "t-cancel") == 2)
            await session.send_notification(
                types.ClientNotification(
                    types.CancelledNotification(
                        params=types.CancelledNotificationParams(requestId=request_id, reason="the user left")
                    )
                )
            )
            with pytest.raises(McpError, match="Request cancelled"):
                await call

            async def status() -> str:
                run = await session.call_tool("inspect_run", {"thread_id": "t-cancel"})
                return run.structuredContent["status"]

            for _ in range(600):  # the cancelled run records itself a moment after the reply
                if await status() != "running":
                    break
                await asyncio.sleep(0.05)
            assert await status() == "interrupted"
            before = list(upstream.requests)
            release.set()
            resumed = await session.call_tool("resume_run", {"thread_id": "t-cancel"})
            after = upstream.requests[len(before) :]
            inspected = (await session.call_tool("inspect_run", {"thread_id": "t-cancel"})).structuredContent

    assert not resumed.isError, text_of(resumed)
    assert resumed.structuredContent["answer"] == "42" and inspected["status"] == "completed"
    answered = {r.draft for r in before if r.answered}
    assert answered == {(1, 0), (1, 1)}
    assert not [r for r in after if r.draft in answered]  # the finished drafts were not paid again
    assert {r.draft for r in after if r.draft and r.draft[0] == 1} == {(1, 2), (1, 3)}
    calls = [(c["role"], c["round"], c["index"]) for c in inspected["calls"]]
    assert len(calls) == len(set(calls))  # every call booked once
    assert inspected["b_total"] == resumed.structuredContent["b_total"]


def test_streamable_http_serves_the_same_tools(tmp_path):
    db = tmp_path / "runs.sqlite"
    with FakeOpenAIServer() as upstream:
        proc = subprocess.Popen(
            [*PDR, "mcp", "--transport", "streamable-http", "--port", "0", "--model", "fake-model"]
            + ["--base-url", upstream.base_url, "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=server_env(db),
        )
        try:
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp"), proc.stderr.read()

            async def solve() -> types.CallToolResult:
                async with (
                    streamable_http_client(url) as (read, write, _),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()
                    assert "solve" in {t.name for t in (await session.list_tools()).tools}
                    arguments = {"question": "What is 6 * 7?", "method": "single"}
                    return await session.call_tool("solve", arguments)

            result = asyncio.run(solve())
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert not result.isError, text_of(result)
    assert result.structuredContent["answer"] == "42"


def test_pdr_mcp_without_the_sdk_says_how_to_install_it(tmp_path):
    blocker = tmp_path / "sitecustomize.py"  # hides the SDK from the child process
    blocker.write_text("import sys\nsys.modules['mcp'] = None\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([*PDR, "mcp"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "pdr: error: pdr mcp needs the MCP SDK: pip install 'langgraph-pdr[mcp]'"


def test_docstring_examples_of_the_mcp_modules_run(tmp_path, monkeypatch):
    from test_docstrings import BLOCK

    from langgraph_pdr.integrations.mcp_endpoint import create_mcp_server
    from langgraph_pdr.tooling.mcp_client import mcp_connections

    monkeypatch.chdir(tmp_path)
    for obj in (create_mcp_server, mcp_connections):
        for code in BLOCK.findall(inspect.getdoc(obj) or ""):
            exec(compile(textwrap.dedent(code), "<docstring>", "exec"), {})
