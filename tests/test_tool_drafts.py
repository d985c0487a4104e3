"""Tool-using drafts: a real OpenAI-compatible server that calls the tools it is offered, real sandboxed
code, every turn billed as the server reports it, B_seq over a draft's turns, and fenced code from
models without native tool calls."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading

import pytest
from fake_openai import FakeOpenAIServer, Request, ToolCalls
from fakes import ScriptedChatModel
from langchain_core.tools import tool

from langgraph_pdr import CapTooSmall, PDRConfig, resume_pdr, run_pdr
from langgraph_pdr.budgets.accounting import tool_draft_bound
from langgraph_pdr.tooling.toolbox import TOOL_RESULT_TOKENS, fenced_code

QUESTION = "What is the sum of the squares of the whole numbers below n, for n = 20 + your draft's number?"


def squares_below(n: int) -> int:
    return sum(i * i for i in range(n))


def n_of(req: Request) -> int:
    r, i = req.draft or (1, 0)
    return 20 + i


def calls_python(req: Request) -> str | ToolCalls:
    """A model that calls `python` when offered it, then answers with what the code printed."""
    if req.role != "draft":
        return "Summary."
    results = req.tool_results()
    if not results:
        assert "python" in req.tools
        return ToolCalls([("python", {"code": f"print(sum(i * i for i in range({n_of(req)})))"})])
    printed = re.findall(r"\d+", results[-1].split("stdout:")[-1])
    return f"The code printed {printed[0]}, so the answer is \\boxed{{{printed[0]}}}."


def test_every_draft_calls_python_its_output_reaches_the_model_and_every_turn_is_billed(tmp_path):
    with FakeOpenAIServer(reply=calls_python) as server:
        config = PDRConfig(schedule="2,1", distiller="majority_k", k=1, tools=["python"], max_tokens=200)
        result = run_pdr(
            QUESTION,
            model="fake-model",
            base_url=server.base_url,
            config=config,
            db=str(tmp_path / "r.sqlite"),
        )
        requests = server.answered()
    drafts = [d for r in result.rounds for d in r.drafts]
    assert len(drafts) == 3 and all(len(d.turns) == 2 for d in drafts)
    for d in drafts:
        [code] = d.turns[0].tool_calls
        expected = squares_below(20 + d.index)
        assert code.name == "python" and not code.fenced and not code.error
        assert f"{expected}\n" in code.output  # the code really ran
        assert d.answer == str(expected) and d.text == d.turns[1].text
        assert [c.turn for c in d.calls] == [0, 1] and d.call == d.calls[-1]
    # the tool's output reached the model in the next turn
    second = [r for r in requests if r.tool_results()]
    assert len(second) == 3 and all(str(squares_below(n_of(r))) in r.tool_results()[0] for r in second)
    # B_total is every turn's tokens as the server reported them
    assert result.b_total == sum(r.prompt_tokens + r.completion_tokens for r in requests)
    assert len(result.calls) == len(requests) == 6 and all(c.usage_source == "provider" for c in result.calls)
    # B_seq: a round's stage costs its largest draft's summed turns
    per_draft: dict[tuple[int, int], int] = {}
    for r in requests:
        per_draft[r.draft] = per_draft.get(r.draft, 0) + r.prompt_tokens + r.completion_tokens
    expected_seq = max(v for (rnd, _), v in per_draft.items() if rnd == 1) + per_draft[(2, 0)]
    assert result.b_seq == expected_seq
    assert result.answer == str(squares_below(20))  # round 2's draft is number 0


def test_turns_are_stored_and_read_back(tmp_path):
    db = tmp_path / "r.sqlite"
    with FakeOpenAIServer(reply=calls_python) as server:
        config = PDRConfig(method="single", tools=["python"])
        result = run_pdr(QUESTION, model="fake-model", base_url=server.base_url, config=config, db=str(db))
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select turn, tool_calls from turns order by turn").fetchall()
        calls = conn.execute("select role, turn from calls order by id").fetchall()
    assert [r[0] for r in rows] == [0, 1] and '"python"' in rows[0][1] and rows[1][1] == "[]"
    assert calls == [("draft", 0), ("draft", 1)]
    again = resume_pdr(result.thread_id, db=str(db))  # a finished run reads back the same
    assert again.rounds[0].drafts[0].turns == result.rounds[0].drafts[0].turns


def test_a_draft_stops_calling_tools_at_max_tool_calls():
    def always_calls(req: Request) -> str | ToolCalls:
        if req.tools:
            return ToolCalls([("python", {"code": "print(1)"}), ("python", {"code": "print(2)"})])
        return "Out of calls; \\boxed{3}"

    with FakeOpenAIServer(reply=always_calls) as server:
        config = PDRConfig(method="single", tools=["python"], max_tool_calls=3)
        result = run_pdr(QUESTION, model="fake-model", base_url=server.base_url, config=config, db=":memory:")
        requests = server.answered()
    [d] = result.rounds[0].drafts
    ran = [c for t in d.turns for c in t.tool_calls if not c.error]
    refused = [c for t in d.turns for c in t.tool_calls if c.error]
    assert len(ran) == 3 and len(refused) == 1 and "used all 3" in refused[0].output
    assert [bool(r.tools) for r in requests] == [True, True, False]  # the last turn is offered no tool
    assert "used all your tool calls" in requests[-1].prompt
    assert result.answer == "3"


def test_fenced_python_runs_for_a_model_without_tool_calls():
    def writes_code(req: Request) -> str:
        assert not req.tools  # fenced: the tools are not offered natively
        if "Output of your code" not in req.prompt:
            assert "```python block" in req.prompt and req.body["stop"] == ["\n```\n"]
            # the model guesses what its code prints; the stop sequence cuts the guess off
            return "Let me compute.\n```python\nprint(17 * 23)\n```\nIt prints 401, so \\boxed{401}."
        printed = re.search(r"Output of your code:\n```\nsandbox: [^\n]*\nstdout:\n(\d+)", req.prompt)
        return f"So 17 * 23 = \\boxed{{{printed.group(1)}}}."

    with FakeOpenAIServer(reply=writes_code) as server:
        config = PDRConfig(method="single", tools=["python"], tool_format="fenced")
        result = run_pdr(
            "What is 17 * 23?", model="fake-model", base_url=server.base_url, config=config, db=":memory:"
        )
    [d] = result.rounds[0].drafts
    assert [len(t.tool_calls) for t in d.turns] == [1, 0] and d.turns[0].tool_calls[0].fenced
    assert result.answer == "391"


def test_a_langchain_tool_object_is_offered_and_called():
    @tool
    def secret_number() -> int:
        """The secret number."""
        return 4242

    def calls_secret(req: Request) -> str | ToolCalls:
        if not req.tool_results():
            assert req.tools == ["python", "secret_number"]
            return ToolCalls([("secret_number", {})])
        return f"\\boxed{{{req.tool_results()[0]}}}"

    with FakeOpenAIServer(reply=calls_secret) as server:
        config = PDRConfig(method="single", tools=["python"])
        result = run_pdr(
            "What is the secret number?",
            model="fake-model",
            base_url=server.base_url,
            config=config,
            tools=[secret_number],
            db=":memory:",
        )
    assert result.answer == "4242"


def test_a_tool_that_raises_is_the_models_result_not_a_crash():
    @tool
    def broken(x: int) -> int:
        """Always fails."""
        raise RuntimeError("disk on fire")

    def calls_broken(req: Request) -> str | ToolCalls:
        if not req.tool_results():
            return ToolCalls([("broken", {"x": 1}), ("nope", {})])
        return "\\boxed{0}"

    with FakeOpenAIServer(reply=calls_broken) as server:
        config = PDRConfig(method="single")
        result = run_pdr(
            "Q?", model="fake-model", base_url=server.base_url, config=config, tools=[broken], db=":memory:"
        )
        second = server.answered()[-1]
    [broken_call, unknown] = result.rounds[0].drafts[0].turns[0].tool_calls
    assert broken_call.error and "disk on fire" in broken_call.output
    assert unknown.error and "no tool named 'nope'" in unknown.output
    assert len(second.tool_results()) == 2 and result.answer == "0"


def test_caps_reserve_a_tool_drafts_worst_case_over_its_turns():
    with FakeOpenAIServer(reply=calls_python) as server:
        config = PDRConfig(method="single", tools=["python"], max_tokens=100, max_tool_calls=2)
        small = PDRConfig(**{**config.model_dump(), "max_b_total": 2_000})
        # round 1 cannot fit: refused before anything is sent (issue 41: it used to stop with no answer)
        with pytest.raises(CapTooSmall, match="max_b_total: 2,000 cannot hold round 1"):
            run_pdr(QUESTION, model="fake-model", base_url=server.base_url, config=small, db=":memory:")
        assert not server.answered()
    bound = tool_draft_bound(0, 100, 2, TOOL_RESULT_TOKENS)
    assert bound > 2_000  # three turns, each may read every earlier result


def test_config_names_tools_and_refuses_unknown_ones():
    assert PDRConfig(tools="python").tools == ("python",)
    with pytest.raises(ValueError, match="tools: unknown tool 'shell'; built in: .*python"):
        PDRConfig(tools=["shell"])
    with pytest.raises(ValueError, match="max_tool_calls: must be 0 or more"):
        PDRConfig(max_tool_calls=-1)


def test_fenced_code_needs_a_closed_block_and_no_final_answer():
    assert fenced_code("```python\nprint(1)\n```") == "print(1)\n"
    assert fenced_code("```python\nprint(1)") is None  # cut off: not run
    assert fenced_code("no code") is None
    assert fenced_code("```python\nprint(1)\n```\n\\boxed{1}") is None


def test_workspaces_show_the_code_that_ran_and_its_output():
    with FakeOpenAIServer(reply=calls_python) as server:
        config = PDRConfig(schedule="2,1", distiller="global_summary", tools=["python"], max_tokens=200)
        result = run_pdr(QUESTION, model="fake-model", base_url=server.base_url, config=config, db=":memory:")
        [summary] = [r for r in server.answered() if r.role == "distill"]
    for n in (20, 21):  # both drafts' code and output, compactly
        assert f"print(sum(i * i for i in range({n})))" in summary.prompt
        assert f"Output:\n{squares_below(n)}" in summary.prompt
    assert "Verified results" in summary.prompt  # the structured summary of tool-using drafts
    with FakeOpenAIServer(reply=calls_python) as server:
        config = PDRConfig(schedule="2,1", distiller="majority_k", k=1, tools=["python"], max_tokens=200)
        result = run_pdr(QUESTION, model="fake-model", base_url=server.base_url, config=config, db=":memory:")
    [workspace] = result.rounds[0].workspaces
    assert "```python" in workspace.text and f"Output:\n{squares_below(20)}" in workspace.text
    assert workspace.tokens <= config.kappa


CHILD = """
import sys
from langgraph_pdr import PDRConfig, run_pdr
db, url = sys.argv[1:3]
config = PDRConfig(method="single", tools=["python"])
run_pdr("What is 17 * 23?", model="openai:fake-model", base_url=url, db=db, thread_id="t1", config=config)
"""


def test_a_killed_run_resumes_a_draft_from_its_last_finished_turn(tmp_path, monkeypatch):
    import os
    import signal
    import subprocess
    import sys
    import threading

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    db = tmp_path / "r.sqlite"
    release = threading.Event()

    def two_turns(req: Request) -> str | ToolCalls:
        if not req.tool_results():
            return ToolCalls([("python", {"code": "print(17 * 23)"})])
        release.wait(120)  # the second turn hangs until the first process is dead
        return f"\\boxed{{{req.tool_results()[0].split()[-1]}}}"

    with FakeOpenAIServer(reply=two_turns) as server:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db), server.base_url], env=os.environ.copy(), text=True
        )
        server.wait_for(lambda: len(server.requests) == 2)  # turn 0 is recorded, turn 1 was sent
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        release.set()
        first = server.requests[0]
        resumed = resume_pdr("t1", db=str(db))
        after = server.requests[2:]
    assert len(after) == 1 and after[0].tool_results()  # turn 0 was not asked again
    [d] = resumed.rounds[0].drafts
    assert [t.turn for t in d.turns] == [0, 1] and "391" in d.turns[0].tool_calls[0].output
    assert resumed.answer == "391" and resumed.status == "completed"
    paid = [first, after[0]]  # the hung request was never answered: nothing was billed for it
    assert resumed.b_total == sum(r.prompt_tokens + r.completion_tokens for r in paid)


def _calls_then_reads(name: str, args: dict) -> object:
    """A model that calls `name` once, then answers with the tool's result (or its error) boxed."""

    def reply(req: Request) -> str | ToolCalls:
        if not req.tool_results():
            return ToolCalls([(name, args)])
        return f"The tool said: {req.tool_results()[0]}. \\boxed{{7}}"

    return reply


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_a_tool_that_hangs_is_given_up_after_tool_timeout_and_the_draft_goes_on(api):
    from langgraph_pdr import arun_pdr

    release = threading.Event()

    @tool
    def hangs() -> str:
        """Waits for a release that never comes while the draft waits."""
        release.wait()
        return "late"

    config = PDRConfig(method="single", tool_timeout=0.2)
    try:
        with FakeOpenAIServer(reply=_calls_then_reads("hangs", {})) as server:
            kwargs = dict(model="fake-model", base_url=server.base_url, config=config, tools=[hangs])
            if api == "sync":
                result = run_pdr("Q?", db=":memory:", **kwargs)
            else:
                result = await arun_pdr("Q?", db=":memory:", **kwargs)
            second = server.answered()[-1]
    finally:
        release.set()
    [call] = result.rounds[0].drafts[0].turns[0].tool_calls
    assert call.error and "did not return within 0.2 s" in call.output
    assert "did not return within 0.2 s" in second.tool_results()[0]
    assert (result.answer, result.status) == ("7", "completed")


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_a_tool_that_is_only_async_runs_in_both_apis(api):
    from langgraph_pdr import arun_pdr

    @tool
    async def doubled(x: int) -> int:
        """Twice x."""
        await asyncio.sleep(0)
        return 2 * x

    with FakeOpenAIServer(reply=_calls_then_reads("doubled", {"x": 21})) as server:
        kwargs = dict(model="fake-model", base_url=server.base_url, config=PDRConfig(method="single"))
        if api == "sync":
            result = run_pdr("Q?", db=":memory:", tools=[doubled], **kwargs)
        else:
            result = await arun_pdr("Q?", db=":memory:", tools=[doubled], **kwargs)
    [call] = result.rounds[0].drafts[0].turns[0].tool_calls
    assert (call.output, call.error) == ("42", False)


def test_tool_timeout_is_a_config_field_cli_option_and_eval_option():
    from langgraph_pdr.cli import build_parser
    from langgraph_pdr.cli.run import config_of
    from langgraph_pdr.evals.harness import run_key
    from langgraph_pdr.state.methods import parse_methods

    assert PDRConfig().tool_timeout == 300
    with pytest.raises(ValueError, match="tool_timeout: must be more than 0"):
        PDRConfig(tool_timeout=0)
    assert "tool_timeout" not in run_key(PDRConfig(tools=["python"]))["config"]  # earlier runs keep ids
    [method] = parse_methods("single:tools=python:tool_timeout=30")
    assert method.config.tool_timeout == 30
    args = build_parser().parse_args(["run", "Q?", "--tools", "python", "--tool-timeout", "2.5"])
    assert config_of(args).tool_timeout == 2.5


async def test_async_tool_drafts_match_the_sync_ones():
    from langgraph_pdr import arun_pdr

    config = PDRConfig(schedule="2,1", distiller="majority_k", k=1, tools=["python"], max_tokens=200)
    with FakeOpenAIServer(reply=calls_python) as server:
        sync = run_pdr(QUESTION, model="fake-model", base_url=server.base_url, config=config, db=":memory:")
    with FakeOpenAIServer(reply=calls_python) as server:
        result = await arun_pdr(
            QUESTION, model="fake-model", base_url=server.base_url, config=config, db=":memory:"
        )
    assert (result.answer, result.b_total, result.b_seq) == (sync.answer, sync.b_total, sync.b_seq)
    assert [len(d.turns) for r in result.rounds for d in r.drafts] == [2, 2, 2]


def test_a_resume_needs_the_tool_objects_the_run_was_given(tmp_path):
    @tool
    def secret_number() -> int:
        """The secret number."""
        return 4242

    db = str(tmp_path / "r.sqlite")
    with FakeOpenAIServer(reply=lambda req: "\\boxed{1}", fault=lambda req: "500") as server:
        config = PDRConfig(method="single")
        failed = run_pdr(
            "Q?", model="fake-model", base_url=server.base_url, config=config, tools=[secret_number], db=db
        )
    assert failed.status == "failed"
    with pytest.raises(
        ValueError, match=r"tools: this run was started with the tool objects \[secret_number\]"
    ):
        resume_pdr(failed.thread_id, db=db)


def test_a_round_sent_again_goes_on_from_its_failed_drafts_turns_and_books_them_once(tmp_path):
    broken = {"on": True}

    def second_turn_down(req: Request) -> str | None:
        return "500" if broken["on"] and req.tool_results() else None

    db = str(tmp_path / "r.sqlite")
    with FakeOpenAIServer(reply=calls_python, fault=second_turn_down) as server:
        config = PDRConfig(method="single", tools=["python"])
        failed = run_pdr(QUESTION, model="fake-model", base_url=server.base_url, config=config, db=db)
        assert (failed.status, failed.stop_reason) == ("failed", "no_drafts")
        assert failed.b_total == sum(r.prompt_tokens + r.completion_tokens for r in server.answered())
        broken["on"] = False
        resumed = resume_pdr(failed.thread_id, db=db, model="fake-model", base_url=server.base_url)
        answered = server.answered()
    assert len([r for r in answered if not r.tool_results()]) == 1  # turn 0 was paid once
    assert resumed.answer == str(squares_below(20)) and resumed.status == "completed"
    assert resumed.b_total == sum(r.prompt_tokens + r.completion_tokens for r in answered)
    assert resumed.b_seq == resumed.b_total  # one draft: its turns in sequence


def test_auto_asks_a_model_that_takes_no_tools_for_fenced_code():
    def fenced(call):
        assert "```python block" in call.prompt  # the fenced instruction, not a list of tools
        if "Output of your code" in call.prompt:
            return "So \\boxed{391}."
        return "```python\nprint(17 * 23)\n```\nIt prints 401."

    model = ScriptedChatModel(script=fenced)  # no bind_tools: tools cannot go in its requests
    result = run_pdr("What is 17 * 23?", model=model, config=PDRConfig(method="single", tools=["python"]))
    assert result.answer == "391" and model.log[0].kwargs.get("stop") == ["\n```\n"]


def test_a_tool_call_whose_arguments_do_not_parse_is_answered_and_called_again():
    def sloppy(req: Request) -> str | ToolCalls:
        results = req.tool_results()
        if not results:
            return ToolCalls([("python", '{"code": "print(17 * 23)"')])  # the closing brace is missing
        if len(results) == 1:
            assert "not valid JSON" in results[0]
            return ToolCalls([("python", {"code": "print(17 * 23)"})])
        return f"\\boxed{{{results[-1].split()[-1]}}}"

    with FakeOpenAIServer(reply=sloppy) as server:
        config = PDRConfig(method="single", tools=["python"])
        result = run_pdr(
            "What is 17 * 23?", model="fake-model", base_url=server.base_url, config=config, db=":memory:"
        )
    [d] = result.rounds[0].drafts
    assert [c.error for t in d.turns for c in t.tool_calls] == [True, False] and result.answer == "391"


def test_create_pdr_graph_takes_tool_objects_and_a_context_may_replace_them():
    from langchain_openai import ChatOpenAI

    from langgraph_pdr import PDRContext, create_pdr_graph, graph_config

    @tool
    def secret_number() -> int:
        """The secret number."""
        return 4242

    @tool
    def other_number() -> int:
        """Another number."""
        return 7

    def calls_first_tool(req: Request) -> str | ToolCalls:
        if not req.tool_results():
            return ToolCalls([(req.tools[0], {})])
        return f"\\boxed{{{req.tool_results()[0]}}}"

    config = PDRConfig(method="single")
    graph = create_pdr_graph(config, tools=[secret_number]).compile()
    with FakeOpenAIServer(reply=calls_first_tool) as server:
        model = ChatOpenAI(model="fake-model", base_url=server.base_url, api_key="sk-test", max_retries=0)
        out = graph.invoke({"question": "Q?"}, graph_config(config), context=PDRContext(model=model))
        other = graph.invoke(
            {"question": "Q?"}, graph_config(config), context=PDRContext(model=model, tools=[other_number])
        )
    assert (out["answer"], other["answer"]) == ("4242", "7")
