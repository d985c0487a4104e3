"""`pdr serve`: a real server process, a fake upstream on 127.0.0.1, the `openai` client and ChatOpenAI."""

from __future__ import annotations

import re
import time

import pytest
from fake_openai import FakeOpenAIServer, Request, ToolCalls
from serve_process import pdr_serve

from langgraph_pdr.integrations.openai_endpoint import config_for, describe
from langgraph_pdr.models import is_local_model

CONVERSATION = [
    {"role": "system", "content": "Be a patient teacher."},
    {"role": "user", "content": "What is 6 * 7?"},
]


def slow_last_round(req):
    return 1.0 if req.draft and req.draft[0] == 2 else 0.05


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One `pdr serve` process for the module, in front of a fake upstream."""
    db = tmp_path_factory.mktemp("serve") / "runs.sqlite"
    with (
        FakeOpenAIServer(delay=slow_last_round) as upstream,
        pdr_serve(upstream.base_url, "--db", str(db), "--allow-tools", "python") as url,
    ):
        yield url, upstream


@pytest.fixture
def served(server):
    """(base URL, upstream) with the upstream's request log cleared for this test."""
    url, upstream = server
    with upstream.lock:
        upstream.requests.clear()
    return url, upstream


def test_models_and_a_completion_with_the_openai_client(served):
    from openai import OpenAI

    url, upstream = served
    client = OpenAI(base_url=url, api_key="unused")
    assert {"pdr", "sr-3", "single", "pdr-4-2-1-global_summary"} <= {m.id for m in client.models.list()}
    reply = client.chat.completions.create(
        model="pdr-3-1-random_k", messages=CONVERSATION, extra_body={"pdr": {"k": 1}}
    )
    billed_in = sum(r.prompt_tokens for r in upstream.requests)
    billed_out = sum(r.completion_tokens for r in upstream.requests)
    assert reply.choices[0].message.content.endswith("\\boxed{42}")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (billed_in, billed_out)
    meta = reply.model_extra["pdr"]
    got = (meta["method"], meta["schedule"], meta["distiller"], meta["answer"])
    assert got == ("pdr", [3, 1], "random_k", "42")
    assert meta["b_total"] == billed_in + billed_out
    drafts = [r for r in upstream.requests if r.role == "draft"]
    assert len(drafts) == 4
    assert all(r.body["messages"][0]["content"] == "Be a patient teacher." for r in drafts)
    # nobody can watch a request that is not streamed and has no key: its upstream calls are not streamed
    assert not any(r.body.get("stream") for r in upstream.requests)


def test_streaming_sends_progress_before_the_last_call_and_the_answer_as_content(served):
    from openai import OpenAI

    url, upstream = served
    client = OpenAI(base_url=url, api_key="unused")
    arrivals, contents, progress, usage = [], [], [], None
    stream = client.chat.completions.create(
        model="pdr-3-1-random_k",
        messages=CONVERSATION,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"pdr": {"k": 1}},
    )
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if delta.content:
            contents.append(delta.content)
        if (delta.model_extra or {}).get("reasoning_content"):
            progress.append((time.monotonic(), delta.model_extra["pdr_event"]["event"]))
        arrivals.append(time.monotonic())
    last_call = max(r.started for r in upstream.requests)
    assert progress and progress[0][0] < last_call  # progress came while the run was still calling
    assert [e for _, e in progress].count("draft_finished") == 4 and progress[-1][1] == "run_finished"
    assert all(r.body.get("stream") for r in upstream.requests if r.role == "draft")  # drafts as written
    assert "".join(contents).endswith("\\boxed{42}")
    assert usage.total_tokens == sum(r.prompt_tokens + r.completion_tokens for r in upstream.requests)


def test_chat_openai_invoke_and_stream_against_pdr_serve(served):
    from langchain_openai import ChatOpenAI

    url, upstream = served
    chat = ChatOpenAI(
        model="sr-2", base_url=url, api_key="unused", use_responses_api=False, stream_usage=True
    )
    reply = chat.invoke("What is 6 * 7?")
    assert reply.content.endswith("\\boxed{42}") and reply.usage_metadata["total_tokens"] > 0
    streamed = None
    for chunk in chat.stream("What is 6 * 7?"):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed.content == reply.content
    assert streamed.usage_metadata["total_tokens"] == reply.usage_metadata["total_tokens"]


#: Code whose output the fake upstream cannot know without running it.
SQUARES = "print(sum(i * i for i in range(37)))"


def calls_python(req: Request) -> str | ToolCalls:
    """An upstream that calls the `python` tool when offered it, then boxes what the code printed."""
    results = req.tool_results()
    if not results:
        assert req.tools == ["python"]
        return ToolCalls([("python", {"code": SQUARES})])
    printed = re.search(r"stdout:\n(\d+)", results[-1]).group(1)
    return f"The code printed {printed}, so \\boxed{{{printed}}}."


def test_tools_named_in_the_pdr_field_are_called_and_their_output_is_the_answer(served, monkeypatch):
    from openai import OpenAI

    url, upstream = served
    monkeypatch.setattr(upstream, "reply", calls_python)
    client = OpenAI(base_url=url, api_key="unused")
    reply = client.chat.completions.create(
        model="single", messages=CONVERSATION, extra_body={"pdr": {"tools": ["python"], "max_tool_calls": 1}}
    )
    assert reply.choices[0].message.content == "The code printed 16206, so \\boxed{16206}."
    assert reply.model_extra["pdr"]["answer"] == str(sum(i * i for i in range(37)))  # the code ran
    first, second = upstream.requests
    assert first.tools == ["python"] and first.tool_calls[0]["function"]["name"] == "python"
    assert second.tool_results()[0].endswith("\nstdout:\n16206\n") and not second.tools  # one call used
    assert reply.usage.total_tokens == sum(r.prompt_tokens + r.completion_tokens for r in upstream.requests)


def test_a_request_for_tools_on_the_local_model_gets_fenced_code():
    assert is_local_model("local") and is_local_model("local:qwen2.5-coder-0.5b")
    assert not is_local_model("fake-model") and not is_local_model("local", "http://127.0.0.1:9/v1")
    local = config_for("single", {"pdr": {"tools": ["python"]}}, local=True)
    assert (local.tools, local.tool_format) == (("python",), "fenced")
    told = config_for("single", {"pdr": {"tools": ["python"], "tool_format": "native"}}, local=True)
    assert told.tool_format == "native"
    assert config_for("single", {"pdr": {"tools": ["python"]}}).tool_format == "auto"
    assert config_for("single", {}, local=True).tool_format == "auto"  # no tools: nothing changes


def test_model_pdr_on_the_local_model_has_its_defaults_where_the_request_names_none():
    def key(c):
        return (c.schedule, c.distiller, c.early_stop)

    assert key(config_for("pdr", {}, local=True)) == ((4, 4), "majority_k", 1.0)
    assert key(config_for("pdr", {"pdr": {"early_stop": None}}, local=True)) == ((4, 4), "majority_k", None)
    asked = config_for("pdr", {"pdr": {"schedule": "4,2,1", "distiller": "global_summary"}}, local=True)
    assert key(asked) == ((4, 2, 1), "global_summary", 1.0)
    assert key(config_for("pdr", {})) == ((4, 2, 1), "global_summary", None)  # a served model
    assert key(config_for("pdr-4-2-1-global_summary", {}, local=True)) == ((4, 2, 1), "global_summary", None)


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"model": "magic-3"}, "unknown method 'magic'"),
        ({"model": "pdr-4-2-1-nope"}, "unknown distiller 'nope'"),
        ({"model": "sr-2", "extra_body": {"pdr": {"schedule": "1,2"}}}, "exactly 1 draft"),
        ({"model": "pdr", "extra_body": {"pdr": {"kappa": 0}}}, "kappa"),
        ({"model": "pdr", "messages": []}, "messages"),
        ({"model": "pdr", "messages": [{"role": "system", "content": "only this"}]}, "no"),
        ({"model": "pdr", "n": 2}, "one choice"),
        (
            {"model": "single", "max_tokens": -5},
            "^Error code: 400 - max_tokens: expected a positive number of tokens, got -5$",
        ),
        (
            {"model": "sr-3", "temperature": 2.5},
            "^Error code: 400 - temperature: expected a number between 0 and 2, got 2.5$",
        ),
        (
            {"model": "single", "extra_body": {"pdr": {"tools": ["shell"]}}},
            "^Error code: 400 - tools: unknown tool 'shell'; built in: python$",  # the whole message
        ),
        (
            {"model": "single", "extra_body": {"pdr": {"tools": ["python"], "max_tool_calls": -1}}},
            "max_tool_calls",
        ),
        ({"model": "pdr-4-4-majority_k", "extra_body": {"pdr": {"selector": "best"}}}, "selector"),
        (
            {"model": "pdr", "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
            "built-in tools named in",
        ),
    ],
)
def test_bad_requests_are_400_with_an_openai_error(served, body, needle):
    import openai
    from openai import OpenAI

    url, upstream = served
    client = OpenAI(base_url=url, api_key="unused", max_retries=0)
    request = {"messages": CONVERSATION, **body}
    with pytest.raises(openai.BadRequestError, match=needle):
        client.chat.completions.create(**request)
    assert upstream.requests == []


def test_progress_lines_name_tool_calls_and_tournaments():
    called = {"event": "tool_called", "round": 2, "index": 0, "tool": "python", "error": True}
    assert describe(called) == "Draft 1 of round 2 ran python (it failed).\n"
    bracket = {"event": "tournament", "round": 2, "pairs": ["a", "b", "c"]}
    assert describe(bracket) == "Tournament of round 2: 3 match(es).\n"
    retry = {"event": "call_retrying", "role": "draft", "round": 1, "index": 2, "reason": "429"}
    assert (
        describe({**retry, "attempt": 2, "attempts": 4})
        == "Draft 3 of round 1: retrying after 429 (2 of 4).\n"
    )
    summary = {**retry, "role": "distill", "index": 0, "reason": "503", "attempt": 3, "attempts": 4}
    assert describe(summary) == "The distill call of round 1: retrying after 503 (3 of 4).\n"


def post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    """(HTTP status, JSON body) of a POST, with no client library in between."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(url: str, headers: dict | None = None) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=60) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


TOOL_REQUEST = {"model": "single", "messages": CONVERSATION, "pdr": {"tools": ["python"]}}


def test_a_server_started_without_allow_tools_refuses_a_tool_request_and_runs_no_code(tmp_path):
    with (
        FakeOpenAIServer() as upstream,
        pdr_serve(upstream.base_url, "--db", str(tmp_path / "r.sqlite")) as url,
    ):
        status, body = post(url + "/chat/completions", TOOL_REQUEST)
        assert status == 400 and upstream.requests == []
        assert body["error"]["message"] == (
            "tools: this server does not run the python tool for its clients; its operator can allow it "
            "with pdr serve --allow-tools python"
        )
        status, body = post(url + "/chat/completions", {**TOOL_REQUEST, "pdr": {}})  # no tool: answered
        assert status == 200 and body["choices"][0]["message"]["content"].endswith("\\boxed{42}")


@pytest.mark.parametrize("how", ["--api-key", "PDR_API_KEY"])
def test_an_api_key_is_required_of_every_request(tmp_path, how):
    key = "k-" + "7" * 24
    args, env = (["--api-key", key], {}) if how == "--api-key" else ([], {"PDR_API_KEY": key})
    with (
        FakeOpenAIServer() as upstream,
        pdr_serve(upstream.base_url, "--db", str(tmp_path / "r.sqlite"), *args, env=env) as url,
    ):
        assert get(url + "/models") == 401
        assert get(url + "/models", {"Authorization": f"Bearer {key}x"}) == 401
        assert get(url + "/models", {"Authorization": key}) == 401  # not a bearer token
        status, body = post(url + "/chat/completions", {**TOOL_REQUEST, "pdr": {}})
        assert status == 401 and "Authorization: Bearer" in body["error"]["message"]
        assert upstream.requests == []
        assert get(url + "/models", {"Authorization": f"Bearer {key}"}) == 200
        status, body = post(url + "/chat/completions", TOOL_REQUEST, {"Authorization": f"Bearer {key}"})
        assert status == 400 and "--allow-tools python" in body["error"]["message"]  # the key is not the tool


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--allow-tools", "python,shell"],
            "pdr: error: --allow-tools: unknown tool 'shell'; built in: python\n",
        ),
        (["--api-key", ""], "pdr: error: --api-key: give a key (or leave the option out)\n"),
    ],
)
def test_a_bad_serving_option_is_one_line_before_anything_starts(args, message):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "langgraph_pdr.cli", "serve", "--model", "fake-model", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, message, "")


def test_every_request_gets_one_access_log_line_on_stderr(tmp_path):
    import os
    import subprocess

    from serve_process import PDR

    with FakeOpenAIServer() as upstream:
        proc = subprocess.Popen(
            [*PDR, "serve", "--model", "fake-model", "--base-url", upstream.base_url, "--port", "0"]
            + ["--db", str(tmp_path / "r.sqlite")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OPENAI_API_KEY": "sk-test"},
        )
        try:
            url = proc.stdout.readline().strip()
            status, body = post(url + "/chat/completions", {"model": "single", "messages": CONVERSATION})
            assert status == 200
            thread = body["id"].removeprefix("chatcmpl-")
            assert post(url + "/chat/completions", {"model": "sr-0", "messages": CONVERSATION})[0] == 400
            assert get(url + "/models") == 200
        finally:
            proc.terminate()  # uvicorn finishes the requests in flight (their log lines too), then ends
            _, stderr = proc.communicate(timeout=30)
    lines = [line for line in stderr.splitlines() if "model=" in line]
    pattern = r"pdr serve: {} model={} thread={} status={} \d+\.\d\ds"
    assert re.fullmatch(pattern.format("POST /v1/chat/completions", "single", thread, 200), lines[0]), lines
    assert re.fullmatch(pattern.format("POST /v1/chat/completions", "sr-0", "-", 400), lines[1]), lines
    assert re.fullmatch(pattern.format("GET /v1/models", "-", "-", 200), lines[2]), lines
