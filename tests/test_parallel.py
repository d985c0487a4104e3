"""Drafts of a round really run in parallel (sync threads and async tasks)."""

from __future__ import annotations

import pytest
from fakes import ScriptedChatModel

from langgraph_pdr import PDRConfig, arun_pdr, run_pdr

CONFIG = PDRConfig(schedule="16,1", distiller="random_k", k=2)


def round_span(fake: ScriptedChatModel, round: int) -> float:
    calls = fake.calls("draft", round)
    return max(c.ended for c in calls) - min(c.started for c in calls)


def together() -> ScriptedChatModel:
    """A fake whose 16 first-round drafts each wait until all 16 have started."""
    return ScriptedChatModel(together=16)


def assert_parallel(fake: ScriptedChatModel, round: int) -> None:
    """Every call of the round was in flight at once: each waited for all the others to start and
    none waited out. (How long the round takes against one call is a speed goal, measured by
    benchmarks/overhead.py, not asserted here.)"""
    calls = fake.calls("draft", round)
    assert len(calls) == 16 and not any(c.alone for c in calls)
    assert max(c.started for c in calls) < min(c.ended for c in calls)


def test_sixteen_drafts_are_all_in_flight_at_once():
    fake = together()
    result = run_pdr("q?", model=fake, config=CONFIG)
    assert_parallel(fake, 1)
    assert len({c.thread for c in fake.calls("draft", 1)}) == 16  # one worker each
    assert result.stop_reason == "completed"


async def test_sixteen_async_drafts_are_all_in_flight_at_once():
    fake = together()
    result = await arun_pdr("q?", model=fake, config=CONFIG)
    assert len(fake.calls("draft", 1)) == 16
    assert_parallel(fake, 1)
    assert result.stop_reason == "completed"


def test_max_concurrency_caps_parallel_calls():
    fake = ScriptedChatModel(delay=0.2)
    run_pdr("q?", model=fake, config=CONFIG.model_copy(update={"max_concurrency": 4}))
    calls = sorted(fake.calls("draft", 1), key=lambda c: c.started)
    peak = max(sum(1 for o in calls if o.started <= c.started < o.ended) for c in calls)
    assert peak <= 4
    assert round_span(fake, 1) >= 4 * 0.2 * 0.95  # four waves


@pytest.mark.parametrize("db_kind", ["memory", "sqlite"])
async def test_async_run_matches_sync_run(db_kind, tmp_path):
    db = ":memory:" if db_kind == "memory" else str(tmp_path / "a.sqlite")
    config = PDRConfig(schedule="4,2,1", distiller="shared_top_k")
    sync = run_pdr("q?", model=ScriptedChatModel(), config=config, db=db)
    asyn = await arun_pdr("q?", model=ScriptedChatModel(), config=config, db=db)
    assert (sync.answer, sync.b_seq, sync.b_total) == (asyn.answer, asyn.b_seq, asyn.b_total)
    assert len(sync.calls) == len(asyn.calls) == 13


def test_streaming_progress_keeps_the_round_parallel():
    fake = together()
    events = []
    run_pdr("q?", model=fake, config=CONFIG, on_event=events.append)
    assert_parallel(fake, 1)
    kinds = [e["event"] for e in events]
    assert kinds.count("draft_finished") == 17 and kinds.count("round_started") == 2
    assert kinds[-1] == "run_finished"
    assert sum(e.get("tokens", 0) for e in events) == sum(c.total for c in fake.log)


async def test_async_streaming_progress_keeps_the_round_parallel():
    fake = together()
    events = []
    await arun_pdr("q?", model=fake, config=CONFIG, on_event=events.append)
    assert_parallel(fake, 1)
    assert [e["event"] for e in events].count("workspace_built") == 1
