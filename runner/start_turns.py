"""Runs of a burst starting in turns: at most N between their start and their first model call
(`pdr serve` starts its requests' runs so: `integrations.served_runs`).

Example:
    ```python
    import asyncio

    from langgraph_pdr.runner.start_turns import StartTurns

    async def main() -> None:
        turns = StartTurns(2)
        async with turns.turn():
            pass  # a run started here gives its turn back at its first model call

    asyncio.run(main())
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from langgraph_pdr.calls.model_call import WAITING_ON_MODEL


class StartTurns:
    """At most `n` runs starting at once, each until it first waits on its model.

    A burst of requests (64 at once) would otherwise start together: every run's setup (its store,
    its first checkpoint, its prompts) interleaved with every other's on the one event loop, and not
    one model call sent before the last run's setup is done. In turns, the first runs' calls go out
    while the next runs set up, and their replies come back spread out.
    """

    def __init__(self, n: int) -> None:
        # no turns to wait for when n <= 0 (a semaphore binds to its event loop at first use)
        self._free = asyncio.Semaphore(n) if n > 0 else None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a turn; it is given back at the run's first model call, or as the block ends."""
        free = self._free
        if free is None:
            yield
            return
        await free.acquire()
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            if not given_back:
                given_back = True
                free.release()

        token = WAITING_ON_MODEL.set(give_back)
        try:
            yield
        finally:
            WAITING_ON_MODEL.reset(token)
            give_back()
