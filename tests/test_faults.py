"""Faults injected by a real OpenAI-compatible server on 127.0.0.1: runs survive them, budgets count
what was billed, caps hold, and the ledger neither loses nor duplicates a row."""

from __future__ import annotations

import sqlite3

import pytest
from fake_openai import FAULTS, FakeOpenAIServer

from langgraph_pdr import PDRConfig, resume_pdr, run_pdr

CONFIG = PDRConfig(schedule="3,1", distiller="per_sample_top_k", k=2, max_tokens=64)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def once(fault: str, target=(1, 1)):
    """Inject `fault` on the first request for draft `target`; answer everything else."""
    seen: set = set()

    def plan(req):
        if req.draft == target and target not in seen:
            seen.add(target)
            return fault
        return None

    return plan


def run(server, db, config=CONFIG, **kwargs):
    return run_pdr(
        "What is 6 * 7?", model="fake-model", base_url=server.base_url, db=db, config=config, **kwargs
    )


def ledger_rows(db, table):
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT * FROM {table}").fetchall()


def assert_books_balance(result):
    """B_total is every call plus every billed failed attempt; B_seq only counts calls."""
    assert result.b_total == (
        sum(c.total_tokens for c in result.calls) + sum(c.total_tokens for c in result.failed_calls)
    )
    stages: dict[str, int] = {}
    for c in result.calls:
        stages[c.stage] = max(stages.get(c.stage, 0), c.total_tokens)
    assert result.b_seq == sum(stages.values())


def test_the_server_knows_every_fault_the_suite_uses():
    assert set(FAULTS) == {
        "429",
        "500",
        "503",
        "reset",
        "hang",
        "empty",
        "no_boxed",
        "length",
        "unparseable",
        "malformed",
        "no_images",
    }


@pytest.mark.parametrize("fault", ["429", "500", "503", "reset", "hang", "malformed", "empty"])
def test_a_transient_fault_is_retried_and_the_run_completes(fault, tmp_path, fast_retries):
    db = tmp_path / "runs.sqlite"
    with FakeOpenAIServer(fault=once(fault), retry_after=0.3) as server:
        result = run(server, db, timeout=1.0)
        asked = [r for r in server.requests if r.draft == (1, 1)]
    assert [r.fault for r in asked] == [fault, None]  # one retry: the policy's, not the client's too
    assert result.status == "completed" and result.answer == "42"
    assert all(d.ok for d in result.rounds[0].drafts)
    if fault == "429":
        assert asked[1].started - asked[0].started >= 0.3  # Retry-After was honoured
    if fault == "hang":
        assert asked[1].started - asked[0].started < 5  # abandoned at the client's timeout
    failed = result.failed_calls  # every failed attempt is in the run's records
    assert [(c.role, c.round, c.index, c.output_tokens) for c in failed] == [("draft", 1, 1, 0)]
    if fault == "empty":  # billed by the provider: counted in B_total, kept in the ledger
        assert failed[0].input_tokens > 0 and failed[0].error.startswith("EmptyCompletion")
    else:  # nothing billed
        assert failed[0].total_tokens == 0 and failed[0].usage_source == "none"
    if fault in ("429", "500", "503"):
        assert f"Error code: {fault}" in failed[0].error
    assert_books_balance(result)
    assert len(ledger_rows(db, "calls")) == len(result.calls) == 3 + 3 + 1  # drafts, verifies, final
    assert len(ledger_rows(db, "drafts")) == 4


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("429", "429"), ("503", "503"), ("reset", "ConnectionError"), ("malformed", "EmptyCompletion")],
)
def test_a_retry_is_an_event_with_its_reason_and_attempt(fault, reason, tmp_path, fast_retries):
    events: list[dict] = []
    with FakeOpenAIServer(fault=once(fault), retry_after=0.1) as server:
        result = run(server, tmp_path / "runs.sqlite", on_event=events.append)
    assert result.status == "completed"
    retrying = [e for e in events if e["event"] == "call_retrying"]
    assert [(e["role"], e["round"], e["index"], e["attempt"], e["attempts"]) for e in retrying] == [
        ("draft", 1, 1, 2, fast_retries.max_attempts)
    ]
    assert retrying[0]["reason"].endswith(reason) and retrying[0]["error"] == result.failed_calls[0].error


def test_a_draft_that_keeps_failing_is_a_failure_record_and_the_round_goes_on(tmp_path, fast_retries):
    db = tmp_path / "runs.sqlite"
    with FakeOpenAIServer(fault=lambda req: "empty" if req.draft == (1, 2) else None) as server:
        result = run(server, db)
        asked = [r for r in server.requests if r.draft == (1, 2)]
    assert len(asked) == fast_retries.max_attempts
    assert [d.ok for d in result.rounds[0].drafts] == [True, True, False]
    assert result.rounds[0].drafts[2].error.startswith("EmptyCompletion")
    assert result.status == "completed" and result.answer == "42"
    assert len(result.failed_calls) == fast_retries.max_attempts  # every billed attempt is booked
    assert len(ledger_rows(db, "failed_calls")) == fast_retries.max_attempts  # once each
    assert_books_balance(result)


def test_a_round_with_no_survivor_stops_clearly_and_resumes(tmp_path, fast_retries):
    db = tmp_path / "runs.sqlite"
    broken = {"on": True}
    with FakeOpenAIServer(
        fault=lambda req: "500" if broken["on"] and req.draft and req.draft[0] == 2 else None
    ) as server:
        failed = run(server, db)
        assert (failed.status, failed.stop_reason, failed.answer) == ("failed", "no_drafts", None)
        assert failed.rounds[1].drafts[0].error.startswith("OpenAIAPIError") or "500" in (
            failed.rounds[1].drafts[0].error or ""
        )
        before = len(server.requests)
        broken["on"] = False
        result = resume_pdr(failed.thread_id, db=db)
        again = server.requests[before:]
    assert (result.status, result.answer) == ("completed", "42")
    assert [(r.role, r.draft) for r in again] == [("draft", (2, 0))]  # round 1 is not paid twice
    assert len(ledger_rows(db, "calls")) == len(result.calls) == 7
    assert_books_balance(result)


@pytest.mark.parametrize("fault", ["no_boxed", "length"])
def test_a_draft_without_a_box_or_cut_short_is_still_a_draft(fault, tmp_path):
    with FakeOpenAIServer(fault=once(fault, target=(1, 0))) as server:
        result = run(server, tmp_path / "runs.sqlite")
    draft = result.rounds[0].drafts[0]
    assert draft.ok
    if fault == "no_boxed":
        assert draft.answer == "I think the answer is forty-two."
    else:
        assert draft.call.finish_reason == "length" and draft.call.output_tokens == 3
    assert result.status == "completed"
    assert_books_balance(result)


def test_an_unparseable_verification_scores_unknown(tmp_path):
    plan = {"n": 0}

    def fault(req):
        if req.role == "verify":
            plan["n"] += 1
            return "unparseable" if plan["n"] == 1 else None
        return None

    with FakeOpenAIServer(fault=fault) as server:
        result = run(server, tmp_path / "runs.sqlite")
    scores = sorted((d.score is None) for d in result.rounds[0].drafts)
    assert scores == [False, False, True]
    assert result.status == "completed"


def test_failed_attempts_never_push_b_total_past_its_cap(tmp_path, fast_retries):
    # every draft of round 1 comes back empty once: each failure is billed, and the retries must fit
    cap = 2000
    seen: set = set()

    def fault(req):
        if req.draft and req.draft[0] == 1 and req.draft not in seen:
            seen.add(req.draft)
            return "empty"
        return None

    config = PDRConfig(schedule="3,1", distiller="random_k", k=1, max_tokens=64, max_b_total=cap)
    with FakeOpenAIServer(fault=fault) as server:
        result = run(server, tmp_path / "runs.sqlite", config=config)
    assert result.b_total <= cap
    assert_books_balance(result)
    # a cap that fits round 1's worst case and little more: a billed failure leaves no room to retry
    from langgraph_pdr.calls.token_count import DEFAULT_COUNTER, prompt_bound
    from langgraph_pdr.nodes.draft import draft_messages
    from langgraph_pdr.prompting.prompt_catalog import get_prompts

    task = {"question": "What is 6 * 7?", "round": 1, "index": 0, "workspace": None}
    prompts = get_prompts(config.prompts)
    tight = 3 * (prompt_bound(draft_messages(task, config, prompts), DEFAULT_COUNTER) + 64) + 10
    with FakeOpenAIServer(fault=lambda req: "empty" if req.draft and req.draft[0] == 1 else None) as server:
        starved = run(
            server, tmp_path / "runs2.sqlite", config=config.model_copy(update={"max_b_total": tight})
        )
        asked = len(server.requests)
    assert starved.b_total <= tight and asked == 3  # no retry was affordable
    assert [d.error for d in starved.rounds[0].drafts] == ["BudgetStop: max_b_total"] * 3
    assert (starved.stop_reason, starved.status) == ("max_b_total", "stopped")  # not a failure to resume
    assert_books_balance(starved)


def test_client_timeouts_come_from_the_run_and_are_stored_for_resume(tmp_path, fast_retries):
    with FakeOpenAIServer(fault=once("hang", target=(1, 0))) as server:
        # the hung reply never comes (until the server stops): returning at all means it was abandoned
        result = run(server, tmp_path / "runs.sqlite", config=PDRConfig(method="single"), timeout=0.5)
        asked = len(server.requests)
    assert result.status == "completed" and asked == 2
    with sqlite3.connect(tmp_path / "runs.sqlite") as conn:
        spec = conn.execute("SELECT spec FROM runs").fetchone()[0]
    assert '"timeout": 0.5' in spec


async def test_the_async_path_survives_the_same_faults(tmp_path, fast_retries):
    from langgraph_pdr import arun_pdr

    faults = {(1, 0): "429", (1, 1): "empty", (1, 2): "reset"}
    seen: set = set()

    def plan(req):
        if req.draft in faults and req.draft not in seen:
            seen.add(req.draft)
            return faults[req.draft]
        return None

    with FakeOpenAIServer(fault=plan, retry_after=0.2) as server:
        result = await arun_pdr(
            "What is 6 * 7?",
            model="fake-model",
            base_url=server.base_url,
            db=tmp_path / "runs.sqlite",
            config=CONFIG,
        )
    errors = [d.error for d in result.rounds[0].drafts]
    assert result.status == "completed" and errors == [None] * len(errors), errors
    assert sorted(c.index for c in result.failed_calls) == [0, 1, 2]  # a record of each failed attempt
    assert [c.index for c in result.failed_calls if c.total_tokens] == [1]  # only the empty one billed
    assert_books_balance(result)


@pytest.mark.parametrize(
    ("role", "config"),
    [
        ("distill", PDRConfig(schedule="3,1", distiller="global_summary", max_tokens=64)),
        ("verify", PDRConfig(schedule="3,1", distiller="per_sample_top_k", k=2, max_tokens=64)),
        ("critique", PDRConfig(method="sr_error", schedule="1,1", max_tokens=64)),
    ],
)
async def test_the_async_path_never_waits_for_the_ledger_on_the_event_loop(
    role, config, tmp_path, fast_retries, monkeypatch
):
    """A ledger write on the loop that waits for SQLite's write lock, while the async checkpointer on
    the same loop holds it until its commit runs, times out ("database is locked") and the draft
    fails. No ledger operation of an async run, the run's status and lease and a billed failed
    attempt's included, may run on the sync engine in the loop's thread."""
    import asyncio

    from langgraph_pdr import arun_pdr
    from langgraph_pdr.checkpoints.ledger import Ledger

    on_loop = []

    def watched(original):
        def run(self, work, *args):
            try:
                asyncio.get_running_loop()
                on_loop.append(work.__name__)
            except RuntimeError:  # another thread: the heartbeat's, say
                pass
            return original(self, work, *args)

        return run

    monkeypatch.setattr(Ledger, "_run", watched(Ledger._run))
    monkeypatch.setattr(Ledger, "_read", watched(Ledger._read))
    with FakeOpenAIServer(fault=once("empty", target=(1, 0))) as server:
        result = await arun_pdr(
            "What is 6 * 7?",
            model="fake-model",
            base_url=server.base_url,
            db=tmp_path / "runs.sqlite",
            config=config,
        )
    assert result.status == "completed" and len(result.failed_calls) == 1
    assert on_loop == [] and role in {c.role for c in result.calls}


async def test_the_async_ledger_waits_for_a_locked_database_off_the_event_loop(tmp_path, monkeypatch):
    """While another connection holds SQLite's write lock, `arecord_many` waits off the event loop:
    the loop still answers, and the record lands once the lock is free."""
    import asyncio
    import threading

    from langgraph_pdr.checkpoints.ledger import Ledger
    from langgraph_pdr.state.records import Draft

    monkeypatch.setenv("PDR_DB_TIMEOUT", "20")
    path = tmp_path / "runs.sqlite"
    ledger = Ledger(f"sqlite:///{path}")
    await ledger.arecord_many("t", [Draft(round=1, index=0, text="first")])

    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer mid-transaction
    loop = asyncio.get_running_loop()

    started, answered = threading.Event(), []

    def ping_then_release() -> None:
        started.wait()
        try:  # a loop blocked in SQLite's busy wait would not answer before the 20 s timeout
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout=5)
            answered.append(True)
        except TimeoutError:
            answered.append(False)
        finally:
            holder.rollback()

    pinger = threading.Thread(target=ping_then_release)
    pinger.start()
    write = asyncio.create_task(ledger.arecord_many("t", [Draft(round=1, index=1, text="second")]))
    started.set()  # the ping is queued on the loop behind the write's first step
    await write
    await asyncio.to_thread(pinger.join)
    assert answered == [True]
    holder.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT idx, text FROM drafts ORDER BY idx").fetchall() == [
            (0, "first"),
            (1, "second"),
        ]
    await ledger.adispose()


@pytest.mark.parametrize("cap", [None, 50_000])
def test_billing_survives_a_fresh_context_for_every_node(cap, fast_retries):
    """A server (`langgraph dev`, LangGraph Server) gives each node a fresh context built from JSON:
    the billed failed attempt must still reach B_total, and its retry fit a generous cap."""
    from langgraph.checkpoint.memory import InMemorySaver

    from langgraph_pdr import create_pdr_graph, graph_config
    from langgraph_pdr.state.context import ServerContext

    config = PDRConfig(schedule="3,1", distiller="global_summary", max_tokens=64, max_b_total=cap)
    graph = create_pdr_graph(config, context_schema=ServerContext).compile(checkpointer=InMemorySaver())
    with FakeOpenAIServer(fault=once("empty", target=(1, 0))) as server:
        context = {
            "model": "fake-model",
            "base_url": server.base_url,
            "config": config.model_dump(mode="json"),
        }
        out = graph.invoke(
            {"question": "What is 6 * 7?"}, graph_config(config, thread_id=f"fresh-{cap}"), context=context
        )
        billed = sum(r.prompt_tokens + r.completion_tokens for r in server.requests if r.answered)
        empties = [r for r in server.requests if r.fault == "empty"]
    assert (out["stop_reason"], out["answer"]) == ("completed", "42") and len(empties) == 1
    assert out["b_total"] == billed
