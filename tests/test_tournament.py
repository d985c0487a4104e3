"""The tournament selector: the `tournament` distiller and the final selection of a PDR run's last round
(`PDRConfig(selector="tournament")`), judged by a scripted model; calls, budgets, caps, async, digest."""

from __future__ import annotations

import asyncio
import inspect
import random
import re
import textwrap
import uuid
from collections import defaultdict

import pytest
from fakes import FakeCall, ScriptedChatModel, judge_parts, parts_of

from langgraph_pdr import PDRConfig, Utf8TokenCounter, arun_pdr, get_prompts, inspect_run, run_pdr
from langgraph_pdr.budgets import accounting
from langgraph_pdr.calls import model_call
from langgraph_pdr.calls.token_count import DEFAULT_COUNTER, prompt_bound
from langgraph_pdr.nodes.distill import DistillRequest, get_distiller
from langgraph_pdr.nodes.distill import tournament as distill_tournament
from langgraph_pdr.prompting.prompt_catalog import judge_template
from langgraph_pdr.runtime import knockout as tournament
from langgraph_pdr.runtime.knockout import VOTES, Comparison, judge_messages, knockout, play, verdict
from langgraph_pdr.selection.answer_votes import last_boxed
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.state.records import Draft

QUESTION = "What is the answer?"
#: What the scripted judge believes, best first: it prefers the solution whose answer comes first here.
PREFERRED = ["7", "8", "6", "5", "4"]


def rank(answer: str | None) -> int:
    return PREFERRED.index(answer) if answer in PREFERRED else len(PREFERRED)


def judged(call: FakeCall) -> str:
    parts = judge_parts(call.prompt)
    assert parts is not None and parts["question"] == QUESTION
    better = 1 if rank(last_boxed(parts["first"])) <= rank(last_boxed(parts["second"])) else 2
    return f"Solution {better} holds up.\nBetter: {better}"


def draft_text(round: int, index: int, answer: str) -> str:
    return f"draft r{round} i{index} so \\boxed{{{answer}}}"


def model(answers: dict[int, dict[int, str]], judge=judged, together: int = 0) -> ScriptedChatModel:
    """Drafts answer `answers[round][index]` (round 2 on: 100 + index when not given); the judge prefers
    by `PREFERRED`. Usage: a draft 100 in and 40 + 10 * index out, a comparison 60 in and 10 + index out."""

    def script(call: FakeCall) -> str:
        if call.judging:
            return judge(call)
        if call.role == "draft":
            answer = answers.get(call.round, {}).get(call.index, str(100 + call.index))
            return draft_text(call.round, call.index, answer)
        return "summary"

    def usage(call: FakeCall) -> tuple[int, int]:
        if call.judging:
            return 60, 10 + call.index
        return 100, 40 + 10 * call.index

    return ScriptedChatModel(script=script, usage=usage, together=together)


def stage_maxima(calls) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for c in calls:
        out[c.stage] = max(out[c.stage], c.total_tokens)
    return dict(out)


# -- the bracket -------------------------------------------------------------------------------------


def drafts_of(answers: str) -> list[Draft]:
    return [Draft(round=1, index=i, text=draft_text(1, i, a), answer=a) for i, a in enumerate(answers)]


def by_preference(comparisons: list[Comparison]) -> list[int | None]:
    return [1 if rank(c.first.answer) <= rank(c.second.answer) else 2 for c in comparisons]


@pytest.mark.parametrize("n", range(1, 9))
def test_knockout_keeps_exactly_k_and_calls_only_for_different_answers(n):
    for keep in range(1, n + 1):
        for seed in range(3):
            drafts = drafts_of("".join(random.Random(seed).choice("5678") for _ in range(n)))
            asked: list[Comparison] = []

            def judge(comparisons, asked=asked):
                asked.extend(comparisons)
                return by_preference(comparisons)

            bracket = play(knockout(drafts, keep=keep, rng=random.Random(seed)), judge)
            assert len(bracket.winners) == keep
            assert [d.index for d in bracket.winners] == sorted(d.index for d in bracket.winners)
            played = [m for m in bracket.matches if m.how != "same answer"]
            assert len(asked) == VOTES * len(played) == sum(len(m.votes) for m in bracket.matches)
            assert [c.number for c in asked] == list(range(len(asked)))
            for m in bracket.matches:
                a, b = m.drafts
                assert (a.answer == b.answer) == (m.how == "same answer")
                if m.how == "same answer":
                    assert m.winner.index == min(a.index, b.index)
                else:  # the judge's preference always wins a pair
                    assert rank(m.winner.answer) == min(rank(a.answer), rank(b.answer))


def test_knockout_swaps_the_order_on_alternate_votes_and_ignores_the_order_drafts_come_in():
    drafts = drafts_of("57")
    bracket = knockout(drafts, keep=1, rng=random.Random(1))
    comparisons = next(bracket)
    assert len(comparisons) == VOTES == 3
    first, second = comparisons[0].first, comparisons[0].second
    assert [(c.first, c.second) for c in comparisons] == [(first, second), (second, first), (first, second)]
    assert {c.level for c in comparisons} == {1}
    one = play(knockout(drafts_of("5746"), keep=2, rng=random.Random(3)), by_preference)
    other = play(knockout(drafts_of("5746")[::-1], keep=2, rng=random.Random(3)), by_preference)
    assert one.lines() == other.lines()


def test_void_votes_go_to_the_more_common_answer_then_the_lower_index():
    drafts = drafts_of("5575")
    void = play(knockout(drafts, keep=1, rng=random.Random(0)), lambda cs: [None] * len(cs))
    assert void.winners[0].answer == "5"
    assert all(m.how in ("agreement", "same answer") for m in void.matches)
    # a tie of valid votes (one void) is no majority either
    tie = play(knockout(drafts_of("75"), keep=1, rng=random.Random(0)), lambda cs: [1, 1, None])
    [match] = tie.matches
    assert match.how == "agreement" and match.winner.index == 0  # equally common: the lower index
    # the tie-break counts the whole round's answers, not only the drafts in the tournament
    pool = drafts_of("7555")[:2]
    leaning = play(
        knockout(pool, keep=1, rng=random.Random(0), round_drafts=drafts_of("7555")), lambda cs: [None] * 3
    )
    assert leaning.winners[0].answer == "5"


@pytest.mark.parametrize(
    "reply,expected",
    [
        ("Better: 1", 1),
        ("better: 2", 2),
        ("**Better:** 2", 2),
        ("Better: Solution 1.", 1),
        ("Better = 2", 2),
        ("Better: 1\nOn reflection... Better: 2", 2),
        ("Better: 3", None),
        ("Better: 12", None),
        ("Better: 1.5", None),
        ("Solution 2 is better.", None),
        ("", None),
    ],
)
def test_verdict_reads_the_last_better_line(reply, expected):
    assert verdict(reply) == expected


def test_judge_prompt_shows_both_solutions_in_order():
    a, b = drafts_of("57")
    [message] = judge_messages(QUESTION, Comparison(0, 1, b, a), get_prompts("card"))
    parts = parts_of(message.content, "judge")
    assert parts == {"question": QUESTION, "first": b.text, "second": a.text}


# -- the distiller -----------------------------------------------------------------------------------


def test_distiller_keeps_the_draft_the_judge_prefers_with_three_votes_per_pair():
    fake = model({1: {0: "5", 1: "6", 2: "7", 3: "4"}})
    config = PDRConfig(schedule=(4, 1), distiller="tournament", k=1)
    events: list[dict] = []
    result = run_pdr(QUESTION, model=fake, config=config, on_event=events.append)
    [workspace] = result.rounds[0].workspaces
    assert (workspace.distiller, workspace.sources) == ("tournament", [2])
    # four different answers: three pairs, three votes each, every one a call of role distill
    judges = [c for c in fake.log if c.judging]
    assert len(judges) == 3 * VOTES and {c.role for c in judges} == {"distill"}
    assert {c.kwargs["max_tokens"] for c in judges} == {config.max_tokens.verify}
    # per pair: two greedy votes (one per order), then one sampled at the drafts' temperature
    temperatures = [c.kwargs["temperature"] for c in judges]
    assert sorted(temperatures) == sorted([config.temperature.verify] * 6 + [config.temperature.draft] * 3)
    # one stage per bracket level, named by its first call: level 1's six calls, level 2's three
    stages = {c.index: c.stage for c in result.calls if c.role == "distill"}
    assert stages == {i: "r1.distill.0" if i < 6 else "r1.distill.6" for i in range(9)}
    # the next draft sees the winner
    [refine] = fake.calls("draft", 2)
    assert parts_of(refine.prompt, "refine")["workspace"] == workspace.text
    assert "draft r1 i2 " in workspace.text and "draft r1 i0 " not in workspace.text
    # B_total: every call; B_seq: each level's largest comparison (60 in, 10 + index out)
    assert result.b_total == sum(c.total for c in fake.log)
    draft_max = max(c.total for c in fake.calls("draft", 1))
    assert result.b_seq == draft_max + (70 + 5) + (70 + 8) + fake.calls("draft", 2)[0].total
    [event] = [e for e in events if e["event"] == "tournament"]
    assert event["round"] == 1 and event["winners"] == [2] and len(event["pairs"]) == 3
    # every comparison is stored: the two drafts shown, the reply, the draft it preferred
    judgments = result.rounds[0].judgments
    levels = [("distill", i, 1 if i < 6 else 2) for i in range(9)]
    assert [(j.role, j.index, j.level) for j in judgments] == levels
    replies = {c.index: c.reply for c in judges}
    answers = {d.index: d.answer for d in result.rounds[0].drafts}
    for j in judgments:
        assert j.text == replies[j.index] and j.preferred in (j.first, j.second)
        other = j.second if j.preferred == j.first else j.first
        assert rank(answers[j.preferred]) < rank(answers[other])
    assert all(re.fullmatch(r"level \d: \d v \d -> \d \(votes [\d,]+\)", p) for p in event["pairs"])


@pytest.mark.parametrize("k,kept", [(1, ["7"]), (2, ["7", "7"])])
def test_a_pair_with_the_same_answer_costs_no_call(k, kept):
    # three 7s and a 5: whatever the pairing, one pair is two 7s (no call) and one is a 7 against
    # the 5 (three calls); down to one, the last pair is two 7s again
    fake = model({1: {0: "7", 1: "7", 2: "7", 3: "5"}})
    config = PDRConfig(schedule=(4, 1), distiller="tournament", k=k)
    result = run_pdr(QUESTION, model=fake, config=config)
    [workspace] = result.rounds[0].workspaces
    assert [result.rounds[0].drafts[i].answer for i in workspace.sources] == kept
    assert len([c for c in fake.log if c.judging]) == VOTES
    if k == 1:
        assert workspace.sources == [0]  # every same-answer pair advances its lower index


@pytest.mark.parametrize("run", ["sync", "async"])
def test_a_cap_that_refuses_the_distillers_second_level_stops_with_the_first_levels_calls(run):
    # a B_seq cap that lets level 1 in (one stage: its largest call's worst case), and not level 2's
    # worst case on top of level 1's largest call (60 in, 10 + 5 out)
    fake = model({1: {0: "5", 1: "6", 2: "7", 3: "4"}})
    drafts = drafts_of("5674")
    bound = max(
        prompt_bound(judge_messages(QUESTION, Comparison(0, 1, a, b), get_prompts("card")), DEFAULT_COUNTER)
        for a in drafts
        for b in drafts
        if a is not b
    )
    verify = 1000
    cap = 170 + bound + verify + 74
    config = PDRConfig(
        schedule=(4, 1),
        distiller="tournament",
        k=1,
        max_tokens={"draft": 64, "verify": verify},
        max_b_seq=cap,
    )
    if run == "sync":
        result = run_pdr(QUESTION, model=fake, config=config)
    else:
        result = asyncio.run(arun_pdr(QUESTION, model=fake, config=config))
    assert result.stop_reason == "max_b_seq" and result.answer in {"5", "6", "7", "4"}
    distilled = [c for c in result.calls if c.role == "distill"]
    assert sorted((c.index, c.stage) for c in distilled) == [(i, "r1.distill.0") for i in range(6)]
    assert result.b_total == sum(c.total for c in fake.log) == 620 + sum(70 + i for i in range(6))
    assert result.b_seq == 170 + 75 and not fake.calls("draft", 2)


@pytest.mark.parametrize("run", ["sync", "async"])
@pytest.mark.parametrize("where", ["distill", "judge"])
def test_a_comparison_that_fails_once_does_not_make_its_node_pay_again(run, where, fast_retries):
    # one comparison of the first level times out once: the graph retries the whole node, whose retry
    # reads the calls that had returned back (kept replies) and makes only the failed one again
    failed = []

    def judge(call: FakeCall) -> str:
        if call.role == where and call.index == 1 and not failed:
            failed.append(call.index)
            raise TimeoutError("the judge call timed out")
        return judged(call)

    answers = {1: {0: "5", 1: "6", 2: "7", 3: "4"}, 2: {0: "5", 1: "6", 2: "7", 3: "4"}}
    fake = model(answers, judge=judge)
    if where == "distill":
        config = PDRConfig(schedule=(4, 1), distiller="tournament", k=1)
    else:
        config = PDRConfig(schedule="4,4", distiller="majority_k", k=1, selector="tournament")
    if run == "sync":
        result = run_pdr(QUESTION, model=fake, config=config)
    else:
        result = asyncio.run(arun_pdr(QUESTION, model=fake, config=config))
    assert failed == [1] and result.stop_reason == "completed"
    if where == "distill":  # the winner, 7, is what the refine draft reads
        assert result.rounds[0].workspaces[0].sources == [2]
    else:
        assert result.answer == "7"
    judges = [c for c in fake.log if c.judging]  # the log holds the calls that returned
    assert sorted(c.index for c in judges) == list(range(3 * VOTES))  # each once
    assert result.b_total == sum(c.total for c in fake.log)
    assert sorted(c.index for c in result.calls if c.role == where) == list(range(3 * VOTES))


def test_a_run_that_fails_keeps_no_replies(tmp_path):
    # a comparison fails for good (not transient): the run ends failed, and this process keeps
    # nothing of it (a resume starts from the ledger)
    from langgraph_pdr.calls.model_call import KEPT

    def judge(call: FakeCall) -> str:
        if call.index == 4:
            raise ValueError("400: the request is malformed")
        return judged(call)

    fake = model({1: {0: "5", 1: "6", 2: "7", 3: "4"}}, judge=judge)
    config = PDRConfig(schedule=(4, 1), distiller="tournament", k=1)
    thread = uuid.uuid4().hex
    with pytest.raises(ValueError, match="malformed"):
        run_pdr(QUESTION, model=fake, config=config, db=str(tmp_path / "runs.sqlite"), thread_id=thread)
    assert len([c for c in fake.log if c.judging]) >= 1 and not KEPT.holds(thread)


def kept_rows(db) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM kept_replies").fetchone()[0]


@pytest.mark.parametrize("run", ["sync", "async"])
def test_a_failed_run_resumed_pays_only_for_the_comparisons_that_did_not_return(run, tmp_path):
    # a comparison of the first level fails for good: the run fails with five comparisons paid and not
    # booked. The ledger kept their replies, so the resume (which this process keeps nothing of) makes
    # only the failed comparison again, and B_total counts each paid call once
    from langgraph_pdr import aresume_pdr, resume_pdr

    def judge(call: FakeCall) -> str:
        if call.index == 4:
            raise ValueError("400: the request is malformed")
        return judged(call)

    answers = {1: {0: "5", 1: "6", 2: "7", 3: "4"}}
    failing, healthy = model(answers, judge=judge), model(answers)
    config = PDRConfig(schedule=(4, 1), distiller="tournament", k=1)
    db, thread = str(tmp_path / "runs.sqlite"), uuid.uuid4().hex
    with pytest.raises(ValueError, match="malformed"):
        run_pdr(QUESTION, model=failing, config=config, db=db, thread_id=thread)
    returned = sorted(c.index for c in failing.log if c.judging)
    assert returned == [0, 1, 2, 3, 5] and kept_rows(db) == 5
    if run == "sync":
        result = resume_pdr(thread, db=db, model=healthy)
    else:
        result = asyncio.run(aresume_pdr(thread, db=db, model=healthy))
    assert sorted(c.index for c in healthy.log if c.judging) == [4, 6, 7, 8]  # level 1's failed one, level 2
    assert sorted(c.index for c in result.calls if c.role == "distill") == list(range(3 * VOTES))
    assert result.b_total == sum(c.total for c in failing.log + healthy.log)
    assert result.rounds[0].workspaces[0].sources == [2] and kept_rows(db) == 0  # forgotten at the end


KILLED_CHILD = """
import sys
from langgraph_pdr import PDRConfig, run_pdr
db, url = sys.argv[1:3]
config = PDRConfig(schedule="4,1", distiller="tournament", k=1, max_tokens=64)
run_pdr("Which is right?", model="openai:fake-model", base_url=url, db=db, thread_id="t1", config=config)
"""


def test_a_run_killed_in_a_tournaments_second_level_resumes_without_paying_the_first_again(
    tmp_path, monkeypatch
):
    # level 1's six comparisons return and are kept in the ledger; the process is killed with SIGKILL
    # while level 2's are in flight; the resume, in another process, makes level 2's only
    import os
    import signal
    import subprocess
    import sys
    import threading

    from fake_openai import FakeOpenAIServer, Request

    from langgraph_pdr import resume_pdr

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    db = tmp_path / "r.sqlite"
    release, lock, judged_so_far = threading.Event(), threading.Lock(), []

    def is_judge(req: Request) -> bool:
        return req.prompt.startswith("Below are a problem and two proposed solutions")

    def reply(req: Request) -> str:
        if not is_judge(req):
            r, i = req.draft or (2, 0)
            return f"So \\boxed{{{i + 4 if r == 1 else 7}}}."
        with lock:
            judged_so_far.append(req)
            n = len(judged_so_far)
        if n > 2 * VOTES:  # level 2 hangs until the first process is dead
            release.wait(120)
        return "Both hold up.\nBetter: 1"

    with FakeOpenAIServer(reply=reply) as server:
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_CHILD, str(db), server.base_url], env=os.environ.copy(), text=True
        )
        server.wait_for(lambda: len(judged_so_far) > 2 * VOTES)  # level 1 done, level 2 sent
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        paid = [r for r in server.requests if r.answered]
        release.set()
        sent_before = len(server.requests)
        resumed = resume_pdr("t1", db=str(db))
        after = server.requests[sent_before:]
    assert len([r for r in paid if is_judge(r)]) == 2 * VOTES and kept_rows(db) == 0
    assert len([r for r in after if is_judge(r)]) == VOTES  # level 2 only: level 1 was not asked again
    assert resumed.status == "completed" and resumed.answer == "7"
    distilled = [c for c in resumed.calls if c.role == "distill"]
    assert sorted(c.index for c in distilled) == list(range(3 * VOTES))
    assert resumed.b_total == sum(r.prompt_tokens + r.completion_tokens for r in paid + after)


def direct_request(answers: str, k: int, fake: ScriptedChatModel, seed: int = 0) -> DistillRequest:
    from langgraph_pdr.runtime.environment import NodeEnv

    config = PDRConfig(schedule=(len(answers), 1), distiller="tournament", k=k, seed=seed)
    env = NodeEnv(
        model=fake,
        config=config,
        counter=Utf8TokenCounter(),
        recorder=None,
        thread_id=uuid.uuid4().hex,  # kept replies are per run
        prompts=get_prompts("card"),
    )
    return DistillRequest(
        question=QUESTION,
        gold=None,
        round=1,
        drafts=drafts_of(answers),
        next_width=1,
        config=config,
        counter=env.counter,
        env=env,
    )


@pytest.mark.parametrize("seed", range(4))
def test_distiller_keeps_the_brackets_k_winners(seed):
    answers = "564783"
    fake = model({})
    request = direct_request(answers, 3, fake, seed)
    [workspace] = get_distiller("tournament").distill(request)
    expected = play(knockout(request.candidates, keep=3, rng=request.rng("tournament")), by_preference)
    assert workspace.sources == [d.index for d in expected.winners]
    played = [m for m in expected.matches if m.how != "same answer"]
    assert len(request.calls) == len(fake.log) == VOTES * len(played)
    assert [c.index for c in request.calls] == list(range(len(request.calls)))
    # the async twin makes the same choice with the same calls (a level's comparisons run concurrently
    # in both, so the fake logs them as they end: compare them by call index)
    again = model({})
    arequest = direct_request(answers, 3, again, seed)
    [aworkspace] = asyncio.run(get_distiller("tournament").adistill(arequest))

    def prompts(log: list) -> list[str]:
        return [c.prompt for c in sorted(log, key=lambda c: c.index)]

    assert aworkspace == workspace and prompts(again.log) == prompts(fake.log)


@pytest.mark.parametrize("run", ["sync", "async"])
def test_a_levels_comparisons_run_together(run):
    # level 1 of four different answers: six comparisons, at most four at once (the widest round); the
    # first four wait until all four have started, so a comparison made alone shows
    fake = model({}, together=4)
    request = direct_request("5674", 1, fake)
    distiller = get_distiller("tournament")
    if run == "sync":
        [workspace] = distiller.distill(request)
    else:
        [workspace] = asyncio.run(distiller.adistill(request))
    calls = sorted(fake.log, key=lambda c: c.started)
    assert len(calls) == 3 * VOTES and not any(c.alone for c in calls[:4])
    assert [request.drafts[i].answer for i in workspace.sources] == ["7"]


def test_async_distiller_run_matches_the_sync_one():
    answers = {1: {0: "5", 1: "6", 2: "7", 3: "4"}}
    config = PDRConfig(schedule=(4, 2), distiller="tournament", k=2)
    sync = run_pdr(QUESTION, model=model(answers), config=config)
    fake = model(answers)
    result = asyncio.run(arun_pdr(QUESTION, model=fake, config=config))
    assert [w.sources for w in result.workspaces] == [w.sources for w in sync.workspaces]
    assert (result.b_total, result.b_seq) == (sync.b_total, sync.b_seq)
    assert len([c for c in fake.log if c.judging]) == len([c for c in sync.calls if c.role == "distill"])


# -- the final selection -----------------------------------------------------------------------------

#: The last round: three drafts answer 5, one answers 7, which the judge prefers.
FINAL = {1: {i: "5" for i in range(4)}, 2: {0: "5", 1: "5", 2: "7", 3: "5"}}
TOURNAMENT = PDRConfig(schedule="4,4", distiller="majority_k", k=1, selector="tournament")


def test_final_selection_answers_with_the_judged_winner_not_the_majority():
    fake = model(FINAL)
    events: list[dict] = []
    result = run_pdr(QUESTION, model=fake, config=TOURNAMENT, on_event=events.append)
    assert result.answer == "7" and result.stop_reason == "completed"
    assert result.text == draft_text(2, 2, "7")
    voted = run_pdr(QUESTION, model=model(FINAL), config=TOURNAMENT.model_copy(update={"selector": "vote"}))
    assert voted.answer == "5" and not [c for c in voted.calls if c.role == "judge"]
    # level 1: the pair of two 5s costs nothing, the 7 against a 5 three votes; level 2: 7 against 5
    judges = [c for c in result.calls if c.role == "judge"]
    assert [(c.round, c.index) for c in judges] == [(2, i) for i in range(6)]
    assert {c.index: c.stage for c in judges} == {i: f"r2.judge.{1 + i // 3}" for i in range(6)}
    assert len(fake.calls("judge")) == 6 and all(c.judging for c in fake.calls("judge"))
    # the two solutions swap places on alternate votes
    for level in (0, 3):
        shown = [judge_parts(c.prompt) for c in sorted(fake.calls("judge"), key=lambda c: c.index)]
        a, b, c = shown[level : level + 3]
        assert (a["first"], a["second"]) == (b["second"], b["first"]) == (c["first"], c["second"])
    # B_total: every call; B_seq: each round's largest draft, then each level's largest comparison
    assert result.b_total == sum(c.total for c in fake.log) == 620 + 620 + 6 * 70 + sum(range(6))
    assert result.b_seq == 170 + 170 + (70 + 2) + (70 + 5)
    assert stage_maxima(result.calls)["r2.judge.2"] == 75
    [event] = [e for e in events if e["event"] == "tournament"]
    assert event["round"] == 2 and event["winners"] == [2] and len(event["pairs"]) == 3
    [finished] = [e for e in events if e["event"] == "run_finished"]
    assert (finished["answer"], finished["b_total"], finished["b_seq"]) == ("7", result.b_total, result.b_seq)


def test_the_final_selections_judgments_are_stored_and_read_back(tmp_path):
    db = str(tmp_path / "runs.sqlite")
    result = run_pdr(QUESTION, model=model(FINAL), config=TOURNAMENT, db=db)
    judgments = result.rounds[1].judgments
    assert [(j.role, j.round, j.index, j.level) for j in judgments] == [
        ("judge", 2, i, 1 + i // 3) for i in range(6)
    ]
    assert all(result.rounds[1].drafts[j.preferred].answer == "7" for j in judgments)
    assert result.rounds[0].judgments == [] and inspect_run(result.thread_id, db=db) == result


def test_final_selection_with_void_votes_goes_to_the_more_common_answer():
    fake = model(FINAL, judge=lambda call: "I cannot tell.")
    result = run_pdr(QUESTION, model=fake, config=TOURNAMENT)
    assert result.answer == "5" and result.stop_reason == "completed"
    assert len(fake.calls("judge")) == VOTES  # only the 7 against a 5 needed the judge
    assert result.b_total == sum(c.total for c in fake.log)


def test_final_selection_is_the_same_async():
    sync = run_pdr(QUESTION, model=model(FINAL), config=TOURNAMENT)
    fake = model(FINAL)
    result = asyncio.run(arun_pdr(QUESTION, model=fake, config=TOURNAMENT))
    assert (result.answer, result.text, result.stop_reason) == (sync.answer, sync.text, sync.stop_reason)
    assert (result.b_total, result.b_seq) == (sync.b_total, sync.b_seq)
    key = lambda c: (c.role, c.round, c.index, c.stage, c.total_tokens)  # noqa: E731
    assert sorted(map(key, result.calls)) == sorted(map(key, sync.calls))


def test_a_cap_that_refuses_the_comparisons_falls_back_to_the_vote():
    # a comparison may write 100k tokens: its reservation breaks the cap, the drafts' do not
    config = PDRConfig(
        schedule="4,4",
        distiller="majority_k",
        k=1,
        selector="tournament",
        max_tokens={"draft": 64, "verify": 100_000},
        max_b_total=50_000,
    )
    fake = model(FINAL)
    events: list[dict] = []
    result = run_pdr(QUESTION, model=fake, config=config, on_event=events.append)
    assert result.answer == "5" and result.text  # the vote of the last round
    assert result.stop_reason == "max_b_total"
    assert not fake.calls("judge") and not [c for c in result.calls if c.role == "judge"]
    assert result.b_total == sum(c.total for c in fake.log) == 620 + 620
    assert {"event": "run_stopping", "reason": "max_b_total", "round": 2}.items() <= next(
        e for e in events if e["event"] == "run_stopping"
    ).items()
    # async: the same
    again = asyncio.run(arun_pdr(QUESTION, model=model(FINAL), config=config))
    assert (again.answer, again.stop_reason, again.b_total) == ("5", "max_b_total", 620 + 620)


def test_a_cap_that_refuses_the_second_level_keeps_the_first_levels_calls():
    # every comparison prompt has the same length here, so each level reserves the same worst case:
    # a B_seq cap that lets level 1 in, and not level 1's largest call on top of it again
    a, b = (Draft(round=2, index=i, text=draft_text(2, i, x)) for i, x in ((0, "5"), (2, "7")))
    verify = 4000
    bound = prompt_bound(
        judge_messages(QUESTION, Comparison(0, 1, a, b), get_prompts("card")), DEFAULT_COUNTER
    )
    cap = 170 + 170 + bound + verify + 71
    config = PDRConfig(
        schedule="4,4",
        distiller="majority_k",
        k=1,
        selector="tournament",
        max_tokens={"draft": 32, "verify": verify},
        max_b_seq=cap,
    )
    fake = model(FINAL)
    result = run_pdr(QUESTION, model=fake, config=config)
    assert result.answer == "5" and result.stop_reason == "max_b_seq"
    judges = [c for c in result.calls if c.role == "judge"]
    assert [(c.index, c.stage) for c in judges] == [(i, "r2.judge.1") for i in range(3)]
    assert result.b_total == sum(c.total for c in fake.log) == 620 + 620 + 70 + 71 + 72
    assert result.b_seq == 170 + 170 + 72


def test_the_final_selection_needs_several_finished_drafts_and_a_completed_run():
    # all four last drafts agree: the tournament costs no call, and answers as the vote would
    fake = model({1: {i: "5" for i in range(4)}, 2: {i: "5" for i in range(4)}})
    result = run_pdr(QUESTION, model=fake, config=TOURNAMENT)
    assert result.answer == "5" and not fake.calls("judge")
    # a run that stopped early (converged) answers with its vote, no comparison
    converged = TOURNAMENT.model_copy(update={"early_stop": 0.5})
    fake = model({1: {0: "5", 1: "5", 2: "6", 3: "7"}})
    result = run_pdr(QUESTION, model=fake, config=converged)
    assert result.stop_reason == "converged" and not fake.calls("judge")


# -- prompts -----------------------------------------------------------------------------------------


def test_the_digest_of_a_run_without_the_judge_is_unchanged():
    # computed before the judge template existed: run ids of evaluations depend on them
    assert get_prompts("card").digest() == "18977e7b"
    assert get_prompts("classic").digest() == "4e844acc"
    card = get_prompts("card")
    assert card.digest(judge=True) != card.digest()
    other = card.model_copy(update={"judge": card.judge + " Be careful."})
    assert other.digest() == card.digest() and other.digest(judge=True) != card.digest(judge=True)


def test_a_set_without_a_judge_template_uses_the_cards():
    templates = {k: v for k, v in get_prompts("classic").templates().items() if k != "judge"}
    plain = PromptSet(name="plain", **templates)
    assert plain.judge is None and "judge" not in plain.templates()
    assert judge_template(plain) == get_prompts("card").judge
    assert "judge" in get_prompts("card").templates()
    with pytest.raises(ValueError, match="prompts.judge"):
        PromptSet(name="bad", **templates, judge="Which is better? {first}")


# -- docstring examples ------------------------------------------------------------------------------

BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
DOCUMENTED = [
    tournament.verdict,
    tournament.knockout,
    tournament.play,
    tournament.aplay,
    tournament.judge_messages,
    tournament.reads_judge,
    tournament.selects_by_tournament,
    tournament.select_final,
    tournament.judgments,
    distill_tournament.TournamentDistiller,
    judge_template,
    # what a level's comparisons are made with
    DistillRequest.generate_many,
    model_call.call_models,
    accounting.settle,
    accounting.spent_with,
]


@pytest.mark.parametrize("obj", DOCUMENTED, ids=lambda o: o.__name__)
def test_docstring_examples_run(obj, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(inspect.getdoc(obj) or "")
    assert blocks and all("assert " in b for b in blocks)
    for block in blocks:
        exec(compile(textwrap.dedent(block), "<docstring>", "exec"), {})
