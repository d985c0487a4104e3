"""`pdr eval` on code: EvalPlus tasks load with their visible tests, the hidden tests grade in the sandbox
the way EvalPlus grades, and never reach a request."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from fake_openai import FakeOpenAIServer, Request

from langgraph_pdr.evals import load_dataset, parse_methods, run_eval
from langgraph_pdr.evals.code_grading import CodeGrader, grade_program
from langgraph_pdr.evals.datasets import DatasetError
from langgraph_pdr.evals.report import code_stats

FENCE = "`" * 3
HUMANEVAL = load_dataset("humanevalplus")
MBPP = load_dataset("mbppplus")
BY_ID = {p.id: p for p in HUMANEVAL + MBPP}


def canonical(task_id: str) -> str:
    task = BY_ID[task_id].code
    return task.prompt + task.canonical_solution


# -- datasets -------------------------------------------------------------------------------------


def test_the_code_datasets_load_with_their_visible_tests_and_keep_the_hidden_ones_apart():
    assert (len(HUMANEVAL), len(MBPP)) == (164, 278)
    assert sum(1 for p in HUMANEVAL if p.tests) == 123  # docstring examples that parse as asserts
    assert all(p.tests and p.tests.count("assert ") == 1 for p in MBPP)  # MBPP's one assert
    first = HUMANEVAL[0]
    assert first.tests.splitlines()[0] == "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False"
    assert first.problem.startswith(FENCE + "python\nfrom typing import List")
    assert first.answer == "" and first.code.entry_point == "has_close_elements"
    assert first.code.canonical_solution not in first.problem
    free_text = BY_ID["HumanEval/74"].tests  # examples written `total_match([], []) ➞ []`
    assert free_text.startswith("assert total_match([], []) == []")


def test_a_users_evalplus_file_is_recognised_by_its_fields(tmp_path):
    rows = [
        json.loads(line)
        for line in gzip.open(
            os.path.join(os.path.dirname(__file__), "..", "evals", "data", "mbppplus.jsonl.gz"), "rt"
        )
    ][:2]
    plain = tmp_path / "mine.jsonl"
    plain.write_text("".join(json.dumps(r) + "\n" for r in rows))
    zipped = tmp_path / "mine.jsonl.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, zipped):
        problems = load_dataset(str(path))
        assert [p.id for p in problems] == ["Mbpp/3", "Mbpp/4"] and problems[0].dataset == "mine"
        assert problems[0].code is not None and problems[0].tests
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"task_id": "x", "prompt": "p"}) + "\n")
    with pytest.raises(DatasetError, match="broken.jsonl:2: not an EvalPlus task"):
        load_dataset(str(broken))


# -- the grader -----------------------------------------------------------------------------------


def test_every_canonical_solution_passes_base_and_plus():
    """The grader agrees with EvalPlus's ground truth on all 442 tasks (HumanEval+ and MBPP+)."""

    def grade(problem):
        return problem.id, grade_program(canonical(problem.id), problem.code)

    with ThreadPoolExecutor(2) as pool:
        failed = [(i, g.detail) for i, g in pool.map(grade, HUMANEVAL + MBPP) if not (g.base and g.plus)]
    assert failed == []


@pytest.mark.parametrize(
    ("task_id", "program", "base", "plus", "why"),
    [
        # right on HumanEval's own tests, wrong on EvalPlus's: plus is the honest figure
        (
            "HumanEval/2",
            "def truncate_number(number):\n    return round(number % 1.0, 3)",
            True,
            False,
            "plus fail",
        ),
        (
            "HumanEval/0",
            "def has_close_elements(numbers, threshold):\n    return False",
            False,
            False,
            "base fail",
        ),
        (
            "HumanEval/0",
            "def has_close_elements(numbers, threshold):\n    return 1 / 0",
            False,
            False,
            "ZeroDivision",
        ),
        (
            "HumanEval/0",
            "def has_close_elements(numbers, threshold):\n    while True:\n        pass",
            False,
            False,
            "timeout",
        ),
        ("HumanEval/0", "def has_close_elements(numbers, threshold)\n    return 1", False, False, "load"),
        (
            "Mbpp/3",
            "import math\ndef is_not_prime(n):\n"
            "    return any(n % i == 0 for i in range(2, int(math.sqrt(n))))",
            False,
            False,
            "base fail",
        ),  # misses square roots (35 = 5 * 7 is not found)
    ],
)
def test_known_wrong_programs_fail(task_id, program, base, plus, why):
    grade = grade_program(program, BY_ID[task_id].code)
    assert (grade.base, grade.plus) == (base, plus)
    assert grade.detail is not None and why.lower() in grade.detail.lower()


def test_evalplus_special_cases_accept_other_right_answers():
    """The ported oracles (`grading_harness.same`, run in the sandbox) accept what EvalPlus accepts."""
    from langgraph_pdr.evals import grading_harness as h

    root = 2**0.5  # x^2 - 2: the reference found +sqrt(2); -sqrt(2) is a root too
    assert h.same("humaneval", "find_zero", [[-2, 0, 1]], -root, root, 1e-4)
    assert not h.same("humaneval", "find_zero", [[-2, 0, 1]], 1.5, root, 1e-4)
    assert h.same("mbpp", "Diff", [[1, 2], [2, 3]], [3, 1], [1, 3], 0)  # compared as sets
    assert not h.same("mbpp", "Diff", [[1, 2], [2, 3]], [3], [1, 3], 0)
    assert h.same("mbpp", "check_str", ["a"], "a match", True, 0)  # only "not None" is checked
    assert h.same("", "f", [], 0.1 + 0.2, 0.3, 0)  # floats: within 1e-6 even when atol is 0
    assert not h.same("", "f", [], [0.3], (0.3,), 0)  # a list for a tuple is wrong
    # Mbpp/769 end to end: the difference in another order passes
    reordered = "def Diff(a, b):\n    return list(set(b) - set(a)) + list(set(a) - set(b))"
    assert grade_program(reordered, BY_ID["Mbpp/769"].code).plus


def test_grades_are_kept_per_task_and_program(tmp_path):
    from langgraph_pdr.checkpoints.store import open_ledger

    ledger = open_ledger(str(tmp_path / "g.sqlite"))
    grader = CodeGrader(ledger.engine)
    task = BY_ID["HumanEval/2"].code
    first = grader.grade("def truncate_number(number):\n    return number % 1.0", task)
    again = CodeGrader(ledger.engine).grade("def truncate_number(number):\n    return number % 1.0", task)
    assert first.plus and again == first  # read back, not run again


# -- the evaluation -------------------------------------------------------------------------------


def solutions(req: Request) -> str:
    """A fake model that answers each task with its reference solution, but HumanEval/1 wrongly."""
    for task_id, problem in BY_ID.items():
        if problem.code.prompt.strip() in req.prompt:
            wrong = task_id == "HumanEval/1"
            code = f"def {problem.code.entry_point}(*args):\n    return None" if wrong else canonical(task_id)
            return f"Sure.\n{FENCE}python\n{code}\n{FENCE}\nThis program solves it."
    return "no task"


def test_pdr_eval_on_humanevalplus_grades_on_hidden_tests_that_never_reach_a_request(tmp_path):
    db = str(tmp_path / "eval.sqlite")
    with FakeOpenAIServer(reply=solutions) as server:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "langgraph_pdr.cli",
                "eval",
                "--dataset",
                "humanevalplus",
                "--limit",
                "3",
                "--methods",
                "single,bon:2,pdr:2-2:verified_top_k:k=1:stop_on_pass=1",
                "--model",
                "fake-model",
                "--base-url",
                server.base_url,
                "--db",
                db,
                "--out",
                str(tmp_path / "report"),
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        bodies = [json.dumps(r.body) for r in server.requests]
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    code = {row["method"]: row for row in out["code"]}
    assert code["single"] == {
        "dataset": "humanevalplus",
        "method": "single",
        "n": 3,
        "base": 2,
        "plus": 2,
        "with_tests": 3,
        "visible": 2,
        "false_positives": 0,
    }
    stopped = code["pdr:2-2:verified_top_k:k=1:stop_on_pass=true"]
    assert stopped["plus"] == 2
    # hidden inputs and the reference solution never reach the model
    for problem in HUMANEVAL[:3]:
        hidden = [json.dumps(i)[1:-1] for i in problem.code.plus_input[-5:]]
        assert not any(h in body for h in hidden for body in bodies), problem.id
        assert not any(problem.code.canonical_solution.strip() in body for body in bodies)
    assert "passed visible, failed plus" in (tmp_path / "report" / "summary.md").read_text()


def test_false_positives_are_counted(tmp_path):
    """An answer that passes the visible tests and fails the hidden plus ones is a false positive."""
    problem = BY_ID["HumanEval/2"]  # its one visible test: truncate_number(3.5) == 0.5

    def rounded(req: Request) -> str:
        return f"{FENCE}python\ndef truncate_number(number):\n    return round(number % 1.0, 3)\n{FENCE}"

    with FakeOpenAIServer(reply=rounded) as server:
        items = run_eval(
            [problem],
            parse_methods("single"),
            model="fake-model",
            base_url=server.base_url,
            db=str(tmp_path / "e.sqlite"),
            concurrency=1,
        )
    [row] = code_stats(items)
    assert (row.visible, row.base, row.plus, row.false_positives) == (1, 1, 0, 1)


def test_a_grade_the_sandbox_cut_short_is_tried_again_and_not_kept(tmp_path, monkeypatch):
    """A grading run the sandbox's wall time ends (on a busy machine) says nothing about the program:
    it is run once more, and a grade still cut short is not kept, so a later report grades again."""
    from langgraph_pdr.checkpoints.store import open_ledger
    from langgraph_pdr.evals import code_grading
    from langgraph_pdr.tooling.sandboxed_python import PythonRun

    cuts = {"left": 2}  # the sandbox's wall time ends the next two grading runs
    real = code_grading.run_python

    def busy(code: str, **limits) -> PythonRun:
        if cuts["left"]:
            cuts["left"] -= 1
            return PythonRun(
                stdout="", stderr="", exception="killed: wall time over 120 s", exit_code=-9, seconds=120.0
            )
        return real(code, **limits)

    monkeypatch.setattr(code_grading, "run_python", busy)
    grader = CodeGrader(open_ledger(str(tmp_path / "g.sqlite")).engine)
    task = BY_ID["HumanEval/2"].code
    cut = grader.grade(canonical("HumanEval/2"), task)
    assert (cut.base, cut.settled, cuts["left"]) == (False, False, 0) and "wall time" in (cut.detail or "")
    again = grader.grade(canonical("HumanEval/2"), task)  # not read back: graded, and right
    assert again.base and again.plus and again.settled
    cuts["left"] = 1  # cut once, then run again: the second run's verdict stands
    retried = CodeGrader(open_ledger(str(tmp_path / "h.sqlite")).engine).grade(canonical("HumanEval/2"), task)
    assert retried.base and retried.plus and retried.settled and cuts["left"] == 0
