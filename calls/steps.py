"""One implementation for a sync function and its async twin: the work is written once, as a generator
that yields the steps where the twins differ (a call to a method or its `a`-twin, blocking I/O, a wait,
a context to enter), and a sync and an async driver run it (`run_steps`, `arun_steps`).

The sync driver calls each step as it is; the async one awaits its async form, runs blocking I/O in a
worker thread, and enters async contexts. Contexts a core enters (`Enter`) stay open until it yields
`Exit` (the innermost one) or ends, and are left in reverse order, each seeing the exception the core
raised, as nested `with` blocks would.

Example:
    ```python
    import asyncio

    from langgraph_pdr.calls.steps import Call, arun_steps, run_steps

    class Store:
        def get(self, key):
            return key.upper()

        async def aget(self, key):
            return key.upper() + "!"

    def fetch(store, key):  # written once
        value = yield Call.twin(store, "get", key)
        return f"got {value}"

    assert run_steps(fetch(Store(), "x")) == "got X"
    assert asyncio.run(arun_steps(fetch(Store(), "x"))) == "got X!"
    ```
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class Step:
    """What a core yields; the driver sends back what it came to (or throws what it raised)."""

    def run(self) -> Any:
        raise NotImplementedError

    async def arun(self) -> Any:
        raise NotImplementedError


@dataclass
class Call(Step):
    """`sync(*args, **kwargs)` from the sync driver; `await async_(*args, **kwargs)` from the async one."""

    sync: Callable[..., Any]
    async_: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def twin(cls, obj: Any, name: str, *args: Any, **kwargs: Any) -> Call:
        """Method `name` of `obj`, or its async twin `a{name}` (`_a{name}` for `_{name}`)."""
        bare = name.lstrip("_")
        return cls(getattr(obj, name), getattr(obj, f"{name[: len(name) - len(bare)]}a{bare}"), args, kwargs)

    def run(self) -> Any:
        return self.sync(*self.args, **self.kwargs)

    async def arun(self) -> Any:
        return await self.async_(*self.args, **self.kwargs)


@dataclass
class Blocking(Step):
    """Blocking I/O (a database, a file lock): called by the sync driver, run in a worker thread by the
    async one, so the event loop never waits for it."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()

    def run(self) -> Any:
        return self.fn(*self.args)

    async def arun(self) -> Any:
        return await asyncio.to_thread(self.fn, *self.args)


@dataclass
class Sleep(Step):
    """A wait: `time.sleep` from the sync driver, `asyncio.sleep` from the async one."""

    seconds: float

    def run(self) -> None:
        time.sleep(self.seconds)

    async def arun(self) -> None:
        await asyncio.sleep(self.seconds)


@dataclass
class Enter(Step):
    """Enter a context (`sync()`'s, or from the async driver `async_()`'s when given); the driver
    sends back what it yields and leaves it at the matching `Exit`, or when the core ends."""

    sync: Callable[[], AbstractContextManager[Any]]
    async_: Callable[[], AbstractAsyncContextManager[Any]] | None = None


@dataclass
class Exit(Step):
    """Leave the innermost context the core entered."""


Steps = Generator[Step, Any, T]


def run_steps(core: Steps[T]) -> T:
    """Run a core from sync code: every step as it is."""
    with ExitStack() as outer:
        scopes: list[ExitStack] = []
        sent: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = core.throw(error) if error is not None else core.send(sent)
            except StopIteration as stop:
                while scopes:
                    scopes.pop().close()
                return stop.value
            sent, error = None, None
            try:
                if isinstance(step, Enter):
                    scope = outer.enter_context(ExitStack())
                    scopes.append(scope)
                    sent = scope.enter_context(step.sync())
                elif isinstance(step, Exit):
                    scopes.pop().close()
                else:
                    sent = step.run()
            except BaseException as exc:  # noqa: BLE001 - thrown into the core, where it is raised
                error = exc


async def arun_steps(core: Steps[T]) -> T:
    """Run a core from async code: async twins awaited, blocking I/O off the event loop."""
    async with AsyncExitStack() as outer:
        scopes: list[AsyncExitStack] = []
        sent: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = core.throw(error) if error is not None else core.send(sent)
            except StopIteration as stop:
                while scopes:
                    await scopes.pop().aclose()
                return stop.value
            sent, error = None, None
            try:
                if isinstance(step, Enter):
                    scope = await outer.enter_async_context(AsyncExitStack())
                    scopes.append(scope)
                    if step.async_ is not None:
                        sent = await scope.enter_async_context(step.async_())
                    else:
                        sent = scope.enter_context(step.sync())
                elif isinstance(step, Exit):
                    await scopes.pop().aclose()
                else:
                    sent = await step.arun()
            except BaseException as exc:  # noqa: BLE001
                error = exc
