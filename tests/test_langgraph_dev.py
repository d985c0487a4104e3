"""`langgraph dev` serves the graphs of `langgraph.json`: a real server process, a thread run through
`langgraph_sdk` with a JSON context, and the custom progress events streamed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    cli = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or shutil.which("langgraph")
    if cli is None:
        pytest.fail("langgraph-cli[inmem] is not installed (pip install -e '.[dev]')")
    port = free_port()
    work = tmp_path_factory.mktemp("dev")
    log = (work / "server.log").open("w")
    command = [
        cli,
        "dev",
        "--no-browser",
        "--no-reload",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--config",
        str(ROOT / "langgraph.json"),
    ]
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "LANGSMITH_TRACING": "false"}
    env.pop("PDR_ALLOW_TOOLS", None)  # the deployment allows no tool
    proc = subprocess.Popen(command, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/ok", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((work / "server.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.parametrize(
    "graph, config, answer",
    [
        ("pdr", {"schedule": [3, 1], "distiller": "random_k", "k": 1}, "42"),
        ("sr", {"method": "sr_error", "schedule": [1, 1]}, "42"),
    ],
)
def test_a_thread_runs_through_langgraph_sdk_with_custom_events(dev_server, graph, config, answer):
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=dev_server)
    assert {a["graph_id"] for a in client.assistants.search()} >= {"pdr", "sr"}
    with FakeOpenAIServer() as upstream:
        thread = client.threads.create()
        events, values = [], None
        for part in client.runs.stream(
            thread["thread_id"],
            graph,
            input={"question": "What is 6 * 7?"},
            context={"model": "fake-model", "base_url": upstream.base_url, "config": config},
            stream_mode=["custom", "values"],
        ):
            if part.event == "custom":
                events.append(part.data)
            elif part.event == "values":
                values = part.data
        requests = len(upstream.requests)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "round_started" and "draft_finished" in kinds and kinds[-1] == "run_finished"
    assert values["answer"] == answer and values["b_total"] > 0
    assert requests == (4 if graph == "pdr" else 3)
    state = client.threads.get_state(thread["thread_id"])
    assert state["values"]["answer"] == answer  # the server's own persistence has the run


def test_a_deployment_runs_no_tool_it_did_not_allow(dev_server):
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=dev_server)
    config = {"schedule": [2, 1], "distiller": "random_k", "k": 1, "tools": ["python"]}
    with FakeOpenAIServer() as upstream:
        thread = client.threads.create()
        parts = list(
            client.runs.stream(
                thread["thread_id"],
                "pdr",
                input={"question": "What is 6 * 7?"},
                context={"model": "fake-model", "base_url": upstream.base_url, "config": config},
                stream_mode=["values"],
            )
        )
        assert upstream.requests == []  # refused before any model call, so before any code
    errors = [p.data for p in parts if p.event == "error"]
    assert errors and "does not run the python tool" in str(errors[0]), parts
    assert "PDR_ALLOW_TOOLS=python" in str(errors[0])


def test_the_deployments_allowed_tools_come_from_its_environment(monkeypatch):
    from langgraph_pdr.runtime.environment import context_from_json

    context = {"model": "fake-model", "base_url": "http://127.0.0.1:9/v1", "config": {"tools": ["python"]}}
    monkeypatch.delenv("PDR_ALLOW_TOOLS", raising=False)
    with pytest.raises(ValueError, match="PDR_ALLOW_TOOLS=python in the server's environment"):
        context_from_json(context)
    monkeypatch.setenv("PDR_ALLOW_TOOLS", "python")
    assert context_from_json(context).config.tools == ("python",)
    assert context_from_json({**context, "config": {}}).config is None  # no tool: nothing to allow
