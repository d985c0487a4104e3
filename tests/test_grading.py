"""Grading with math-verify: the hand-written tricky cases, from the main thread and from a worker."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from langgraph_pdr.selection.answer_grading import is_correct

# 30 cases written to test answer checkers (several boxes, units, thousands commas, no box ...)
CASES = [json.loads(line) for line in (Path(__file__).parent / "data" / "answer_check_cases.jsonl").open()]


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_tricky_answers_are_graded_as_expected(case):
    assert is_correct(case["output"], case["gold"]) is case["expected_correct"]
    with ThreadPoolExecutor(1) as pool:  # graph nodes grade in worker threads: no signal timeouts there
        assert pool.submit(is_correct, case["output"], case["gold"]).result() is case["expected_correct"]


def test_an_echoed_instruction_after_the_answer_is_not_the_answer():
    # a 1.5B refinement ended with the prompt's last line, copied: its answer is still 23
    text = (
        "Therefore, Siobhan has \\(\\boxed{23}\\) jewels.\n\nNow write your complete solution from "
        "the start and end it with the final answer written as \\boxed{ANSWER}."
    )
    assert is_correct(text, "23")
    assert not is_correct(text, "25")


def test_the_first_grade_of_a_process_is_not_cut_short_by_loading_the_grader():
    # math-verify loads its parsers on its first grade (about 2 s here, more under load): a worker
    # thread's first grade under a short limit once came back wrong for a right answer
    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from langgraph_pdr.selection.answer_grading import is_correct\n"
        "with ThreadPoolExecutor(1) as pool:\n"
        "    print(pool.submit(is_correct, 'so \\\\boxed{42}', '42', timeout=0.05).result())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
