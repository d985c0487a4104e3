"""The runs `pdr serve` holds: each run of this process once, whoever asks for it; idempotent requests;
and the recovery of its store's orphaned runs.

- A run is a task of its own with a log of its progress events: any number of requests follow it
  (each gets every event from the first), and a client that disconnects leaves it running.
- A request with an idempotency key (`Idempotency-Key`, or `"pdr": {"thread_id": ...}`) names its run:
  the same key gets the same run: its stored answer when it finished, the run in progress (here, or
  followed through the store when another worker holds it), its resumption when it was orphaned. The
  store's lease (`checkpoints.lock`) makes sure only one worker ever runs it.
- On start and every `recover_every` seconds, the runs of the store whose process died or whose lease
  expired (`runner.recovery.interrupted_runs(orphans_only=True)`), made with this server's model, are
  resumed; resuming takes the run's lease with a compare-and-set, so two workers never both run one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from langgraph_pdr.checkpoints.ledger import FINISHED, Ledger, RunExistsError, RunLockedError
from langgraph_pdr.checkpoints.reads import status_of
from langgraph_pdr.models import OpenModel
from langgraph_pdr.runner import aresume_pdr, arun_pdr
from langgraph_pdr.runner.start_turns import StartTurns
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.result import PDRResult

#: Seconds between two looks at a run another worker holds.
FOLLOW_S = 0.25
#: How many new runs may be starting at once, each until its first model call (`StartTurns`):
#: 64 PDR 4,1 requests at once through `pdr serve --workers 2` took 1.69-1.70x the upstream's time
#: with 8, 1.71-1.77x with 4, 1.76-1.79x with 16, 1.81-1.86x with no limit (`benchmarks/serve_load.py`).
START_TURNS = 8


class KeyReused(ValueError):
    """An idempotency key sent again with another question or configuration (HTTP 422)."""


@dataclass
class Live:
    """A run in progress in this process: its task and every progress event it made so far."""

    thread_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[PDRResult] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self._changed.set()

    def ended(self) -> None:
        """Wake the requests that follow the run: it ended."""
        self._changed.set()

    async def follow(self) -> AsyncIterator[dict[str, Any]]:
        """Every event of the run, from its first, until it ends."""
        sent = 0
        while True:
            while sent < len(self.events):
                sent += 1
                yield self.events[sent - 1]
            if self.task is not None and self.task.done():
                return
            self._changed.clear()  # no await since the last look: no event can be missed
            await self._changed.wait()

    async def result(self) -> PDRResult:
        """The run's result (a client that goes away does not cancel it)."""
        assert self.task is not None
        return await asyncio.shield(self.task)


def _same(row: dict[str, Any], question: str, config: PDRConfig) -> bool:
    return bool(row["question"] == question and PDRConfig.model_validate(row["config"]) == config)


class ServedRuns:
    """The runs of one `pdr serve` process (see the module's docstring).

    Args:
        ledger: the store's ledger (None: a store in memory, no recovery and no keys across restarts).
        db: the store, as `arun_pdr` takes it.
        model: the server's open model; orphans made with another model are left to their own servers.
    """

    def __init__(self, *, ledger: Ledger | None, db: str | None, model: OpenModel) -> None:
        self.ledger, self.db, self.model = ledger, db, model
        self.live: dict[str, Live] = {}
        self._starting = StartTurns(START_TURNS)

    # -- running -------------------------------------------------------------------------------------

    def _launch(self, thread_id: str, start: Callable[[Live], Coroutine[Any, Any, PDRResult]]) -> Live:
        live = self.live[thread_id] = Live(thread_id)
        live.task = asyncio.create_task(start(live), name=f"pdr-run-{thread_id}")

        def ended(task: asyncio.Task[PDRResult]) -> None:
            if not task.cancelled():
                task.exception()  # a recovered run nobody follows: its error is in the store
            live.ended()
            if self.live.get(thread_id) is live:
                del self.live[thread_id]

        live.task.add_done_callback(ended)
        return live

    def start(
        self, thread_id: str, question: str, run: dict[str, Any], *, keyed: bool, watched: bool = True
    ) -> Live:
        """A new run (a keyed one that another worker started first is followed instead). A run
        nobody can watch (`watched=False`: a request not streamed, with no key another request could
        follow it by) makes no progress events, so its upstream calls are not streamed either."""

        async def go(live: Live) -> PDRResult:
            on_event = live.publish if watched else None
            try:
                async with self._starting.turn():
                    return await arun_pdr(question, thread_id=thread_id, on_event=on_event, **run)
            except RunExistsError:
                if not keyed:
                    raise
                return await self._settle(thread_id, live)

        return self._launch(thread_id, go)

    def resume(self, thread_id: str) -> Live:
        """Resume a run of the store (another worker that took it first is followed instead)."""
        return self._launch(thread_id, lambda live: self._settle(thread_id, live))

    async def _settle(self, thread_id: str, live: Live) -> PDRResult:
        """The run's result: resumed here when nobody holds it, followed when another worker does."""
        assert self.ledger is not None
        while True:
            row = await self.ledger.arun_row(thread_id)
            if row is not None and row["status"] in FINISHED:
                return await self.ledger.aload_result(thread_id)
            if row is not None and status_of(row) != "running":
                try:
                    return await aresume_pdr(thread_id, db=self.db, model=self.model, on_event=live.publish)
                except RunLockedError:
                    pass  # another worker took it a moment ago: follow it
            await asyncio.sleep(FOLLOW_S)

    # -- idempotent requests -------------------------------------------------------------------------

    async def obtain(
        self, thread_id: str, question: str, config: PDRConfig, run: dict[str, Any]
    ) -> Live | PDRResult:
        """The run a keyed request names: its stored result when it finished, else the run (started,
        followed, or resumed).

        Raises:
            KeyReused: the key names a run of another question or configuration.
        """
        live = self.live.get(thread_id)
        if live is None and self.ledger is not None:
            row = await self.ledger.arun_row(thread_id)
            live = self.live.get(thread_id)  # started while the row was read
            if live is None and row is not None:
                if not _same(row, question, config):
                    raise KeyReused(
                        f"idempotency key {thread_id!r} was used for another question or configuration; "
                        "send a new key"
                    )
                if row["status"] in FINISHED:
                    return await self.ledger.aload_result(thread_id)
                live = self.resume(thread_id)
        if live is None:
            live = self.start(thread_id, question, run, keyed=True)
        return live

    # -- recovery --------------------------------------------------------------------------------------

    def _ours(self, model: dict[str, Any]) -> bool:
        spec = self.model.spec
        return (model.get("id"), model.get("base_url"), model.get("local_model")) == (
            spec.id,
            spec.base_url,
            spec.local_model,
        )

    async def recover(self) -> list[str]:
        """Resume the store's orphaned runs of this server's model that this process does not hold;
        their thread ids."""
        if self.ledger is None:
            return []
        found = [
            r["thread_id"]
            for r in await self.ledger.ainterrupted_runs()
            if r["orphan"] and self._ours(r["model"]) and r["thread_id"] not in self.live
        ]
        for thread_id in found:
            self.resume(thread_id)
        return found

    async def recover_forever(self, every: float) -> None:
        """`recover` now and every `every` seconds (a failed look is tried again at the next)."""
        while True:
            with contextlib.suppress(Exception):
                await self.recover()
            await asyncio.sleep(every)
