"""`pdr serve` starts the runs of a burst in turns: at most N at once between a run's start and its
first model call (`runner.start_turns.StartTurns`)."""

from __future__ import annotations

import asyncio

from fakes import ScriptedChatModel

from langgraph_pdr import PDRConfig, arun_pdr
from langgraph_pdr.calls.model_call import WAITING_ON_MODEL
from langgraph_pdr.runner.start_turns import StartTurns


def test_a_turn_is_given_back_at_the_first_model_call_not_at_the_end_of_the_run():
    # one turn, three runs: each of the three calls waits until all three have started (`together`),
    # so they can only all start if each run gave its turn back as its call began
    model = ScriptedChatModel(script=lambda call: "\\boxed{42}", together=3)
    turns = StartTurns(1)

    async def one(n: int):
        async with turns.turn():
            return await arun_pdr(f"What is 6 * 7? ({n})", model=model, config=PDRConfig(method="single"))

    async def burst():
        return await asyncio.gather(*(one(n) for n in range(3)))

    results = asyncio.run(burst())
    assert [r.answer for r in results] == ["42"] * 3
    assert [call.alone for call in model.log] == [False] * 3  # none waited out its time alone


def test_at_most_n_runs_are_starting_at_once():
    turns, starting, waiting, most = StartTurns(2), set(), [], [0]

    async def run(n: int, calls: asyncio.Event) -> None:
        async with turns.turn():
            starting.add(n)
            most[0] = max(most[0], len(starting))
            await asyncio.sleep(0)  # its setup lets the others run
            starting.discard(n)
            WAITING_ON_MODEL.get()()  # what its first model call does
            WAITING_ON_MODEL.get()()  # and its second: the turn is given back once
            waiting.append(n)
            if len(waiting) == 8:
                calls.set()
            await calls.wait()

    async def burst() -> None:
        calls = asyncio.Event()
        await asyncio.wait_for(asyncio.gather(*(run(n, calls) for n in range(8))), 30)

    asyncio.run(burst())
    assert most[0] == 2 and sorted(waiting) == list(range(8))


def test_a_turn_is_given_back_when_the_run_fails_before_any_model_call():
    turns = StartTurns(1)

    async def failing() -> None:
        async with turns.turn():
            raise ValueError("bad input")

    async def burst() -> list:
        return await asyncio.gather(failing(), failing(), return_exceptions=True)

    assert [type(e) for e in asyncio.run(burst())] == [ValueError, ValueError]  # the second got a turn
