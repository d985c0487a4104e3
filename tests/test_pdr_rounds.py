"""PDR with schedule (4, 2, 1), for every distiller: calls, workspaces, κ, budgets, answer."""

from __future__ import annotations

import re

import pytest
from fakes import FakeCall, ScriptedChatModel, parts_of

from langgraph_pdr import PDRConfig, Utf8TokenCounter, get_prompts, run_pdr
from langgraph_pdr.nodes.distill import by_agreement, by_score
from langgraph_pdr.nodes.distill.global_summary import answer_tally
from langgraph_pdr.state.records import Draft

SCHEDULE = (4, 2, 1)
SCORES = {0: 2, 1: 9, 2: 7, 3: 1}  # round-1 verification scores by draft index
ANSWERS = {0: 7, 1: 7, 2: 5, 3: 6}  # round-1 answers; the gold answer is 7
GOLD = "7"

IN = {"draft": 100, "verify": 60, "distill": 300}


def usage(call: FakeCall) -> tuple[int, int]:
    if call.role == "draft":
        return IN["draft"], 40 + 10 * call.index
    if call.role == "verify":
        return IN["verify"], 5 + call.index
    return IN["distill"], 30


def script(call: FakeCall) -> str:
    if call.role == "verify":
        index = int(re.search(r"draft r\d+ i(\d+)", call.prompt).group(1))
        return f"Checked. Score: {SCORES.get(index, 5)}"
    if call.role == "distill":
        return f"summary of round {call.round}"
    answer = ANSWERS[call.index] if call.round == 1 else 100 + call.round * 10 + call.index
    return f"draft r{call.round} i{call.index} " + "step " * 30 + f"so \\boxed{{{answer}}}"


# Hand-computed from `usage`: (B_total, B_seq) per distiller family.
#   drafts: r1 140+150+160+170 = 620 (max 170), r2 140+150 = 290 (max 150), r3 140
#   verify: r1 65+66+67+68 = 266 (max 68), r2 65+66 = 131 (max 66)
#   summary: 330 per round
EXPECTED = {
    "global_summary": (620 + 330 + 290 + 330 + 140, 170 + 330 + 150 + 330 + 140),
    "shared_top_k": (620 + 266 + 290 + 131 + 140, 170 + 68 + 150 + 66 + 140),
    "per_sample_top_k": (620 + 266 + 290 + 131 + 140, 170 + 68 + 150 + 66 + 140),
    "majority_k": (620 + 290 + 140, 170 + 150 + 140),
    "random_k": (620 + 290 + 140, 170 + 150 + 140),
    "oracle_correct": (620 + 290 + 140, 170 + 150 + 140),
    "oracle_incorrect": (620 + 290 + 140, 170 + 150 + 140),
}
DISTILLERS = list(EXPECTED)


def run(distiller: str, db=None, **overrides):
    fake = ScriptedChatModel(script=script, usage=usage)
    config = PDRConfig(schedule=SCHEDULE, distiller=distiller, k=2, **overrides)
    result = run_pdr("What is the answer?", model=fake, config=config, db=db, gold=GOLD)
    return fake, result


def workspace_of(prompt: str) -> str:
    return parts_of(prompt, "refine")["workspace"]


@pytest.mark.parametrize("distiller", DISTILLERS)
def test_calls_per_round_and_role(distiller, db):
    fake, result = run(distiller, db)
    scored = distiller in ("shared_top_k", "per_sample_top_k")
    summary = distiller == "global_summary"
    expected = {
        ("draft", 1): 4,
        ("draft", 2): 2,
        ("draft", 3): 1,
        ("verify", 1): 4 if scored else 0,
        ("verify", 2): 2 if scored else 0,
        ("distill", 1): 1 if summary else 0,
        ("distill", 2): 1 if summary else 0,
    }
    for (role, rnd), n in expected.items():
        assert len(fake.calls(role, rnd)) == n, (role, rnd)
        assert sum(c.role == role and c.round == rnd for c in result.calls) == n, (role, rnd)
    assert len(result.calls) == len(fake.log) == sum(expected.values())
    assert not fake.calls("verify", 3) and not fake.calls("distill", 3)


@pytest.mark.parametrize("distiller", DISTILLERS)
def test_budgets_match_hand_computed_values(distiller, db):
    fake, result = run(distiller, db)
    b_total, b_seq = EXPECTED[distiller]
    assert (result.b_total, result.b_seq) == (b_total, b_seq)
    assert result.b_total == sum(c.total for c in fake.log)
    assert result.stop_reason == "completed"


@pytest.mark.parametrize("distiller", DISTILLERS)
def test_answer_is_the_last_rounds_draft(distiller, db):
    fake, result = run(distiller, db)
    (last,) = fake.calls("draft", 3)
    assert result.text == last.reply
    assert result.answer == "130"
    assert result.rounds[-1].drafts[0].text == last.reply


@pytest.mark.parametrize("distiller", DISTILLERS)
def test_every_workspace_fits_kappa(distiller, db):
    kappa = 48
    fake, result = run(distiller, db, kappa=kappa)
    counter = Utf8TokenCounter()
    assert result.workspaces
    for w in result.workspaces:
        assert w.tokens <= kappa
        if not w.counted_by.startswith("usage"):
            assert counter.count(w.text) <= kappa
    for w in result.workspaces:
        if w.distiller != "global_summary" and w.sources:
            # each kept draft keeps its final answer when cut
            assert w.text.count("\\boxed{") == len(w.sources)


def test_global_summary_is_shared_by_every_next_draft(db):
    fake, result = run("global_summary", db)
    counter = Utf8TokenCounter()
    for r in result.rounds[:2]:
        header = get_prompts(result.config.prompts).tally.format(tally=answer_tally(r.drafts)) + "\n\n"
        for call in fake.calls("draft", r.round + 1):
            assert workspace_of(call.prompt) == f"{header}summary of round {r.round}"
        (w,) = r.workspaces
        assert w.counted_by == f"usage+{counter.name}" and w.tokens == 30 + counter.count(header)
        # the summary gets κ less the header, so the workspace stays within κ
        (summary,) = fake.calls("distill", r.round)
        assert summary.kwargs["max_tokens"] == result.config.kappa - counter.count(header)


def test_global_summary_drops_the_tally_header_when_kappa_is_small(db):
    fake, result = run("global_summary", db, kappa=40)
    for r in result.rounds[:2]:
        (w,) = r.workspaces
        assert not w.text.startswith("Final answers") and w.tokens <= 40
        (summary,) = fake.calls("distill", r.round)
        assert summary.kwargs["max_tokens"] == 40


def test_shared_top_k_keeps_the_k_best_scored_drafts(db):
    fake, result = run("shared_top_k", db)
    (w,) = result.rounds[0].workspaces
    assert w.sources == [1, 2]  # scores 9 and 7
    for call in fake.calls("draft", 2):
        ws = workspace_of(call.prompt)
        assert "draft r1 i1 " in ws and "draft r1 i2 " in ws
        assert "draft r1 i0 " not in ws and "draft r1 i3 " not in ws
    assert [d.score for d in result.rounds[0].drafts] == [2, 9, 7, 1]


def test_by_score_breaks_ties_by_answer_agreement_then_index():
    def draft(index, answer, score):
        text = f"work \\boxed{{{answer}}}" if answer is not None else "no box"
        return Draft(
            round=1, index=index, text=text, score=score, answer=None if answer is None else str(answer)
        )

    drafts = [
        draft(0, 180, 10),
        draft(1, 180, 10),
        draft(2, 540, 10),
        draft(3, 540, 10),
        draft(4, 540, 9),
        draft(5, None, 10),
        draft(6, 7, None),
    ]
    # 540 has three drafts behind it, 180 two: equal scores go to 540 first
    assert [d.index for d in by_score(drafts)] == [2, 3, 0, 1, 5, 4, 6]
    # agreement is counted over the whole round, not only over the drafts being ranked
    pool = [drafts[0], drafts[1], drafts[2]]
    assert [d.index for d in by_score(pool)] == [0, 1, 2]
    assert [d.index for d in by_score(pool, round_drafts=drafts)] == [2, 0, 1]
    # a higher score still wins over agreement
    assert by_score([drafts[4], drafts[5]])[0].index == 5


def test_tied_scores_keep_the_drafts_that_agree(db):
    """Every draft scored 10 (what a 1.5B model does): top-k keeps the answer most drafts reached."""
    answers = {0: 180, 1: 540, 2: 180, 3: 540, 4: 540}

    def tied(call: FakeCall) -> str:
        if call.role == "verify":
            return "Checked. Score: 10"
        answer = answers[call.index] if call.round == 1 else 540
        return f"draft r{call.round} i{call.index} so \\boxed{{{answer}}}"

    for distiller in ("shared_top_k", "per_sample_top_k"):
        fake = ScriptedChatModel(script=tied, usage=usage)
        config = PDRConfig(schedule=(5, 2, 1), distiller=distiller, k=1)
        result = run_pdr("What is the answer?", model=fake, config=config, db=db)
        # every pool of 3 holds a 540, and 540 has three drafts behind it against two
        for w in result.rounds[0].workspaces:
            assert [answers[i] for i in w.sources] == [540], (distiller, w.sources)


def test_majority_k_keeps_the_answer_most_drafts_reached_without_calls(db):
    fake, result = run("majority_k", db)
    (w,) = result.rounds[0].workspaces
    assert w.sources == [0, 1]  # both reached 7; 5 and 6 have one draft each
    assert not fake.calls("verify", 1) and not fake.calls("distill", 1)
    for call in fake.calls("draft", 2):
        assert workspace_of(call.prompt) == w.text
    assert all(d.score is None for d in result.rounds[0].drafts)


def test_by_agreement_ranks_by_answer_count_then_index():
    def draft(index, text, score=None):
        return Draft(round=1, index=index, text=text, score=score)

    drafts = [
        draft(0, "cut off before the end"),
        draft(1, "\\boxed{5}", score=1),
        draft(2, "\\boxed{ 1,000 }"),
        draft(3, "\\boxed{1000}"),
        draft(4, "\\boxed{6}", score=10),
        draft(5, "\\boxed{5}"),
    ]
    # 1000 (written two ways) has two drafts, 5 two, 6 one; the draft with no answer comes last;
    # scores play no part
    assert [d.index for d in by_agreement(drafts)] == [1, 2, 3, 5, 4, 0]


def test_per_sample_top_k_gives_drafts_different_workspaces(db):
    fake, result = run("per_sample_top_k", db)
    first = result.rounds[0].workspaces
    assert len(first) == 2
    assert first[0].sources != first[1].sources
    for w in first:
        assert 3 not in w.sources  # the worst draft is never the top 2 of a pool of 3
        assert len(w.sources) == 2
    prompts = {c.index: workspace_of(c.prompt) for c in fake.calls("draft", 2)}
    assert prompts[0] == first[0].text and prompts[1] == first[1].text
    assert prompts[0] != prompts[1]


def test_random_k_is_reproducible_with_a_seed():
    _, a = run("random_k", seed=3)
    _, b = run("random_k", seed=3)
    sources = lambda r: [w.sources for w in r.workspaces]  # noqa: E731
    assert sources(a) == sources(b)
    assert len({tuple(s) for s in sources(a)[:2]}) == 2  # the two round-2 drafts differ
    others = {tuple(map(tuple, sources(run("random_k", seed=s)[1]))) for s in range(6)}
    assert len(others) > 1  # another seed, another draw


def test_random_k_draft_sees_its_own_workspace(db):
    fake, result = run("random_k", db)
    for call in fake.calls("draft", 2):
        assert workspace_of(call.prompt) == result.rounds[0].workspaces[call.index].text


@pytest.mark.parametrize("distiller,kept", [("oracle_correct", {0, 1}), ("oracle_incorrect", {2, 3})])
def test_oracle_workspaces_keep_only_correct_or_incorrect_drafts(distiller, kept, db):
    fake, result = run(distiller, db)
    first = result.rounds[0].workspaces
    assert first and all(set(w.sources) <= kept and w.sources for w in first)
    assert GOLD not in "".join(c.prompt for c in fake.log if "Problem" in c.prompt and c.role != "draft")
    for call in fake.log:
        assert "gold" not in call.prompt.lower()


def test_an_oracle_that_keeps_no_draft_gives_the_next_round_a_fresh_solve():
    from langgraph_pdr.prompting.prompt_catalog import get_prompts

    fake = ScriptedChatModel(script=script, usage=usage)
    config = PDRConfig(schedule=SCHEDULE, distiller="oracle_correct", k=2)
    result = run_pdr("What is the answer?", model=fake, config=config, gold="999")  # no draft is right
    solve = get_prompts(config.prompts).solve.format(question="What is the answer?")
    assert [w.text for w in result.rounds[0].workspaces] == ["", ""]
    assert [c.prompt for c in fake.calls("draft", 2)] == [solve, solve]


def test_oracle_without_gold_is_a_clear_error():
    with pytest.raises(ValueError, match="gold"):
        run_pdr("q?", model=ScriptedChatModel(), config=PDRConfig(distiller="oracle_correct"))


def test_draft_calls_get_per_draft_seeds_and_role_limits():
    from langgraph_pdr.calls.model_call import call_options

    class ChatOpenAILike:  # only the class name family matters here
        pass

    opts = call_options(ChatOpenAILike(), max_tokens=7, temperature=0.5, seed=1)
    assert opts == {"max_tokens": 7, "temperature": 0.5}
    fake, _ = run("random_k", max_tokens={"draft": 77, "verify": 11})
    assert {c.kwargs["max_tokens"] for c in fake.calls("draft", 1)} == {77}
    # a refine draft (round 2 on) may write twice a first draft's, unless max_tokens.refine says
    assert {c.kwargs["max_tokens"] for c in fake.calls("draft") if c.round > 1} == {154}
    fake, _ = run("random_k", max_tokens={"draft": 77, "refine": 99})
    assert {c.kwargs["max_tokens"] for c in fake.calls("draft") if c.round > 1} == {99}


def test_summary_prompt_carries_the_answer_tally():
    fake, _ = run("global_summary")
    (summary,) = fake.calls("distill", 1)
    parts = parts_of(summary.prompt, "summary")
    assert parts["tally"] == "7 (attempts 1, 2); 5 (attempt 3); 6 (attempt 4)"
    # the tally comes before the attempts, where the summarizer reads it first
    assert summary.prompt.index(parts["tally"]) < summary.prompt.index(parts["attempts"])
    for n in range(4):
        assert f"Attempt {n + 1}:\ndraft r1 i{n} " in parts["attempts"]
