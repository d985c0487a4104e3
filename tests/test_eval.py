"""`pdr eval`: datasets, the methods syntax, resumable runs, the report and its files."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import signal
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest
from fake_openai import FakeOpenAIServer, ToolCalls
from test_cli import PDR, assert_one_line_error, pdr

from langgraph_pdr import inspect_run
from langgraph_pdr.evals import (
    DatasetError,
    MethodError,
    compare,
    load_dataset,
    paired,
    parse_methods,
    run_eval,
    select,
    sign_test,
    summarize,
    wilson_interval,
    write_report,
)
from langgraph_pdr.evals.datasets import Problem
from langgraph_pdr.evals.eval_store import Item
from langgraph_pdr.evals.harness import LATE_FIELDS, Evaluation, eval_store, run_key, thread_id
from langgraph_pdr.evals.report import COMPARED_TITLE, MATCHED_TITLE, markdown, matched_pairs
from langgraph_pdr.prompting.prompt_catalog import get_prompts
from langgraph_pdr.state.methods import method_label, parse_method


def problems(n: int, answer: str = "42") -> list[Problem]:
    return [Problem(f"p{i}", f"What is 6 * 7? (problem {i})", answer, "toy") for i in range(n)]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# -- datasets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, rows", [("aime2024", 30), ("aime2025", 30), ("gsm8k", 1119), ("math500", 400)]
)
def test_shipped_datasets_load(name, rows):
    data = load_dataset(name)
    assert len(data) == rows and len({p.id for p in data}) == rows
    assert all(p.problem and p.answer and p.dataset == name for p in data)


def test_selection_offset_limit_and_seeded_sample():
    data = load_dataset("gsm8k")
    assert [p.id for p in select(data, offset=2, limit=3)] == [p.id for p in data[2:5]]
    a = select(data, sample=20, seed=7)
    assert a == select(data, sample=20, seed=7) != select(data, sample=20, seed=8)
    assert [data.index(p) for p in a] == sorted(data.index(p) for p in a)  # file order kept
    with pytest.raises(DatasetError, match="no problem"):
        select(data, offset=5000)


@pytest.mark.parametrize(
    "lines, needle",
    [
        (['{"id": "a", "problem": "x", "answer": "1"}', "{not json"], ":2: not valid JSON"),
        (['{"id": "a", "problem": "x"}'], ":1: field 'answer' must be a non-empty string"),
        (['{"id": "a", "problem": "  ", "answer": "1"}'], ":1: field 'problem'"),
        (['["a", "x", "1"]'], ":1: expected a JSON object"),
        (
            ['{"id": "a", "problem": "x", "answer": "1"}', '{"id": "a", "problem": "y", "answer": "2"}'],
            ":2: duplicate id 'a'",
        ),
        ([], "has no problems"),
    ],
)
def test_malformed_rows_are_named_by_line(tmp_path, lines, needle):
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DatasetError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        load_dataset(path)


def test_numeric_answers_and_extra_fields_are_accepted(tmp_path):
    path = write_jsonl(tmp_path / "ok.jsonl", [{"id": 1, "problem": "x", "answer": 7, "level": 3}])
    assert load_dataset(path) == [Problem("1", "x", "7", "ok")]


def test_unknown_dataset_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset 'gsm9k'"):
        load_dataset("gsm9k")
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "missing.jsonl")


# -- methods --------------------------------------------------------------------------------------


def test_methods_syntax():
    methods = parse_methods(
        "single, sc:8, bon:4, sr:3, sr_error:2, pdr:4-2-1:global_summary,"
        "pdr:8-4-1:per_sample_top_k:k=2, pdr:3-1:random_k:k=1:kappa=512,"
        "single:max_tokens=2048, pdr:4-2-1:oracle_correct:max_tokens.verify=64",
        {"max_tokens": 512, "kappa": 768},
    )
    got = {m.label: m.config for m in methods}
    assert list(got) == [
        "single",
        "sc:8",
        "bon:4",
        "sr:3",
        "sr_error:2",
        "pdr:4-2-1:global_summary",
        "pdr:8-4-1:per_sample_top_k:k=2",
        "pdr:3-1:random_k:k=1:kappa=512",
        "single:max_tokens=2048",
        "pdr:4-2-1:oracle_correct:max_tokens.verify=64",
    ]
    assert got["sc:8"].method == "self_consistency" and got["sc:8"].schedule == (8,)
    assert got["bon:4"].method == "best_of_n"
    assert got["sr:3"].schedule == (1, 1, 1) and got["sr_error:2"].method == "sr_error"
    assert got["pdr:8-4-1:per_sample_top_k:k=2"].k == 2
    assert got["pdr:3-1:random_k:k=1:kappa=512"].kappa == 512 and got["single"].kappa == 768
    assert got["single"].max_tokens.draft == 512 and got["single:max_tokens=2048"].max_tokens.draft == 2048
    oracle = got["pdr:4-2-1:oracle_correct:max_tokens.verify=64"].max_tokens
    assert (oracle.draft, oracle.verify) == (512, 64)
    assert [m.iterative for m in methods] == [False] * 3 + [True] * 5 + [False, True]


@pytest.mark.parametrize(
    "text, needle",
    [
        ("", "at least one method"),
        ("single,foo", "unknown method 'foo'"),
        ("pdr:4,2,1", "with dashes"),
        ("pdr:4-2-1:nope", "unknown distiller 'nope'"),
        ("pdr:4-2:nope", "unknown distiller 'nope'"),
        ("pdr:4-2:random_k:prompts=nope", "unknown prompt set 'nope'"),
        ("pdr:4-2:random_k:early_stop=2", "early_stop"),
        ("pdr:four:global_summary", "not like 4-2-1"),
        ("sc:0", "positive integer"),
        ("sc:4-x", "schedule '4-x' is not like 8 or 4-4"),
        ("pdr:4-0-1:random_k", "schedule '4-0-1' is not like 4-2-1 \\(positive integers"),
        ("sr:x", "positive integer"),
        ("single:3", "takes no arguments"),
        ("single:colour=3", "unknown option 'colour'"),
        ("single:max_tokens=lots", "needs a number"),
        ("pdr:4-1:random_k:k=9", "k="),
        ("single:kappa=64,single:kappa=64", "listed twice"),
        ("single:temperature=-1", "temperature: must be between 0 and 2, got -1"),  # as written
        ("single:tools=shell", "tools: unknown tool 'shell'; built in: python"),
        ("single:tools=python+shell", "unknown tool 'shell'"),
        ("single:tools=", "tools needs a name, e.g. tools=python"),
        ("single:tools=python:max_tool_calls=-1", "max_tool_calls: must be 0 or more"),
        ("single:tools=python:max_tool_calls=lots", "max_tool_calls needs a number"),
        ("single:tools=python:tool_format=xml", "tool_format: Input should be 'auto', 'native' or 'fenced'"),
        ("single:selector=tournament", "selector: 'tournament' chooses among the several drafts"),
        ("single:tools=python,single:tools=python", "listed twice"),
    ],
)
def test_bad_methods_are_one_clear_error(text, needle):
    with pytest.raises(MethodError, match=needle):
        parse_methods(text)


@pytest.mark.parametrize(
    "entry, fields",
    [
        ("single:tools=python", {"tools": ("python",)}),
        ("sr:2:tools=python:max_tool_calls=3", {"tools": ("python",), "max_tool_calls": 3}),
        ("sc:4:tools=python:tool_format=fenced", {"tools": ("python",), "tool_format": "fenced"}),
        ("pdr:4-4:majority_k:selector=tournament", {"selector": "tournament"}),
        (
            "pdr:4-2:random_k:k=1:tools=python+word_count:max_tool_calls=0:tool_format=native:selector=tournament",
            {"tools": ("python", "word_count"), "max_tool_calls": 0, "tool_format": "native"},
        ),
    ],
)
def test_tool_options_parse_and_print_back(entry, fields, word_count):
    [method] = parse_methods(entry)
    assert method.label == method_label(method.config) == entry
    assert parse_method(method_label(method.config)).config == method.config
    assert {k: getattr(method.config, k) for k in fields} == fields


def test_a_tool_list_is_written_once_in_its_label():
    [method] = parse_methods("single:tools=python+python")
    assert method.label == "single:tools=python" and method.config.tools == ("python",)


@pytest.fixture
def word_count():
    """A second built-in tool, registered for one test."""
    from langchain_core.tools import tool

    from langgraph_pdr.state.registry import TOOLS
    from langgraph_pdr.tooling.toolbox import register_tool

    @tool
    def count_words(text: str) -> int:
        """Count the words of a text."""
        return len(text.split())

    before = TOOLS._items.get("word_count")  # another test (a docstring example) may have one
    register_tool("word_count", lambda: count_words, replace=True)
    yield
    if before is None:
        TOOLS._items.pop("word_count")
    else:
        register_tool("word_count", before, replace=True)


#: The id of problem `toy/p0` under `pdr:4-4:majority_k` with model `fake-model`, as evaluations made it
#: before the tool fields (`tools`, `max_tool_calls`, `tool_format`, `selector`) existed.
ID_BEFORE_TOOLS = "eval:toy:p0:ffdd1f7658709500"


def test_run_ids_of_methods_without_tools_are_those_of_earlier_evaluations():
    problem = Problem("p0", "What is 6 * 7?", "42", "toy")
    plain = parse_method("pdr:4-4:majority_k")
    assert thread_id(problem, plain, "fake-model") == ID_BEFORE_TOOLS
    key = run_key(plain.config)
    assert not set(LATE_FIELDS) & set(key["config"]) and key["prompts"] == get_prompts("card").digest()
    tools = parse_method("pdr:4-4:majority_k:tools=python")
    key = run_key(tools.config)
    assert key["config"]["tools"] == ["python"] and key["prompts"] == get_prompts("card").digest(tools=True)
    assert key["prompts"] != get_prompts("card").digest()  # the tool templates are asked too
    assert thread_id(problem, tools, "fake-model") != ID_BEFORE_TOOLS
    others = ["max_tool_calls=3", "tool_format=fenced", "selector=tournament"]
    ids = {thread_id(problem, parse_method(f"pdr:4-4:majority_k:{o}"), "fake-model") for o in others}
    assert len(ids) == 3 and ID_BEFORE_TOOLS not in ids


# -- statistics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "correct, n, low, high",
    [
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (45, 60, 0.6277, 0.8422),
    ],
)
def test_wilson_interval_matches_published_values(correct, n, low, high):
    lo, hi = wilson_interval(correct, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


# -- the harness ----------------------------------------------------------------------------------


def test_every_method_on_every_problem_is_one_stored_run(tmp_path, fake):
    db = tmp_path / "eval.sqlite"
    fake.script = lambda call: "6 * 7 = 42 \\boxed{42}" if call.role == "draft" else "ok. Score: 8"
    items = run_eval(problems(3), parse_methods("single,sr:2,pdr:2-1:random_k:k=1"), model=fake, db=db)
    assert len(items) == 9 and len({i.thread_id for i in items}) == 9
    assert all(i.correct and i.status == "completed" and i.b_seq > 0 for i in items)
    stats = summarize(items)
    assert [(s.method, s.n, s.correct, s.failures) for s in stats] == [
        ("single", 3, 3, 0),
        ("sr:2", 3, 3, 0),
        ("pdr:2-1:random_k:k=1", 3, 3, 0),
    ]
    calls = len(fake.log)
    again = run_eval(problems(3), parse_methods("single,sr:2,pdr:2-1:random_k:k=1"), model=fake, db=db)
    assert len(fake.log) == calls  # nothing re-paid
    assert [(i.thread_id, i.correct) for i in again] == [(i.thread_id, i.correct) for i in items]


def test_methods_share_their_identical_first_drafts_and_still_book_them(tmp_path, monkeypatch):
    from langchain_openai import ChatOpenAI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    methods = parse_methods("single,sr:2,pdr:3-1:random_k:k=1")
    with FakeOpenAIServer() as server:
        model = ChatOpenAI(model="fake-model", base_url=server.base_url, use_responses_api=False)
        shared = run_eval(problems(2), methods, model=model, db=tmp_path / "a.sqlite")
        firsts = [r.draft for r in server.requests if r.draft and r.draft[0] == 1]
        assert sorted(firsts) == [(1, 0), (1, 0), (1, 1), (1, 1), (1, 2), (1, 2)]  # 3 per problem, not 5
        count = len(server.requests)
        alone = run_eval(problems(2), methods, model=model, db=tmp_path / "b.sqlite", share_drafts=False)
        assert len([r for r in server.requests[count:] if r.draft and r.draft[0] == 1]) == 10
    assert [(i.method, i.b_seq, i.b_total) for i in shared] == [(i.method, i.b_seq, i.b_total) for i in alone]
    single = inspect_run(shared[0].thread_id, tmp_path / "a.sqlite").text
    sr = inspect_run(next(i for i in shared if i.method == "sr:2").thread_id, tmp_path / "a.sqlite")
    assert sr.rounds[0].drafts[0].text == single  # SR refines the very draft the single pass gave


def test_a_draft_that_stopped_on_its_own_answers_a_larger_cap_and_a_cut_one_does_not(tmp_path, monkeypatch):
    from langchain_openai import ChatOpenAI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    words = {"p0": 6, "p1": 40, "p2": 12}  # p1 is cut at 20 tokens; p0 and p2 stop on their own

    def which(req) -> str:
        return "p" + re.search(r"\(problem (\d+)\)", req.prompt).group(1)

    def reply(req):
        return " ".join(["step"] * (words[which(req)] - 1) + ["\\boxed{42}"])

    with FakeOpenAIServer(reply=reply) as server:
        model = ChatOpenAI(model="fake-model", base_url=server.base_url, use_responses_api=False)
        db = tmp_path / "e.sqlite"
        first = run_eval(problems(3), parse_methods("single:max_tokens=20"), model=model, db=db)
        assert [i.correct for i in first] == [True, False, True]
        items = run_eval(
            problems(3),
            parse_methods("single:max_tokens=20,single:max_tokens=64,single:max_tokens=8"),
            model=model,
            db=db,
        )
        capped = [(r.body["max_completion_tokens"], which(r)) for r in server.requests]
    # 64: only the draft cut at 20 is asked again; 8: p0 (6 tokens) is reused, p1 and p2 are not
    assert sorted(capped[3:]) == [(8, "p1"), (8, "p2"), (64, "p1")]
    by = {(i.method, i.problem_id): i for i in items}
    assert [by["single:max_tokens=64", p].correct for p in ("p0", "p1", "p2")] == [True, True, True]
    assert [by["single:max_tokens=8", p].correct for p in ("p0", "p1", "p2")] == [True, False, False]
    reused = inspect_run(by["single:max_tokens=64", "p0"].thread_id, db)
    assert reused.text == inspect_run(by["single:max_tokens=20", "p0"].thread_id, db).text
    assert reused.b_seq == by["single:max_tokens=20", "p0"].b_seq  # booked as the call it reuses


def test_a_request_answered_twice_keeps_the_first_answer_for_larger_caps(tmp_path):
    """Two runs sent one request before either answer was stored, and the server (batching, not
    repeating itself for a seed) cut one at the cap and stopped the other: a larger cap must not be
    answered with the cut one."""
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration
    from sqlalchemy import create_engine

    from langgraph_pdr.evals.cache import SharedDrafts

    def answer(text: str, tokens: int, reason: str) -> list[ChatGeneration]:
        usage = {"input_tokens": 10, "output_tokens": tokens, "total_tokens": 10 + tokens}
        return [
            ChatGeneration(
                message=AIMessage(text, usage_metadata=usage), generation_info={"finish_reason": reason}
            )
        ]

    def options(cap: int, seed: int = 5) -> str:
        return f"model---{sorted({'max_tokens': cap, 'seed': seed, 'temperature': 0.7}.items())!r}"

    cache = SharedDrafts(create_engine(f"sqlite:///{tmp_path / 'c.sqlite'}"), "m")
    cache.update("p", options(512), answer("cut", 512, "length"))
    cache.update("p", options(512), answer("stopped", 368, "stop"))
    assert cache.lookup("p", options(512))[0].message.content == "cut"
    assert cache.lookup("p", options(1152)) is None  # was "cut", 512 tokens, for a 1152 cap
    cache.update("q", options(512), answer("stopped", 368, "stop"))
    cache.update("q", options(512), answer("cut", 512, "length"))
    assert cache.lookup("q", options(1152))[0].message.content == "stopped"
    assert cache.lookup("q", options(300)) is None and cache.lookup("q", options(1152, seed=6)) is None


def test_a_tool_using_method_runs_real_code_and_shares_its_turns_with_another(tmp_path, monkeypatch):
    from langchain_openai import ChatOpenAI

    def calls_python(req):
        if not req.tool_results():
            return ToolCalls([("python", {"code": "print(6 * 7)"})])
        printed = re.search(r"stdout:\n(\d+)", req.tool_results()[-1]).group(1)
        return f"The code printed {printed}: \\boxed{{{printed}}}"

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    methods = parse_methods("single:tools=python,sc:2:tools=python")
    with FakeOpenAIServer(reply=calls_python) as server:
        model = ChatOpenAI(model="fake-model", base_url=server.base_url, use_responses_api=False)
        items = run_eval(problems(2), methods, model=model, db=tmp_path / "e.sqlite", concurrency=1)
        requests = server.answered()
    assert sorted((i.method, i.correct) for i in items) == sorted([(m.label, True) for m in methods] * 2)
    # the single pass and sc's draft 0 make the same two turns: asked once (sc's draft 1 is new)
    assert len(requests) == 2 * (2 + 2)
    for item in items:
        result = inspect_run(item.thread_id, tmp_path / "e.sqlite")
        for d in result.rounds[0].drafts:
            [call] = d.turns[0].tool_calls
            assert call.output.endswith("\nstdout:\n42\n") and d.answer == "42"  # the code ran in every run


def test_runs_of_one_problem_never_overlap_and_problems_go_side_by_side(tmp_path, fake, monkeypatch):
    """At any concurrency, a problem's runs go one after another (so a later method always finds the
    drafts it shares with an earlier one stored), while `concurrency` problems run at once."""
    lock, running, overlaps = threading.Lock(), Counter(), []
    other_started = {p.id: threading.Event() for p in problems(2)}
    side_by_side = threading.Barrier(2, timeout=60)

    def run(self, task, om):
        with lock:
            running[task.problem.id] += 1
            if running[task.problem.id] > 1:
                overlaps.append((task.problem.id, task.method.label))
            if task.method_index > 0:
                other_started[task.problem.id].set()
        if task.method_index == 0:
            side_by_side.wait()  # both problems' first runs are in flight together
            # the old scheduler started the problem's next run beside this one; give it the chance
            other_started[task.problem.id].wait(timeout=1)
        with lock:
            running[task.problem.id] -= 1

    monkeypatch.setattr(Evaluation, "_run", run)
    methods = parse_methods("single,sr:2,sc:3")
    Evaluation(problems(2), methods, model=fake, db=tmp_path / "e.sqlite", name="e", concurrency=3).run()
    assert overlaps == [] and all(e.is_set() for e in other_started.values())


def test_models_without_a_per_call_seed_never_share(tmp_path, fake):
    run_eval(problems(1), parse_methods("single,pdr:3-1:random_k:k=1"), model=fake, db=tmp_path / "a.sqlite")
    assert len(fake.calls("draft", round=1)) == 4


def test_more_problems_later_runs_only_the_new_ones(tmp_path, fake):
    db = tmp_path / "eval.sqlite"
    run_eval(problems(2), parse_methods("single"), model=fake, db=db)
    assert len(fake.log) == 2
    items = run_eval(problems(5), parse_methods("single"), model=fake, db=db)
    assert len(fake.log) == 5 and len(items) == 5


def test_a_failing_run_is_a_counted_failure_and_the_rest_go_on(tmp_path, fake):
    def script(call):
        if "problem 1)" in call.prompt:
            raise ValueError("bad request: not retryable")
        return "\\boxed{42}"

    fake.script = script
    items = run_eval(problems(3), parse_methods("single"), model=fake, db=tmp_path / "e.sqlite")
    stats = summarize(items)[0]
    assert (stats.n, stats.correct, stats.failures) == (3, 2, 1)
    failed = [i for i in items if i.error]
    assert len(failed) == 1 and failed[0].problem_id == "p1"
    fake.script = lambda call: "\\boxed{42}"  # the failed run is resumed, the others are not re-paid
    calls = len(fake.log)
    items = run_eval(problems(3), parse_methods("single"), model=fake, db=tmp_path / "e.sqlite")
    assert len(fake.log) == calls + 1 and all(i.correct for i in items) and not any(i.error for i in items)


def test_oracle_distillers_are_graded_against_the_gold(tmp_path, fake):
    def script(call):
        if call.role == "draft" and call.round == 1:
            return f"\\boxed{{{42 if call.index == 1 else 41}}}"
        return "\\boxed{42}"

    fake.script = script
    run_eval(problems(1), parse_methods("pdr:3-1:oracle_correct:k=1"), model=fake, db=tmp_path / "e.sqlite")
    final = fake.calls("draft", round=2)[0].prompt
    assert "\\boxed{42}" in final and "\\boxed{41}" not in final


def test_matched_single_pass_gets_the_iterative_methods_b_seq(tmp_path, fake):
    fake.script = lambda call: "\\boxed{42}"
    fake.usage = lambda call: (100, 200) if call.role == "draft" else (300, 50)
    evaluation = Evaluation(
        problems(2), parse_methods("single,sr:3"), model=fake, db=tmp_path / "e.sqlite", name="m"
    )
    evaluation.run()
    items = evaluation.run_matched()
    matched = [i for i in items if i.matches]
    # sr:3: B_seq = 3 x 300 = 900; minus the first draft's 100 prompt tokens -> 800 (a multiple of 64: 832)
    assert {i.method for i in matched} == {"single:max_tokens=832"}
    assert all(i.matches == "sr:3" for i in matched) and len(matched) == 2
    draft = [c for c in fake.log if c.kwargs.get("max_tokens") == 832]
    assert len(draft) == 2
    md = markdown(summarize(items)).split("\n\n")
    assert md[-2] == f"**{MATCHED_TITLE}**"
    assert md[-1].splitlines()[2] == (
        "| toy | sr:3 | 100.0 [34–100] | 900 | single:max_tokens=832 | 100.0 [34–100] | 300 | +0.0 |"
    )


def test_the_pooled_block_pairs_a_matched_single_pass_only_over_the_same_datasets():
    def matched(dataset: str) -> Item:
        return dataclasses.replace(item("single:max_tokens=832", False, 300, dataset), matches="sr:3")

    one = [item("sr:3", True, 900, "gsm8k"), matched("gsm8k"), item("sr:3", True, 900, "math500")]
    pairs = [(it.dataset, it.method, sp.method) for it, sp in matched_pairs(summarize(one))]
    assert pairs == [("gsm8k", "sr:3", "single:max_tokens=832")]  # not sr:3 over both against gsm8k alone
    both = [*one, matched("math500")]
    assert [it.dataset for it, _ in matched_pairs(summarize(both))] == ["gsm8k", "math500", "all"]


def test_report_files_are_written(tmp_path, fake):
    fake.script = lambda call: "\\boxed{42}" if "problem 0)" in call.prompt else "\\boxed{41}"
    items = run_eval(
        problems(2) + [Problem("q0", "What is 6 * 7? (problem 0)", "42", "other")],
        parse_methods("single,sr:2"),
        model=fake,
        db=tmp_path / "e.sqlite",
    )
    paths = write_report(items, tmp_path / "out", title="toy")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "accuracy_vs_budget.png",
        "index.html",
        "runs.csv",
        "runs.jsonl",
        "summary.csv",
        "summary.jsonl",
        "summary.md",
    ]
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = list(csv.DictReader(paths["summary_csv"].open()))
    assert [(r["dataset"], r["method"], r["n"], r["correct"]) for r in summary] == [
        ("toy", "single", "2", "1"),
        ("toy", "sr:2", "2", "1"),
        ("other", "single", "1", "1"),
        ("other", "sr:2", "1", "1"),
        ("all", "single", "3", "2"),
        ("all", "sr:2", "3", "2"),
    ]
    lines = [json.loads(x) for x in paths["summary_jsonl"].read_text().splitlines()]
    assert lines[4]["accuracy"] == pytest.approx(2 / 3) and lines[4]["ci_low"] < 2 / 3 < lines[4]["ci_high"]
    runs = [json.loads(x) for x in paths["runs_jsonl"].read_text().splitlines()]
    assert len(runs) == 6 and {r["thread_id"] for r in runs} == {i.thread_id for i in items}
    md = paths["summary_md"].read_text().splitlines()
    assert md[0] == "**toy**" and md[2].startswith("| dataset | method | n | accuracy % [95% CI] |")
    assert md[3].startswith("|:---|:---|---:|") and md[4].startswith("| toy | single | 2 | 50.0 [")
    assert md[4 + len(summary) :] == [
        "",
        f"**{COMPARED_TITLE}**",
        "",
        "| dataset | method | n | won | lost | sign test p |",
        "|:---|:---|---:|---:|---:|---:|",
        "| toy | sr:2 | 2 | 0 | 0 | 1.000 |",
        "| other | sr:2 | 1 | 0 | 0 | 1.000 |",
    ]


@pytest.fixture
def plotted(monkeypatch) -> list[tuple[object, float]]:
    """(axes, x) of every point the report's plot draws."""
    from matplotlib.axes import Axes

    points: list[tuple[object, float]] = []
    errorbar = Axes.errorbar

    def record(ax: Axes, xs: list[float], *args, **kwargs):
        points.extend((ax, x) for x in xs)
        return errorbar(ax, xs, *args, **kwargs)

    monkeypatch.setattr(Axes, "errorbar", record)
    return points


def item(method: str, correct: bool | None, b_seq: int, dataset: str = "toy") -> Item:
    return Item(
        eval="e",
        dataset=dataset,
        problem_id="p0",
        method=method,
        thread_id=f"{dataset}/{method}",
        gold="1",
        correct=correct,
        wall_s=1.0 if b_seq else 0.0,
        error=None,
        matches=None,
        status=None,
        answer=None,
        b_seq=b_seq,
        b_total=b_seq,
    )


def at(
    problem: str, method: str, correct: bool | None, error: str | None = None, dataset: str = "toy"
) -> Item:
    return dataclasses.replace(item(method, correct, 100, dataset), problem_id=problem, error=error)


def test_a_method_with_nothing_graded_shows_no_accuracy_and_is_not_plotted(tmp_path, plotted):
    paths = write_report([item("single", True, 300), item("sr:2", None, 0)], tmp_path / "out")
    assert [x for _, x in plotted] == [300, 300]  # B_seq and B_total axes; no point at 0 on a log axis
    rows = paths["summary_md"].read_text().splitlines()[4:]
    assert rows == [
        "| toy | single | 1 | 100.0 [21–100] | 300 | 300 | 300 | 1.0 | 0 | 0 |",
        "| toy | sr:2 | 0 | – | – | – | – |  | 0 | 1 |",
    ]


def test_methods_at_the_same_budget_and_accuracy_are_drawn_side_by_side(tmp_path, plotted):
    same = [item("single", True, 300), item("sc:4", True, 300), item("bon:4", True, 300)]
    write_report([*same, item("sr:2", True, 900)], tmp_path / "out")
    seq = [x for ax, x in plotted if ax is plotted[0][0]]
    assert len(set(seq[:3])) == 3 and all(270 < x < 330 for x in seq[:3])  # none hides another
    assert seq[1] == 300 and seq[3] == 900  # the middle one, and a point apart, stay where they are


def test_every_method_of_a_large_evaluation_gets_its_own_point_style(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    styles = {}
    errorbar = Axes.errorbar

    def record(ax, xs, ys, *args, **kwargs):
        styles[kwargs["label"]] = (kwargs["color"], kwargs["marker"])
        return errorbar(ax, xs, ys, *args, **kwargs)

    monkeypatch.setattr(Axes, "errorbar", record)
    methods = [f"single:max_tokens={64 * n}" for n in range(1, 14)]
    write_report([item(m, True, 300 + n) for n, m in enumerate(methods)], tmp_path / "out")
    assert len(styles) == 13 and len(set(styles.values())) == 13


def test_a_dataset_whose_every_run_failed_still_gets_its_report(tmp_path, plotted):
    from dataclasses import replace

    failed = replace(item("single", None, 0, "math500"), error="timed out")
    paths = write_report([item("single", True, 300, "gsm8k"), failed], tmp_path / "out")
    assert [x for _, x in plotted] == [300, 300] and paths["plot"].stat().st_size > 0
    assert "| math500 | single | 1 | 0.0 [0–79] |" in paths["summary_md"].read_text()


def test_the_plot_has_a_row_per_dataset_and_leaves_the_pooled_rows_out(tmp_path, plotted):
    items = [
        item("single", True, 300, "gsm8k"),
        item("sr:2", True, 900, "gsm8k"),
        item("single", False, 700, "math500"),
        item("sr:2", True, 2000, "math500"),
    ]
    write_report(items, tmp_path / "out")
    axes = list(dict.fromkeys(ax for ax, _ in plotted))
    assert len(axes) == 4  # (B_seq, B_total) for gsm8k, then for math500
    assert [[x for ax, x in plotted if ax is a] for a in axes] == [
        [300, 900],
        [300, 900],
        [700, 2000],
        [700, 2000],
    ]


@pytest.mark.parametrize(
    ("won", "lost", "p"),
    [
        (0, 0, 1.0),
        (13, 3, 0.021271),
        (3, 13, 0.021271),
        (10, 2, 0.038574),
        (5, 5, 1.0),
        (6, 0, 0.03125),
        (1, 0, 1.0),
    ],
)
def test_sign_test_is_the_exact_two_sided_binomial(won, lost, p):
    assert sign_test(won, lost) == pytest.approx(p, abs=1e-6)


def test_compare_counts_the_problems_only_one_side_got_right():
    items = [
        at("p0", "single", False),
        at("p0", "pdr", True),
        at("r0", "sr:2", True, dataset="later"),
        at("r0", "single", False, dataset="later"),
        at("p0", "sr:2", False),
        at("p1", "single", True),
        at("p1", "pdr", True),
        at("p1", "sr:2", False),
        at("p2", "single", True),
        at("p2", "pdr", None, error="timed out"),  # a failure: wrong
        at("p2", "sr:2", None),  # still running: left out of sr:2's pairs
        at("p3", "single", None),
        at("p3", "pdr", True),  # the baseline unsettled: left out
        at("q0", "pdr", True, dataset="no-baseline"),
    ]
    rows = compare(items)
    assert [(c.dataset, c.method, c.baseline, c.n, c.won, c.lost) for c in rows] == [
        ("toy", "pdr", "single", 3, 1, 1),
        ("toy", "sr:2", "single", 2, 0, 1),
        ("later", "sr:2", "single", 1, 1, 0),
    ]
    assert rows[0].p_value == 1.0 and compare(items, baseline="pdr")[0].method == "single"


def test_paired_keeps_the_problems_every_method_of_their_dataset_has_settled():
    items = [
        at("p0", "single", True),
        at("p0", "sr:2", False),
        at("p1", "single", True),
        at("p1", "sr:2", None),  # sr:2 still running on p1
        at("p2", "single", False),
        at("p2", "sr:2", None, error="timed out"),  # a failure is settled
        at("q0", "single", True, dataset="other"),
    ]  # "other" has one method only
    kept = paired(items)
    assert [(i.dataset, i.problem_id, i.method) for i in kept] == [
        ("toy", "p0", "single"),
        ("toy", "p0", "sr:2"),
        ("toy", "p2", "single"),
        ("toy", "p2", "sr:2"),
        ("other", "q0", "single"),
    ]
    stats = summarize(kept)
    assert [(s.dataset, s.method, s.n, s.correct, s.pending) for s in stats][:2] == [
        ("toy", "single", 2, 1, 0),
        ("toy", "sr:2", 2, 0, 0),
    ]


def test_report_paired_from_the_store(tmp_path, capsys):
    from langgraph_pdr.cli import main

    db = str(tmp_path / "e.sqlite")
    store = eval_store(db)
    rows = [("p0", "single", True), ("p0", "sr:2", True), ("p1", "single", False), ("p1", "sr:2", None)]
    for n, (problem, method, correct) in enumerate(rows):
        store.save(
            eval="e",
            dataset="toy",
            problem_id=problem,
            method=method,
            position=n // 2,
            method_index=n % 2,
            thread_id=f"t{n}",
            gold="1",
            correct=correct,
        )
    store.ledger.dispose()
    assert main(["eval", "--report", str(tmp_path / "r"), "--db", db, "--paired", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["paired"] is True
    assert [(s["method"], s["n"], s["correct"], s["pending"]) for s in out["stats"]] == [
        ("single", 1, 1, 0),
        ("sr:2", 1, 1, 0),
    ]
    assert out["comparisons"] == [
        {
            "dataset": "toy",
            "method": "sr:2",
            "baseline": "single",
            "n": 1,
            "won": 0,
            "lost": 0,
            "p_value": 1.0,
        }
    ]
    assert (tmp_path / "r" / "summary.md").read_text().startswith("**e (toy, paired)**")
    assert main(["eval", "--report", str(tmp_path / "r"), "--db", db, "--json"]) == 0  # unpaired: all
    assert [s["n"] for s in json.loads(capsys.readouterr().out)["stats"]] == [2, 1]
    assert (
        main(
            ["eval", "--report", str(tmp_path / "r"), "--db", db, "--paired", "--baseline", "sr:2", "--json"]
        )
        == 0
    )
    assert [(c["method"], c["baseline"]) for c in json.loads(capsys.readouterr().out)["comparisons"]] == [
        ("single", "sr:2")
    ]
    md = (tmp_path / "r" / "summary.md").read_text()
    assert "**paired against sr:2: problems only one of the two got right**" in md
    assert "| toy | single | 1 | 0 | 0 | 1.000 |" in md
    assert_one_line_error(
        pdr("eval", "--report", str(tmp_path / "r"), "--db", db, "--baseline", "sc:4"),
        2,
        "--baseline: no method 'sc:4' in evaluation 'e'; its methods: single, sr:2",
    )
    store = eval_store(db)
    store.save(eval="e", dataset="toy", problem_id="p0", method="sr:2", correct=None)
    store.ledger.dispose()
    assert_one_line_error(
        pdr("eval", "--report", str(tmp_path / "r"), "--db", db, "--paired"),
        2,
        "--paired: no problem of 'e' is finished by every method yet",
    )


@pytest.mark.parametrize(
    "budgets, labels",
    [
        ((600, 3800), ["1,000", "2,000", "3,000"]),
        ((300, 30_000), ["500", "1,000", "2,000", "5,000", "10,000", "20,000"]),
    ],
)
def test_the_budget_axis_is_labelled_in_plain_numbers(tmp_path, plotted, budgets, labels):
    write_report([item("single", True, budgets[0]), item("sr:2", True, budgets[1])], tmp_path / "out")
    ax = plotted[0][0]
    low, high = ax.get_xlim()
    shown = [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
    assert shown == labels  # under a decade 3,000 fits between 2,000 and 5,000; over it, it would crowd


# -- the command ----------------------------------------------------------------------------------


def test_eval_command_bad_inputs_are_one_line_errors(tmp_path):
    db = str(tmp_path / "e.sqlite")
    bad = write_jsonl(tmp_path / "bad.jsonl", ['{"id": "a", "problem": "x", "answer": "1"}', "{oops"])
    missing = str(tmp_path / "none.jsonl")
    assert_one_line_error(pdr("eval", "--dataset", missing, "--db", db), 2, "no such file")
    assert_one_line_error(pdr("eval", "--dataset", str(bad), "--db", db), 2, "bad.jsonl:2: not valid JSON")
    assert_one_line_error(
        pdr("eval", "--dataset", "gsm8k", "--methods", "pdr:4-2-1:nope", "--db", db), 2, "unknown distiller"
    )
    assert_one_line_error(
        pdr("eval", "--dataset", "gsm8k", "--methods", "single,sr:2", "--baseline", "sc:4", "--db", db),
        2,
        "--baseline: 'sc:4' is not one of --methods: single, sr:2",
    )
    assert_one_line_error(pdr("eval", "--db", db), 2, "--dataset is required")
    assert not Path(db).exists()  # bad input creates no store
    assert_one_line_error(pdr("eval", "--report", str(tmp_path / "r"), "--db", db), 2, "there is no database")
    eval_store(db).ledger.dispose()  # a store without evaluations
    assert_one_line_error(pdr("eval", "--report", str(tmp_path / "r"), "--db", db), 2, "no evaluation")
    assert_one_line_error(pdr("eval", "--dataset", "gsm8k", "--db", ":memory:"), 2, "needs a database file")


def test_a_report_directory_that_cannot_be_written_is_refused_before_any_run(tmp_path):
    db, afile = str(tmp_path / "e.sqlite"), tmp_path / "afile"
    afile.write_text("keep me")
    with FakeOpenAIServer() as server:
        for flag, path, needle in [
            ("--report", afile, "is a file, not a directory"),
            ("--out", afile, "is a file, not a directory"),
            ("--report", afile / "sub", "cannot make"),
        ]:
            proc = pdr(
                *EVAL,
                "--base-url",
                server.base_url,
                "--dataset",
                "gsm8k",
                "--limit",
                "1",
                flag,
                str(path),
                "--db",
                db,
            )
            assert_one_line_error(proc, 2, flag, needle)
        assert not server.requests  # refused before any run
    assert afile.read_text() == "keep me" and not Path(db).exists()
    eval_store(db).ledger.dispose()
    assert_one_line_error(pdr("eval", "--report", str(afile), "--db", db), 2, "is a file, not a directory")


EVAL = ["eval", "--methods", "single,sr:2", "--model", "fake-model", "--concurrency", "1", "--name", "toy"]


def test_interrupted_eval_resumes_without_repeating_a_run(tmp_path):
    data = write_jsonl(
        tmp_path / "toy.jsonl",
        [{"id": f"p{i}", "problem": f"What is 6 * 7? (problem {i})", "answer": "42"} for i in range(4)],
    )
    db, out = str(tmp_path / "e.sqlite"), str(tmp_path / "out")
    hang = {"on": True}

    def delay(req):
        return 120.0 if hang["on"] and "(problem 2)" in req.prompt else 0.0

    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    with FakeOpenAIServer(delay=delay) as server:
        args = [*EVAL, "--dataset", str(data), "--base-url", server.base_url, "--db", db, "--out", out]
        child = subprocess.Popen([*PDR, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        server.wait_for(lambda: any("(problem 2)" in r.prompt for r in server.requests))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        before = list(server.requests)
        assert {r.prompt.split("(problem ")[1][0] for r in before} == {"0", "1", "2"}
        hang["on"] = False
        done = subprocess.run([*PDR, *args, "--json"], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        after = server.requests[len(before) :]
    # problems 0 and 1 are never asked again; problem 2 continues; 3 is new
    assert {r.prompt.split("(problem ")[1][0] for r in after} == {"2", "3"}
    report = json.loads(done.stdout)
    got = [(s["method"], s["n"], s["correct"]) for s in report["stats"]]
    assert got == [("single", 4, 4), ("sr:2", 4, 4)]
    redraw = pdr("eval", "--report", str(tmp_path / "again"), "--db", db, "--json")
    assert redraw.returncode == 0, redraw.stderr
    assert json.loads(redraw.stdout)["stats"] == report["stats"]
    assert (tmp_path / "again" / "accuracy_vs_budget.png").exists() and (Path(out) / "summary.csv").exists()


def test_pdr_eval_runs_in_process_with_a_fake_server(tmp_path, monkeypatch, capsys):
    from langgraph_pdr.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer() as server:
        code = main(
            [
                "eval",
                "--dataset",
                "gsm8k",
                "--limit",
                "2",
                "--methods",
                "single,sc:3",
                "--model",
                "fake-model",
                "--base-url",
                server.base_url,
                "--db",
                str(tmp_path / "e.sqlite"),
                "--out",
                str(tmp_path / "o"),
                "--json",
                "--matched",
            ]
        )
    out = capsys.readouterr().out
    assert code == 0
    stats = json.loads(out)["stats"]
    assert [s["method"] for s in stats] == ["single", "sc:3"]  # nothing iterative: nothing to match


def test_report_dir_with_a_dataset_runs_then_writes_there(tmp_path, monkeypatch, capsys):
    from langgraph_pdr.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    data = write_jsonl(tmp_path / "toy.jsonl", [{"id": "a", "problem": "What is 6 * 7?", "answer": "42"}])
    with FakeOpenAIServer() as server:
        code = main(
            [
                "eval",
                "--dataset",
                str(data),
                "--methods",
                "single",
                "--model",
                "fake-model",
                "--base-url",
                server.base_url,
                "--db",
                str(tmp_path / "e.sqlite"),
                "--report",
                str(tmp_path / "rep"),
                "--json",
            ]
        )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["stats"][0]["correct"] == 1
    written = {p.name for p in (tmp_path / "rep").iterdir()}
    assert {"summary.csv", "summary.jsonl", "accuracy_vs_budget.png"} <= written
    # redrawn into a pipe, the table keeps whole method names (rich's 80 columns cut them)
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["eval", "--report", str(tmp_path / "rep"), "--db", str(tmp_path / "e.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "accuracy % [95% CI]" in out and "│ single " in out
