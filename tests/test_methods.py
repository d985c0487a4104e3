"""SR, SR with error analysis, and the three baselines, through the same accounting."""

from __future__ import annotations

import re

import pytest
from fakes import FakeCall, ScriptedChatModel, parts_of

from langgraph_pdr import PDRConfig, run_pdr
from langgraph_pdr.state.methods import parse_method


def test_sr_rewrites_its_previous_solution(db):
    fake = ScriptedChatModel()
    result = run_pdr("q?", model=fake, config=PDRConfig(method="sr", schedule="1,1,1"), db=db)
    assert [(c.role, c.round) for c in fake.log] == [("draft", 1), ("draft", 2), ("draft", 3)]
    for rnd in (2, 3):
        (call,) = fake.calls("draft", rnd)
        (previous,) = fake.calls("draft", rnd - 1)
        assert parts_of(call.prompt, "improve")["workspace"] == previous.reply
    assert result.answer == "30"
    assert result.b_seq == result.b_total == sum(c.total for c in fake.log)


def test_sr_workspace_is_cut_to_kappa():
    fake = ScriptedChatModel(script=lambda c: "long " * 400 + "\\boxed{1}")
    result = run_pdr("q?", model=fake, config=PDRConfig(method="sr", schedule="1,1", kappa=32))
    (w,) = result.rounds[0].workspaces
    assert w.tokens <= 32 and w.text.endswith("\\boxed{1}") and "[...]" in w.text


def test_sr_error_critiques_each_round_before_the_rewrite(db):
    def script(call: FakeCall) -> str:
        if call.role == "critique":
            return f"review of round {call.round}: step 2 is wrong"
        return f"solution {call.round} \\boxed{{{call.round}}}"

    fake = ScriptedChatModel(script=script)
    result = run_pdr("q?", model=fake, config=PDRConfig(method="sr_error", schedule="1,1,1", kappa=64), db=db)
    assert [(c.role, c.round) for c in fake.log] == [
        ("draft", 1),
        ("critique", 1),
        ("draft", 2),
        ("critique", 2),
        ("draft", 3),
    ]
    assert {c.kwargs["max_tokens"] for c in fake.calls("critique")} == {64}
    (rewrite,) = fake.calls("draft", 2)
    assert "solution 1 \\boxed{1}" in rewrite.prompt
    assert parts_of(rewrite.prompt, "improve_with_review")["critique"] == "review of round 1: step 2 is wrong"
    assert parts_of(fake.calls("critique", 1)[0].prompt, "critique")["question"] == "q?"
    assert result.rounds[0].critique == "review of round 1: step 2 is wrong"
    assert result.b_seq == result.b_total == sum(c.total for c in fake.log)
    assert result.answer == "3"


def test_single_pass_is_one_call(db):
    fake = ScriptedChatModel()
    result = run_pdr("q?", model=fake, config=PDRConfig(method="single"), db=db)
    assert len(fake.log) == 1 and result.answer == "10"
    assert result.b_seq == result.b_total == fake.log[0].total


def test_self_consistency_takes_the_majority_answer(db):
    answers = ["5", "7", "7", "\\frac{1}{2}", "7", "5"]
    fake = ScriptedChatModel(script=lambda c: f"try {c.index} \\boxed{{{answers[c.index]}}}")
    result = run_pdr("q?", model=fake, config=PDRConfig(method="self_consistency", schedule=6), db=db)
    assert result.answer == "7" and result.text == "try 1 \\boxed{7}"
    assert len(fake.log) == 6
    assert result.b_seq == max(c.total for c in fake.log)
    assert result.b_total == sum(c.total for c in fake.log)


def test_best_of_n_picks_the_best_verified_draft(db):
    scores = {0: "Score: 3", 1: "no idea", 2: "Score: 9", 3: "Score: 8"}

    def script(call: FakeCall) -> str:
        if call.role == "verify":
            index = int(call.prompt.split("candidate ")[1].split()[0])
            return scores[index]
        return f"candidate {call.index} \\boxed{{{call.index}}}"

    fake = ScriptedChatModel(script=script)
    result = run_pdr("q?", model=fake, config=PDRConfig(method="best_of_n", schedule=4), db=db)
    assert result.answer == "2"
    assert [d.score for d in result.rounds[0].drafts] == [3, None, 9, 8]
    assert len(fake.calls("verify")) == 4
    drafts = max(c.total for c in fake.calls("draft"))
    verifies = max(c.total for c in fake.calls("verify"))
    assert result.b_seq == drafts + verifies


def writes_code(call: FakeCall) -> str:
    """A model without native tool calls: a draft writes a ```python block, then boxes what it printed;
    a verification scores, a summary or a critique is text."""
    if call.role == "verify":
        return "Score: 5"
    if call.role != "draft":
        return "notes on the attempts"
    printed = re.search(r"stdout:\n(\d+)", call.prompt)
    if printed is None:
        return f"Let me compute.\n```python\nprint({call.round} * 100 + {call.index})\n```"
    return f"The code printed {printed.group(1)}: \\boxed{{{printed.group(1)}}}"


@pytest.mark.parametrize(
    "entry",
    ["single", "sc:3", "bon:2", "sr:2", "sr_error:2", "pdr:2-1:random_k:k=1", "pdr:2-2:majority_k:k=1"],
)
def test_every_method_takes_tools_from_the_method_grammar_and_its_drafts_run_code(entry):
    config = parse_method(f"{entry}:tools=python").config
    fake = ScriptedChatModel(script=writes_code)
    result = run_pdr("q?", model=fake, config=config, db=":memory:")
    drafts = [d for r in result.rounds for d in r.drafts]
    assert len(drafts) == sum(config.schedule)
    for d in drafts:
        [first, last] = d.turns
        [code] = first.tool_calls
        expected = str(d.round * 100 + d.index)
        assert code.fenced and code.output.endswith(f"\nstdout:\n{expected}\n") and not last.tool_calls
        assert d.answer == expected and d.text == last.text  # the answer is what the code printed
    assert len(fake.calls("draft")) == 2 * len(drafts)  # two turns a draft
    assert result.b_total == sum(c.total for c in fake.log)
