"""The write gate: a SQLite file's writers in one process take turns in arrival order, threads and
coroutines alike, and a cancelled waiter neither keeps nor loses the gate for the others."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from langgraph_pdr import PDRConfig
from langgraph_pdr.checkpoints.gate import WriteGate, write_gate
from langgraph_pdr.checkpoints.store import open_store


def until(condition, what: str) -> None:
    """Wait for a condition another thread brings about (bounded, so a bug fails instead of hanging)."""
    tick = threading.Event()
    for _ in range(10_000):
        if condition():
            return
        tick.wait(0.001)
    raise AssertionError(f"never: {what}")


async def auntil(condition, what: str) -> None:
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never: {what}")


def test_one_gate_per_file(tmp_path):
    gate = write_gate(tmp_path / "runs.sqlite")
    assert write_gate(str(tmp_path / "." / "runs.sqlite")) is gate
    assert write_gate(tmp_path / "other.sqlite") is not gate


def test_threads_get_the_gate_in_the_order_they_came():
    gate = WriteGate()
    order: list[int] = []

    def writer(n: int) -> None:
        with gate:
            order.append(n)

    gate.acquire()
    threads = []
    for n in range(6):
        threads.append(threading.Thread(target=writer, args=(n,)))
        threads[-1].start()
        until(lambda n=n: gate.waiting == n + 1, f"writer {n} queued")
    assert order == []  # all wait while it is held
    gate.release()
    for t in threads:
        t.join(timeout=30)
    assert order == list(range(6))
    assert gate.waiting == 0 and gate.acquire()  # free again


async def test_threads_and_coroutines_share_one_queue_without_blocking_the_loop():
    gate = WriteGate()
    order: list[str] = []
    ticks = 0

    async def coroutine(name: str) -> None:
        async with gate:
            order.append(name)
            await asyncio.sleep(0)  # holds the gate across an await, as a write transaction does

    def thread() -> None:
        with gate:
            order.append("thread")

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    await gate.aacquire()
    first = asyncio.create_task(coroutine("first"))
    await auntil(lambda: gate.waiting == 1, "the first coroutine queued")
    worker = threading.Thread(target=thread)
    worker.start()
    await auntil(lambda: gate.waiting == 2, "the thread queued")
    last = asyncio.create_task(coroutine("last"))
    await auntil(lambda: gate.waiting == 3, "the last coroutine queued")
    tick = asyncio.create_task(ticker())
    seen = ticks
    await auntil(lambda: ticks > seen + 10, "the event loop runs while the coroutines wait")
    gate.release()
    await asyncio.gather(first, last)
    await asyncio.to_thread(worker.join, 30)
    tick.cancel()
    assert order == ["first", "thread", "last"]


async def two_waiters(gate: WriteGate, got: list[str]) -> tuple[asyncio.Task, asyncio.Task]:
    """Hold the gate and queue two writers behind it: the one to cancel, then another."""

    async def writer(name: str) -> None:
        async with gate:
            got.append(name)

    await gate.aacquire()
    doomed = asyncio.create_task(writer("cancelled"))
    await auntil(lambda: gate.waiting == 1, "queued")
    after = asyncio.create_task(writer("after"))
    await auntil(lambda: gate.waiting == 2, "both queued")
    return doomed, after


async def test_a_cancelled_waiter_leaves_the_queue_and_the_next_one_gets_the_gate():
    gate, got = WriteGate(), []
    doomed, after = await two_waiters(gate, got)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert gate.waiting == 1
    gate.release()
    await after
    assert got == ["after"]
    await asyncio.wait_for(gate.aacquire(), 30)  # free again


async def test_a_waiter_cancelled_as_it_is_handed_the_gate_passes_it_on():
    gate, got = WriteGate(), []
    doomed, after = await two_waiters(gate, got)
    gate.release()  # handed to the first waiter, which has not run yet...
    doomed.cancel()  # ...and is cancelled before it does
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await asyncio.wait_for(after, 30)
    assert got == ["after"]


async def test_a_sync_write_on_the_event_loop_thread_does_not_wait_for_the_gate():
    gate = WriteGate()
    await gate.aacquire()  # a coroutine holds it; waiting here would stop the loop it needs
    with gate as taken:
        assert taken is False
    assert gate.waiting == 0
    gate.release()
    assert await asyncio.to_thread(gate.acquire)


def test_a_stores_ledger_and_checkpointer_both_write_through_the_files_gate(tmp_path):
    db = tmp_path / "runs.sqlite"
    checkpoint = {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": "c1"}}
    with open_store(db) as store:
        writes = [
            threading.Thread(target=lambda: store.ledger.start_run("t", question="q", config=PDRConfig())),
            threading.Thread(target=lambda: store.saver.put_writes(checkpoint, [("drafts", [])], "task")),
        ]
        gate = write_gate(db)
        gate.acquire()
        for n, write in enumerate(writes):
            write.start()
            until(lambda n=n: gate.waiting == n + 1, f"write {n} waits for the gate")
        gate.release()
        for write in writes:
            write.join(timeout=30)
        assert [r.thread_id for r in store.ledger.list_runs()] == ["t"]
        assert store.saver.conn.execute("SELECT count(*) FROM writes").fetchone() == (1,)


#: A process that takes the gate of a file and says when it asks and when it has it.
GATE_CHILD = """
import sys
from langgraph_pdr.checkpoints.gate import write_gate
gate = write_gate(sys.argv[1])
print("asking", flush=True)
with gate:
    print("got", flush=True)
"""


def flock_waiters(path) -> list[int]:
    """PIDs of processes waiting for a `flock` of `path` (the kernel's list of blocked lock requests)."""
    inode = path.stat().st_ino
    waiting = []
    for line in open("/proc/locks").read().splitlines():
        fields = line.split()
        if "->" in fields and "FLOCK" in fields and fields[-3].split(":")[-1] == str(inode):
            waiting.append(int(fields[fields.index("FLOCK") + 3]))
    return waiting


def test_a_writer_of_another_process_waits_for_the_gate_in_the_kernel(tmp_path):
    db = tmp_path / "runs.sqlite"
    gate = write_gate(db)
    gate.acquire()  # this process writes; the lock file beside the database says so to the others
    child = subprocess.Popen([sys.executable, "-c", GATE_CHILD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "asking"
        lock_file = tmp_path / "runs.sqlite-gate"
        until(lambda: lock_file.exists() and child.pid in flock_waiters(lock_file), "the child waits")
        gate.release()
        assert child.stdout.readline().strip() == "got"  # woken as soon as the gate is let go
        assert child.wait(timeout=60) == 0
    finally:
        child.kill()
        child.wait()
    with gate:  # free for this process again
        pass


#: A process that opens a new run database when told to (a file appears), and runs one question.
OPEN_CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from fakes import ScriptedChatModel
from langgraph_pdr import PDRConfig, run_pdr
go = Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
model = ScriptedChatModel(script=lambda c: "\\\\boxed{1}")
print(run_pdr("q", model=model, config=PDRConfig(method="single"), db=sys.argv[1]).answer, flush=True)
"""


@contextmanager
def ready_children(script: str, *args: str, count: int = 6) -> Iterator[list[subprocess.Popen]]:
    """`count` Python processes running `script` with `args`, once each printed "ready"; killed after."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        yield children
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_processes_creating_one_new_database_at_once_all_get_it(tmp_path):
    db, go = tmp_path / "new.sqlite", tmp_path / "go"
    with ready_children(OPEN_CHILD, str(db), str(go), str(Path(__file__).parent)) as children:
        go.touch()  # all at once: the first creates the tables, the others wait at the gate
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            assert out.strip() == "1"
    with open_store(db) as store:
        assert len(store.ledger.list_runs()) == 6


LEDGER_CHILD = """
import sys, time
from pathlib import Path
from langgraph_pdr.checkpoints.ledger import Ledger
print("ready", flush=True)
for n, db in enumerate(sys.argv[1:]):
    go = Path(db + "-go")
    while not go.exists():
        time.sleep(0.0005)
    Ledger(f"sqlite:///{db}").dispose()
    print(n, flush=True)
"""


def test_ledgers_of_many_processes_switch_new_files_to_wal_at_once(tmp_path):
    # SQLite refuses a connection switching a new file to WAL while another does ("database is
    # locked", at once: its busy handler does not wait there); each opens the file all the same
    files = [str(tmp_path / f"new{n}.sqlite") for n in range(40)]
    with ready_children(LEDGER_CHILD, *files) as children:
        for n, db in enumerate(files):  # the children open each new file at once
            Path(db + "-go").touch()
            for child in children:
                line = child.stdout.readline().strip()
                assert line == str(n), child.communicate(timeout=60)[1].strip().splitlines()[-1:]
