"""Reading answers and verification scores out of model text."""

from __future__ import annotations

import pytest

from langgraph_pdr.nodes.verify import parse_score
from langgraph_pdr.selection.answer_votes import PLACEHOLDER, final_answer, last_boxed, normalize


@pytest.mark.parametrize(
    "text,expected",
    [
        ("so \\boxed{42}.", "42"),
        ("\\boxed{1} then \\boxed{\\frac{3}{4}}", "\\frac{3}{4}"),
        ("\\boxed{ \\{1, 2\\} }", "\\{1, 2\\}"),
        ("\\boxed {x^{2}}", "x^{2}"),
        ("\\fbox{7}", "7"),
        ("no box here", None),
        ("unclosed \\boxed{12", None),
        ("ok \\boxed{5} and unclosed \\boxed{6", "5"),
        # a model that echoes the prompt's instruction after its answer (seen with the 1.5B model)
        ("so \\(\\boxed{23}\\) jewels.\n\nNow write ... as \\boxed{ANSWER}.", "23"),
        ("end it with \\boxed{ANSWER}.", None),
        ("\\boxed{7} then \\boxed{ }", "7"),
        ("\\boxed{ANSWERS}", "ANSWERS"),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


def test_the_placeholder_is_the_one_the_prompts_ask_for():
    from langgraph_pdr.prompting.prompt_catalog import CLASSIC

    for prompt in (CLASSIC.solve, CLASSIC.refine, CLASSIC.improve, CLASSIC.improve_with_review):
        assert "\\boxed{{" + PLACEHOLDER + "}}" in prompt


def test_final_answer_falls_back_to_the_text():
    assert final_answer("  the answer is 12 ") == "the answer is 12"
    assert final_answer("") is None


def test_normalize_votes_equal_answers_together():
    assert normalize("1,000") == normalize("1000") == normalize(" $1000$ ")
    assert normalize("(1,2)") != normalize("(12)")


@pytest.mark.parametrize(
    "reply,score",
    [
        ("All steps check out.\nScore: 9", 9.0),
        ("score = 7/10", 7.0),
        ("**Score:** 6", 6.0),
        ("I'd give it \\boxed{8}", 8.0),
        ("Rating: 4", 4.0),
        ("8/10 overall", 8.0),
        ("Score: 3\n...on reflection, Score: 5", 5.0),
        ("Score: 11", None),
        ("Score: -2", None),
        ("It looks right.", None),
        ("", None),
        ('{"malformed": json', None),
    ],
)
def test_parse_score_is_robust(reply, score):
    assert parse_score(reply) == score


def test_unparseable_verification_is_unknown_not_a_crash():
    from fakes import ScriptedChatModel

    from langgraph_pdr import PDRConfig, run_pdr

    fake = ScriptedChatModel(script=lambda c: "I cannot tell." if c.role == "verify" else "\\boxed{1}")
    result = run_pdr("q?", model=fake, config=PDRConfig(distiller="shared_top_k"))
    assert result.stop_reason == "completed"
    assert all(d.score is None for r in result.rounds[:2] for d in r.drafts)
    assert all(v.score is None for r in result.rounds[:2] for v in r.verifications)
