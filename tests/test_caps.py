"""Hard caps: reserved before each stage, never exceeded, ending the run early with a reason."""

from __future__ import annotations

import pytest
from fakes import FakeCall, ScriptedChatModel, words

from langgraph_pdr import CapTooSmall, PDRConfig, run_pdr


def script(call: FakeCall) -> str:
    if call.role == "verify":
        return f"Score: {call.index + 1}"
    text = "word " * 60 + f"\\boxed{{{call.round}{call.index}}}"
    limit = call.kwargs.get("max_tokens", 10**9)
    return " ".join(text.split()[:limit])  # a provider stops at max_tokens


def config(distiller="global_summary", kappa=64, **caps):
    return PDRConfig(
        schedule="4,2,1", distiller=distiller, kappa=kappa, max_tokens={"draft": 80, "verify": 20}, **caps
    )


def assert_paid_answer_kept(fake, result):
    """A run that paid for a draft answers with one: the vote of the last round it paid for."""
    drafts = fake.calls("draft")
    if not drafts:
        assert result.answer is None
        return
    last = max(c.round for c in drafts)
    assert result.answer is not None
    assert result.text in {c.reply for c in fake.calls("draft", last)}


def capped_run(fake, cfg, store=None):
    """The run of `cfg`, or None when its cap cannot hold round 1 (then nothing was called)."""
    try:
        return run_pdr("q?", model=fake, config=cfg, db=store)
    except CapTooSmall:
        assert fake.log == []
        return None


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """Cap sweeps run on a real SQLite file and a real PostgreSQL database."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_db")
    return str(tmp_path / "runs.sqlite")


#: Every cap the sweeps try, and what each run ended with: the closing table of the sweep.
SWEEP: list[tuple[str, int, str, str | None]] = []


@pytest.mark.parametrize("distiller", ["global_summary", "shared_top_k", "random_k", "tournament"])
@pytest.mark.parametrize("cap", range(200, 6000, 331))
def test_b_total_cap_is_never_exceeded(distiller, cap, store):
    fake = ScriptedChatModel(script=script)
    result = capped_run(fake, config(distiller, max_b_total=cap), store)
    if result is None:
        return
    assert result.b_total <= cap
    assert sum(c.total for c in fake.log) == result.b_total
    assert result.stop_reason in ("completed", "max_b_total")
    if result.stop_reason == "completed":
        assert len(fake.calls("draft")) == 7
    assert_paid_answer_kept(fake, result)


@pytest.mark.parametrize("distiller", ["global_summary", "per_sample_top_k", "tournament"])
@pytest.mark.parametrize("cap", range(150, 2500, 173))
def test_b_seq_cap_is_never_exceeded(distiller, cap, store):
    fake = ScriptedChatModel(script=script)
    result = capped_run(fake, config(distiller, max_b_seq=cap), store)
    if result is None:
        return
    assert result.b_seq <= cap
    assert result.stop_reason in ("completed", "max_b_seq")
    assert_paid_answer_kept(fake, result)


@pytest.mark.parametrize("method", ["sr", "sr_error"])
@pytest.mark.parametrize("cap", range(100, 1500, 61))
def test_sr_caps_keep_the_paid_answer(method, cap, store):
    fake = ScriptedChatModel(script=script)
    cfg = PDRConfig(method=method, schedule="1,1,1", kappa=64, max_tokens=80, max_b_total=cap)
    result = capped_run(fake, cfg, store)
    if result is None:
        return
    assert result.b_total <= cap and result.stop_reason in ("completed", "max_b_total")
    assert_paid_answer_kept(fake, result)


def test_a_cap_that_refuses_the_summary_keeps_the_drafts_it_paid_for():
    # the summary reads all four drafts: a B_seq cap with room for the drafts but not the summary
    fake = ScriptedChatModel(script=script)
    run_pdr("q?", model=fake, config=config())
    cap = max(reservation([c]) for c in fake.calls("draft", 1)) + 10  # round 1 fits, the summary not
    fake = ScriptedChatModel(script=script)
    result = run_pdr("q?", model=fake, config=config(max_b_seq=cap))
    assert len(fake.calls("draft", 1)) == 4 and not fake.calls("distill") and not fake.calls("draft", 2)
    assert (result.stop_reason, result.status) == ("max_b_seq", "stopped")
    # every draft reached another answer: the vote goes to the first
    first = next(c for c in fake.calls("draft", 1) if c.index == 0)  # calls are listed as they arrived
    assert result.answer == "10" and result.text == first.reply


def test_a_cap_that_refuses_the_critique_keeps_the_solution():
    fake = ScriptedChatModel(script=script)
    cfg = PDRConfig(method="sr_error", schedule="1,1", kappa=64, max_tokens=80)
    run_pdr("q?", model=fake, config=cfg)
    cap = reservation(fake.calls("draft", 1)) + 10  # the first solution fits, its review not
    fake = ScriptedChatModel(script=script)
    result = run_pdr("q?", model=fake, config=cfg.model_copy(update={"max_b_total": cap}))
    assert not fake.calls("critique") and result.stop_reason == "max_b_total"
    assert result.answer == "10" and result.text == fake.calls("draft", 1)[0].reply


def reservation(calls, max_tokens=80):
    """What `begin_round` reserves for these calls: prompt bytes + template margin + max_tokens."""
    return sum(len(c.prompt.encode()) + 32 + 8 + max_tokens for c in calls)


def test_a_stage_that_cannot_fit_is_not_started():
    # Measure an uninterrupted run, then cap it just below what round 2 reserves.
    fake = ScriptedChatModel(script=script)
    run_pdr("q?", model=fake, config=config("random_k"))
    spent1 = sum(c.total for c in fake.calls(round=1))
    cap = spent1 + reservation(fake.calls("draft", 2)) - 1
    assert cap >= reservation(fake.calls("draft", 1))  # round 1 itself fits
    fake = ScriptedChatModel(script=script)
    result = run_pdr("q?", model=fake, config=config("random_k", max_b_total=cap))
    assert result.stop_reason == "max_b_total"
    assert fake.calls("draft", 1) and not fake.calls("draft", 2)  # round 2 never started
    assert result.b_total == spent1
    assert result.text in {c.reply for c in fake.calls("draft", 1)}  # the best it had


@pytest.mark.parametrize("cap", ["max_b_total", "max_b_seq"])
def test_a_cap_below_the_first_round_is_refused_before_any_call(cap):
    fake = ScriptedChatModel(script=script)
    with pytest.raises(CapTooSmall, match=f"{cap}: 50 cannot hold round 1, which reserves up to") as refused:
        run_pdr("q?", model=fake, config=config(**{cap: 50}))
    assert fake.log == []
    need = int(str(refused.value).split("up to ")[1].split(" tokens")[0].replace(",", ""))
    assert capped_run(fake, config(**{cap: need})) is not None  # what it said round 1 needs is enough
    assert capped_run(ScriptedChatModel(script=script), config(**{cap: need - 1})) is None


def test_stopped_run_answers_with_its_best_scored_draft():
    # Big workspaces make round 2 reserve far more than the verifications: cap B_seq in between.
    cfg = dict(distiller="shared_top_k", kappa=400)
    fake = ScriptedChatModel(script=script)
    run_pdr("q?", model=fake, config=config(**cfg))
    seq_drafts1 = max(c.total for c in fake.calls("draft", 1))
    seq_verify1 = max(c.total for c in fake.calls("verify", 1))
    cap = seq_drafts1 + seq_verify1 + max(reservation([c]) for c in fake.calls("draft", 2)) - 1
    assert cap >= seq_drafts1 + max(reservation([c], 20) for c in fake.calls("verify", 1))
    fake = ScriptedChatModel(script=script)
    result = run_pdr("q?", model=fake, config=config(**cfg, max_b_seq=cap))
    assert result.stop_reason == "max_b_seq"
    assert len(fake.calls("verify", 1)) == 4 and not fake.calls("draft", 2)
    assert result.answer == "13"  # draft 3 scored highest (4)


def test_reservation_counts_prompt_bytes_as_an_upper_bound():
    from langchain_core.messages import HumanMessage

    from langgraph_pdr.calls.token_count import DEFAULT_COUNTER, prompt_bound

    text = "∑ x² — naïve café " * 20
    assert prompt_bound([HumanMessage(text)], DEFAULT_COUNTER) >= len(text.encode()) >= words(text)
