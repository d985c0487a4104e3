"""Checks in the loop: verifiers check every draft at no model cost, and the checks drive the method (the
workspace, the repair prompts, stop_on_pass, the answer, best-of-N, self-repair). Real HTTP where the
path matters (a fake OpenAI-compatible server on 127.0.0.1), the real sandbox for every check."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import pytest
from fake_openai import FakeOpenAIServer, Request
from fakes import ScriptedChatModel

from langgraph_pdr import (
    BaseVerifier,
    Check,
    CheckRequest,
    Draft,
    PDRConfig,
    Utf8TokenCounter,
    arun_pdr,
    get_verifier,
    inspect_run,
    register_verifier,
    render_run_html,
    resume_pdr,
    run_pdr,
)
from langgraph_pdr.selection.check_rank import best_checked, by_check
from langgraph_pdr.state.registry import VERIFIERS

FENCE = "`" * 3
TESTS = "assert add(2, 2) == 4\nassert add(1, 1) == 2\nassert add(0, 5) == 5"


def program(body: str) -> str:
    return f"Here is the program.\n{FENCE}python\ndef add(a, b):\n    {body}\n{FENCE}\n"


RIGHT = program("return a + b")
MINUS = program("return a - b")  # fails 2 + 2 (expected 4, got 0)
TIMES = program("return a * b")  # fails 1 + 1 and 0 + 5, passes 2 + 2
BROKEN = program("return a + c")  # NameError


@pytest.fixture(autouse=True)
def _own_verifiers():
    """Verifiers a test registers are forgotten after it."""
    before = dict(VERIFIERS._items)
    yield
    VERIFIERS._items.clear()
    VERIFIERS._items.update(before)


@pytest.fixture
def db_file(tmp_path) -> str:
    return str(tmp_path / "runs.sqlite")


def request(
    answer: str | None, tests: str | None = TESTS, question: str = "Write add(a, b)."
) -> CheckRequest:
    return CheckRequest(
        question=question,
        draft=Draft(round=1, index=0),
        answer=answer,
        tests=tests,
        config=PDRConfig(),
        counter=Utf8TokenCounter(),
    )


# -- python_tests ---------------------------------------------------------------------------------


def test_python_tests_reports_each_test_expected_against_got():
    check = get_verifier("python_tests").check(request("def add(a, b):\n    return a * b"))
    assert (check.passed, check.score) == (False, pytest.approx(1 / 3))
    assert [t.passed for t in check.tests] == [True, False, False]
    assert check.feedback.splitlines()[0] == "Passed 1 of 3 visible tests."
    assert "Failed: assert add(1, 1) == 2\n  expected 2, got 1" in check.feedback
    assert [t.output for t in check.tests] == ["4", "1", "0"]


def test_python_tests_names_the_error_and_its_line_in_the_program():
    check = get_verifier("python_tests").check(request("def add(a, b):\n    x = a\n    return x + c"))
    assert not check.passed and check.tests[0].error == "NameError: name 'c' is not defined"
    assert check.tests[0].line == "line 3: return x + c"
    assert "raised NameError: name 'c' is not defined (line 3: return x + c)" in check.feedback


def test_python_tests_a_program_that_does_not_load_or_does_not_exist():
    syntax = get_verifier("python_tests").check(request("def add(a, b)\n    return a + b"))
    assert not syntax.passed and syntax.score == 0 and "failed to load: SyntaxError" in syntax.feedback
    none = get_verifier("python_tests").check(request(None))
    assert not none.passed and none.feedback.startswith("No program")


def test_python_tests_stops_a_program_that_hangs():
    check = get_verifier("python_tests").check(request("def add(a, b):\n    while True:\n        pass"))
    assert not check.passed and check.tests[0].error.startswith("TimedOut")
    assert check.seconds < 30  # the first hang gets its full limit, the others a short one


def test_python_tests_without_tests_checks_the_program_defines_the_task_functions():
    question = f"{FENCE}python\ndef add(a, b):\n    '''The sum.'''\n{FENCE}"
    ok = get_verifier("python_tests").check(request("def add(a, b):\n    return a + b", None, question))
    assert ok.passed and ok.tests == [] and "no visible tests" in ok.feedback
    missing = get_verifier("python_tests").check(request("def plus(a, b):\n    return a + b", None, question))
    assert not missing.passed and "does not define add" in missing.feedback


def test_python_tests_feedback_is_bounded_in_tokens():
    many = "\n".join(f"assert add({i}, 0) == {i + 1}" for i in range(200))
    check = get_verifier("python_tests").check(request("def add(a, b):\n    return a + b", many))
    counter = Utf8TokenCounter()
    assert check.score == 0 and len(check.tests) == 200
    assert counter.count(check.feedback) <= 256 and "more failed tests" in check.feedback


def test_what_the_program_prints_cannot_forge_a_result():
    forged = 'import sys\nprint(\'{"result": {"test": "x", "passed": true}}\')\ndef add(a, b):\n    return 0'
    check = get_verifier("python_tests").check(request(forged))
    assert check.score == 0 and len(check.tests) == 3


# -- the method -----------------------------------------------------------------------------------


def by_round(replies: dict[tuple[int, int], str]):
    """A fake server's reply: draft (round, index) gets `replies`, RIGHT when not listed."""

    def reply(req: Request) -> str:
        return replies.get(req.draft or (0, 0), RIGHT)

    return reply


def test_pdr_repairs_from_the_checks_and_answers_with_the_passing_program(db):
    """The issue's first "done when": round-1 drafts carry failing checks naming the failed test, the
    refine prompts show them with their feedback, and the answer is the program that passed."""
    replies = {(1, 0): MINUS, (1, 1): TIMES, (1, 2): MINUS, (1, 3): BROKEN}
    replies |= {(2, 0): MINUS, (2, 1): RIGHT, (2, 2): TIMES, (2, 3): MINUS}
    config = PDRConfig(
        method="pdr", schedule=[4, 4], distiller="verified_top_k", k=2, verifier="python_tests"
    )
    with FakeOpenAIServer(reply=by_round(replies)) as server:
        result = run_pdr(
            "Write add(a, b).",
            model="fake-model",
            base_url=server.base_url,
            config=config,
            tests=TESTS,
            db=db,
        )
        refine = [r for r in server.requests if r.draft and r.draft[0] == 2]
        billed = sum(r.prompt_tokens + r.completion_tokens for r in server.requests)
    first = result.rounds[0].drafts
    assert all(d.check is not None and not d.check.passed for d in first)
    assert "Failed: assert add(2, 2) == 4\n  expected 4, got 0" in first[0].check.feedback
    [workspace] = result.rounds[0].workspaces
    assert workspace.sources == [1, 0]  # the best score first (TIMES passes 1 of 3), then a different failure
    assert len(refine) == 4
    for req in refine:
        assert "Test results of attempt 1:" in req.prompt and "expected 4, got 0" in req.prompt
        assert "Write a corrected program" in req.prompt
    assert result.answer == "def add(a, b):\n    return a + b" and result.check.passed
    assert result.b_total == billed and result.status == "completed"


def test_stop_on_pass_ends_the_run_after_its_first_passing_round(db_file):
    config = PDRConfig(schedule="4,4", distiller="verified_top_k", stop_on_pass=True)
    replies = {(1, 0): MINUS, (1, 1): MINUS, (1, 2): RIGHT, (1, 3): TIMES}
    with FakeOpenAIServer(reply=by_round(replies)) as server:
        result = run_pdr(
            "Write add(a, b).",
            model="fake-model",
            base_url=server.base_url,
            config=config,
            tests=TESTS,
            db=db_file,
        )
        asked = len(server.requests)
    assert (result.stop_reason, result.status, asked) == ("verified", "completed", 4)
    assert result.config.verifier == "python_tests"  # tests and no verifier: the default one, stored
    assert result.answer == "def add(a, b):\n    return a + b"
    assert [len(r.drafts) for r in result.rounds] == [4]


def test_best_of_n_picks_by_checks_without_a_model_judge():
    replies = [MINUS, TIMES, RIGHT, BROKEN]
    model = ScriptedChatModel(script=lambda c: replies[c.index])
    result = run_pdr(
        "Write add(a, b).",
        model=model,
        config=PDRConfig(method="best_of_n", schedule=4),
        tests=TESTS,
        db=":memory:",
    )
    assert {c.role for c in model.log} == {"draft"}  # no self-verification calls
    assert result.answer.endswith("return a + b") and result.rounds[0].drafts[2].check.passed


def test_sr_with_a_verifier_is_self_repair():
    replies = {1: MINUS, 2: TIMES, 3: RIGHT}
    model = ScriptedChatModel(script=lambda c: replies[c.round])
    config = PDRConfig(method="sr", schedule="1,1,1", stop_on_pass=True)
    result = run_pdr("Write add(a, b).", model=model, config=config, tests=TESTS, db=":memory:")
    second = next(c for c in model.log if c.round == 2)
    assert "expected 4, got 0" in second.prompt and "Write a corrected program" in second.prompt
    assert result.answer.endswith("return a + b") and len(model.log) == 3


def test_per_draft_repair_gives_each_refine_draft_its_own_draft_and_one_other():
    replies = {(1, 0): MINUS, (1, 1): TIMES, (1, 2): MINUS, (1, 3): BROKEN}
    model = ScriptedChatModel(script=lambda c: replies.get((c.round, c.index), RIGHT))
    config = PDRConfig(schedule="4,4", distiller="per_draft_repair", k=2)
    result = run_pdr("Write add(a, b).", model=model, config=config, tests=TESTS, db=":memory:")
    workspaces = result.rounds[0].workspaces
    assert [w.sources[0] for w in workspaces] == [0, 1, 2, 3]  # each its own parent first
    assert all(len(w.sources) == 2 and w.sources[0] != w.sources[1] for w in workspaces)
    assert workspaces[0].sources == [0, 1]  # the other is the best-checked draft that fails differently
    assert result.check.passed


def test_a_run_that_needs_checks_without_a_verifier_is_refused_before_any_call():
    model = ScriptedChatModel()
    with pytest.raises(ValueError, match="verified_top_k.*reads checks"):
        run_pdr("q", model=model, config=PDRConfig(schedule="4,4", distiller="verified_top_k"), db=":memory:")
    with pytest.raises(ValueError, match="stop_on_pass: needs a verifier"):
        run_pdr("q", model=model, config=PDRConfig(stop_on_pass=True), db=":memory:")
    with pytest.raises(ValueError, match="tests: not valid Python"):
        run_pdr("q", model=model, config=PDRConfig(method="single"), tests="assert add(", db=":memory:")
    assert model.log == []


def test_best_checked_prefers_passing_then_score_then_agreement_then_the_first():
    def draft(i, passed, score, outputs):
        from langgraph_pdr import TestResult

        tests = [TestResult(test="t", passed=passed, output=o) for o in outputs]
        check = Check(round=1, index=i, verifier="v", passed=passed, score=score, tests=tests)
        return Draft(round=1, index=i, text=str(i), check=check)

    # among equal failing scores, the draft whose outputs two others share wins over the first
    drafts = [draft(0, False, 0.5, ["1"]), draft(1, False, 0.5, ["2"]), draft(2, False, 0.5, ["2"])]
    assert best_checked(drafts).index == 1
    assert best_checked([*drafts, draft(3, True, 1.0, ["9"])]).index == 3
    # by_check: a repeated failure comes after a different one of the same score
    assert [d.index for d in by_check(drafts)] == [0, 1, 2]


# -- your own verifiers ---------------------------------------------------------------------------


def test_register_a_sync_and_an_async_function_and_a_class():
    @register_verifier(name="even")
    def even(req: CheckRequest) -> bool:
        return req.answer is not None and int(req.answer) % 2 == 0

    @register_verifier(name="near_ten")
    async def near_ten(req: CheckRequest) -> float:
        await asyncio.sleep(0)
        return max(0.0, 1 - abs(int(req.answer) - 10) / 10)

    replies = ["\\boxed{3}", "\\boxed{8}", "\\boxed{10}"]
    model = ScriptedChatModel(script=lambda c: replies[c.index])
    even_run = run_pdr(
        "n?", model=model, config=PDRConfig(method="best_of_n", schedule=3, verifier="even"), db=":memory:"
    )
    assert even_run.answer == "8" and [d.check.passed for d in even_run.rounds[0].drafts] == [
        False,
        True,
        True,
    ]
    near = asyncio.run(
        arun_pdr(
            "n?",
            model=model,
            config=PDRConfig(method="best_of_n", schedule=3, verifier="near_ten"),
            db=":memory:",
        )
    )
    assert near.answer == "10"
    assert [d.check.score for d in near.rounds[0].drafts] == pytest.approx([0.3, 0.8, 1.0])

    @register_verifier
    class Short(BaseVerifier):
        name = "short"

        def check(self, req: CheckRequest) -> Check:
            ok = len(req.answer or "") == 1
            return Check(
                round=req.draft.round, index=req.draft.index, verifier=self.name, passed=ok, score=ok
            )

    short = run_pdr(
        "n?", model=model, config=PDRConfig(method="best_of_n", schedule=3, verifier="short"), db=":memory:"
    )
    assert short.answer == "3" and [d.check.passed for d in short.rounds[0].drafts] == [True, True, False]
    # the sync API runs an async-only verifier too
    assert (
        run_pdr(
            "n?",
            model=model,
            config=PDRConfig(method="best_of_n", schedule=3, verifier="near_ten"),
            db=":memory:",
        ).answer
        == "10"
    )


def test_a_verifier_that_raises_gives_a_failed_check_not_a_failed_run():
    @register_verifier(name="buggy")
    def buggy(req: CheckRequest) -> bool:
        raise RuntimeError("the checker is broken")

    result = run_pdr(
        "q", model=ScriptedChatModel(), config=PDRConfig(method="single", verifier="buggy"), db=":memory:"
    )
    check = result.rounds[0].drafts[0].check
    assert result.status == "completed" and not check.passed
    assert check.error == "RuntimeError: the checker is broken" and "could not run" in check.feedback


MODULE = """
from langgraph_pdr import register_verifier


@register_verifier(name="short_answer")
def short_answer(request):
    return len(request.answer or "") <= 2
"""


def test_a_stored_run_with_a_users_verifier_is_read_and_resumed_in_another_process(tmp_path):
    """The run stores where its verifier comes from: `pdr inspect` in another process reads it, and a
    resume there imports it."""
    (tmp_path / "my_checks.py").write_text(MODULE)
    db = str(tmp_path / "runs.sqlite")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import my_checks  # registers short_answer
        from fakes import ScriptedChatModel
        from langgraph_pdr import PDRConfig, run_pdr

        def script(call):
            if call.round == 2:
                raise KeyboardInterrupt  # the process stops in its second round
            return "\\\\boxed{{42}}"

        run_pdr("q", model=ScriptedChatModel(script=script), db={db!r}, thread_id="t",
                config=PDRConfig(method="sr", schedule="1,1", verifier="short_answer"))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr
    stored = inspect_run("t", db=db)  # no import needed to read it
    assert stored.status == "interrupted" and stored.rounds[0].drafts[0].check.passed
    assert "short_answer" not in VERIFIERS or VERIFIERS.get("short_answer").__class__.__name__ == "Missing"
    sys.path.insert(0, str(tmp_path))
    try:
        result = resume_pdr("t", db=db, model=ScriptedChatModel(script=lambda c: "\\boxed{7}"))
    finally:
        sys.path.remove(str(tmp_path))
    assert result.status == "completed" and result.rounds[1].drafts[0].check.verifier == "short_answer"


def test_a_stored_verifier_that_cannot_be_imported_is_a_clear_error(tmp_path):
    db = str(tmp_path / "runs.sqlite")

    @register_verifier(name="local_only")
    def local_only(req: CheckRequest) -> bool:  # defined in a function: it cannot be imported
        return True

    def stop(call):
        if call.round == 2:
            raise ValueError("400: stop here")
        return "\\boxed{1}"

    config = PDRConfig(method="sr", schedule="1,1", verifier="local_only")
    failed = run_pdr("q", model=ScriptedChatModel(script=stop), db=db, config=config)
    assert failed.status == "failed"
    del VERIFIERS._items["local_only"]
    with pytest.raises(ValueError, match="verifier 'local_only'.*register it with register_verifier"):
        resume_pdr(failed.thread_id, db=db, model=ScriptedChatModel())


# -- what users see -------------------------------------------------------------------------------


def test_the_ledger_pdr_inspect_and_the_page_show_the_checks(db_file, tmp_path):
    replies = {(1, 0): MINUS, (1, 1): RIGHT}
    with FakeOpenAIServer(reply=by_round(replies)) as server:
        result = run_pdr(
            "Write add(a, b).",
            model="fake-model",
            base_url=server.base_url,
            config=PDRConfig(method="best_of_n", schedule=2),
            tests=TESTS,
            db=db_file,
        )
    assert inspect_run(result.thread_id, db=db_file).rounds == result.rounds  # checks read back as written
    checks = [d.check for d in result.rounds[0].drafts]
    assert [c.passed for c in checks] == [False, True] and all(c.seconds > 0 for c in checks)
    proc = subprocess.run(
        [sys.executable, "-m", "langgraph_pdr.cli", "inspect", result.thread_id, "--db", db_file],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "checks" in proc.stdout and "expected 4, got 0" in proc.stdout and "fail 0.00" in proc.stdout
    page = render_run_html(result.thread_id, db=db_file)
    assert "badge check-fail" in page and "badge check-pass" in page
    assert '<details class="check">' in page and "expected 4, got 0" in page


def test_pdr_run_with_tests_from_a_file(db_file, tmp_path):
    tests = tmp_path / "tests.py"
    tests.write_text(TESTS)
    replies = {(1, 0): MINUS, (1, 1): TIMES, (1, 2): RIGHT, (1, 3): BROKEN}
    with FakeOpenAIServer(reply=by_round(replies)) as server:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "langgraph_pdr.cli",
                "run",
                "Write add(a, b).",
                "--model",
                "fake-model",
                "--base-url",
                server.base_url,
                "--schedule",
                "4,4",
                "--tests",
                str(tests),
                "--verifier",
                "python_tests",
                "--distiller",
                "verified_top_k",
                "--stop-on-pass",
                "--json",
                "--db",
                db_file,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["answer"] == "def add(a, b):\n    return a + b" and out["stop_reason"] == "verified"
    assert out["config"]["verifier"] == "python_tests" and out["config"]["stop_on_pass"] is True


def test_pdr_run_best_of_n_in_windows_with_a_quorum(tmp_path, db_file):
    tests = tmp_path / "tests.py"
    tests.write_text(ONE_TEST)
    replies = {(1, 0): RIGHT, (1, 1): TIMES, (1, 2): program("return b + a"), (1, 3): RIGHT}
    with FakeOpenAIServer(reply=by_round(replies)) as server:
        args = ["--method", "best_of_n", "--schedule", "4,4", "--stop-on-pass", "--pass-quorum", "3"]
        proc = subprocess.run(
            [sys.executable, "-m", "langgraph_pdr.cli", "run", "Write add(a, b).", "--model", "fake-model"]
            + ["--base-url", server.base_url, "--tests", str(tests), *args, "--json", "--db", db_file],
            capture_output=True,
            text=True,
            timeout=300,
        )
        asked = len(server.requests)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["stop_reason"], asked, out["config"]["pass_quorum"]) == ("verified", 4, 3)
    assert out["answer"] == "def add(a, b):\n    return a + b"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--tests", "/nonexistent/tests.py"], "--tests: no such file: /nonexistent/tests.py"),
        (["--verifier", "magic"], "verifier: unknown verifier 'magic'"),
        (["--distiller", "verified_top_k", "--schedule", "4,4"], "reads checks"),
        (["--pass-quorum", "2"], "pass_quorum: counts the agreeing passing drafts"),
        (["--method", "best_of_n", "--schedule", "4,4"], "windows that stop_on_pass may end early"),
    ],
)
def test_pdr_run_bad_check_options_are_one_line_errors(args, needle, db_file):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "langgraph_pdr.cli",
            "run",
            "q",
            "--model",
            "m",
            "--base-url",
            "http://127.0.0.1:9/v1",
            *args,
            "--db",
            db_file,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr


# -- probe inputs: agreement beyond the visible tests -----------------------------------------------

ONE_TEST = "assert add(2, 2) == 4"  # a + b, a * b and 2 * a all pass it


def test_a_passing_program_is_run_on_probe_inputs_and_a_failing_one_is_not():
    checker = get_verifier("python_tests")
    plus = checker.check(request("def add(a, b):\n    return a + b", tests=ONE_TEST))
    times = checker.check(request("def add(a, b):\n    return a * b", tests=ONE_TEST))
    again = checker.check(request("def add(x, y):\n    return y + x", tests=ONE_TEST))
    assert plus.passed and times.passed and plus.tests[0].output == times.tests[0].output == "4"
    assert len(plus.probes) > 3 and plus.probes != times.probes  # they differ beyond the visible test
    assert again.outputs == plus.outputs  # the same function written otherwise agrees everywhere
    failing = checker.check(request("def add(a, b):\n    return a - b", tests=ONE_TEST))
    assert not failing.passed and failing.probes == []
    assert "probe" not in plus.feedback.lower()  # probes have no expected values: never feedback


def test_probe_outputs_say_what_a_program_raises_or_where_it_hangs():
    program = "def add(a, b):\n    if a == 2 and b == 2:\n        return 4\n    while True:\n        pass"
    check = get_verifier("python_tests").check(request(program, tests=ONE_TEST))
    assert check.passed and set(check.probes) <= {"!timeout", "!skipped"} and "!timeout" in check.probes
    raising = "def add(a, b):\n    if (a, b) != (2, 2):\n        raise ValueError(a)\n    return 4"
    assert set(get_verifier("python_tests").check(request(raising, tests=ONE_TEST)).probes) == {"!ValueError"}


def test_the_answer_is_the_largest_group_of_passing_programs_that_agree():
    replies = [TIMES, RIGHT, program("return b + a"), MINUS]  # TIMES passes 2 + 2 too, and comes first
    model = ScriptedChatModel(script=lambda c: replies[c.index])
    config = PDRConfig(method="best_of_n", schedule=4)
    result = run_pdr("Write add(a, b).", model=model, config=config, tests=ONE_TEST, db=":memory:")
    assert [d.check.passed for d in result.rounds[0].drafts] == [True, True, True, False]
    assert result.answer.endswith("return a + b")  # the group of two (1 and 2), then its first


@pytest.mark.parametrize(
    ("first_window", "drafts", "stop_reason"),
    [
        ([RIGHT, RIGHT, program("return b + a"), TIMES], 4, "verified"),  # three passing agree
        ([RIGHT, TIMES, RIGHT, MINUS], 8, "completed"),  # only two agree: the next window is drawn
    ],
)
def test_best_of_n_in_windows_stops_when_a_quorum_of_passing_drafts_agrees(first_window, drafts, stop_reason):
    model = ScriptedChatModel(script=lambda c: first_window[c.index] if c.index < 4 else MINUS)
    config = PDRConfig(method="best_of_n", schedule="4,4", stop_on_pass=True, pass_quorum=3)
    result = run_pdr("Write add(a, b).", model=model, config=config, tests=ONE_TEST, db=":memory:")
    assert (len(model.log), result.stop_reason, result.status) == (drafts, stop_reason, "completed")
    assert sorted(c.index for c in model.log) == list(range(drafts))  # windows number one sample
    assert result.answer.endswith("return a + b")  # the largest agreeing group's first
    assert {c.role for c in model.log} == {"draft"}


def test_pass_quorum_and_best_of_n_windows_need_stop_on_pass():
    with pytest.raises(ValueError, match="pass_quorum: .*set stop_on_pass=True"):
        PDRConfig(method="best_of_n", pass_quorum=2)
    with pytest.raises(ValueError, match="windows that stop_on_pass may end early"):
        PDRConfig(method="best_of_n", schedule="4,4")
    with pytest.raises(ValueError, match="pass_quorum: must be at least 1"):
        PDRConfig(stop_on_pass=True, pass_quorum=0)
    from langgraph_pdr.state.methods import method_label, parse_method

    method = parse_method("bon:4-4:stop_on_pass=true:pass_quorum=3")
    assert (method.config.schedule, method.config.pass_quorum) == ((4, 4), 3)
    assert method_label(method.config) == "bon:4-4:stop_on_pass=true:pass_quorum=3"
    assert parse_method(method_label(method.config)).config == method.config


def test_windows_count_each_draft_once_when_choosing_the_largest_agreeing_group():
    """Window 1 ties 2 to 2 (its answer so far: the first, wrong); window 2 makes it 3 to 4. The answer
    so far is one of the window drafts: counted twice, it would tie the groups and win by its index."""
    replies = [TIMES, RIGHT, TIMES, RIGHT, TIMES, RIGHT, MINUS, RIGHT]
    model = ScriptedChatModel(script=lambda c: replies[c.index])
    config = PDRConfig(method="best_of_n", schedule="4,4", stop_on_pass=True, pass_quorum=3)
    result = run_pdr("Write add(a, b).", model=model, config=config, tests=ONE_TEST, db=":memory:")
    assert (len(model.log), result.stop_reason) == (8, "completed")
    assert result.answer.endswith("return a + b")
