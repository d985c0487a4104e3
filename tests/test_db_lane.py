"""Database work queued in a lane: what is queued while a hop is away goes in the next hop together,
in order, each item's error raised to its own caller, and a cancelled caller's item skipped."""

from __future__ import annotations

import asyncio
import threading

import pytest

from langgraph_pdr.checkpoints import db_threads
from langgraph_pdr.checkpoints.db_threads import in_db_lane


@pytest.fixture
def hops(monkeypatch):
    """How many items each hop carried, in order."""
    carried: list[int] = []
    real = db_threads.in_db_thread

    async def counted(work, *args, **kwargs):
        carried.append(len(args[0]))
        return await real(work, *args, **kwargs)

    monkeypatch.setattr(db_threads, "in_db_thread", counted)
    return carried


async def hold_the_lane(key: str, ran: list[str]) -> tuple[asyncio.Task, threading.Event]:
    """A first item that keeps its hop away until released (the lane's next items queue meanwhile)."""
    started, release = threading.Event(), threading.Event()

    def first() -> str:
        started.set()
        release.wait(30)
        ran.append("first")
        return "first"

    task = asyncio.create_task(in_db_lane(key, first))
    assert await asyncio.to_thread(started.wait, 30)
    return task, release


async def test_work_queued_while_a_hop_is_away_goes_in_one_hop_in_order(hops):
    ran: list[str] = []
    first, release = await hold_the_lane("file", ran)

    def item(name: str) -> str:
        ran.append(name)
        return name.upper()

    queued = [asyncio.create_task(in_db_lane("file", item, name)) for name in ("a", "b", "c")]
    await asyncio.sleep(0)  # they are queued, not carried: the lane's hop is away
    release.set()
    assert await first == "first"
    assert await asyncio.gather(*queued) == ["A", "B", "C"]
    assert ran == ["first", "a", "b", "c"]
    assert hops == [1, 3]  # two hops off the event loop for four items


async def test_an_items_error_reaches_its_caller_only():
    def fails() -> None:
        raise ValueError("this one")

    results = await asyncio.gather(
        in_db_lane("k", pow, 2, 3), in_db_lane("k", fails), in_db_lane("k", pow, 3, 2), return_exceptions=True
    )
    assert results[0] == 8 and results[2] == 9
    assert isinstance(results[1], ValueError) and str(results[1]) == "this one"


async def test_a_cancelled_callers_queued_item_is_skipped():
    ran: list[str] = []
    first, release = await hold_the_lane("cancel", ran)
    doomed = asyncio.create_task(in_db_lane("cancel", ran.append, "doomed"))
    kept = asyncio.create_task(in_db_lane("cancel", ran.append, "kept"))
    await asyncio.sleep(0)
    doomed.cancel()
    release.set()
    await first
    await kept
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert ran == ["first", "kept"]


async def test_lanes_of_other_keys_do_not_wait_for_each_other():
    ran: list[str] = []
    first, release = await hold_the_lane("busy", ran)
    assert await in_db_lane("other", pow, 2, 2) == 4  # while the busy lane's hop is still away
    release.set()
    await first
