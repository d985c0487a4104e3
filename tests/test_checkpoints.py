"""The lean SQLite savers: values stored once per version, compressed, pruned when a run finishes."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import aiosqlite
from fakes import ScriptedChatModel

from langgraph_pdr import PDRConfig, PDRContext, create_pdr_graph, graph_config, run_pdr
from langgraph_pdr.checkpoints.savers import LeanAsyncSqliteSaver, LeanSqliteSaver, compressed_serde

CONFIG = PDRConfig(schedule="4,2,1", distiller="shared_top_k")


def saver(path: Path) -> LeanSqliteSaver:
    return LeanSqliteSaver(sqlite3.connect(path, check_same_thread=False), serde=compressed_serde())


def test_history_and_resume_through_the_lean_saver(tmp_path):
    cp = saver(tmp_path / "c.sqlite")
    graph = create_pdr_graph(CONFIG).compile(checkpointer=cp)
    cfg = graph_config(CONFIG, thread_id="t")
    ctx = PDRContext(model=ScriptedChatModel())
    graph.invoke({"question": "q?"}, cfg, context=ctx, interrupt_before=["distill"])
    state = graph.get_state(cfg)
    assert state.next == ("distill",)
    assert [d.answer for d in state.values["drafts"]] == ["10", "11", "12", "13"]
    history = list(graph.get_state_history(cfg))
    assert len(history) >= 4 and all("question" in h.values for h in history[:-1])
    out = graph.invoke(None, cfg, context=ctx)
    assert out["answer"] == "30"
    # every stored value is a compressed blob, keyed by channel version
    rows = cp.conn.execute("SELECT type FROM checkpoint_blobs WHERE channel='drafts'").fetchall()
    assert rows and all(t.endswith("+zlib") or t.endswith("+raw") for (t,) in rows)
    assert cp.conn.execute("SELECT COUNT(*) FROM checkpoints WHERE checkpoint != ''").fetchone()[0]
    cp.delete_thread("t")
    assert cp.conn.execute("SELECT COUNT(*) FROM checkpoint_blobs").fetchone()[0] == 0


def test_a_finished_run_keeps_only_its_latest_checkpoint(tmp_path):
    db = tmp_path / "runs.sqlite"
    result = run_pdr("q?", model=ScriptedChatModel(), config=CONFIG, db=db)
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0] == 1
    cp = saver(db)
    graph = create_pdr_graph(CONFIG).compile(checkpointer=cp)
    values = graph.get_state(graph_config(CONFIG, thread_id=result.thread_id)).values
    assert (values["answer"], values["b_total"]) == (result.answer, result.b_total)
    # the ledger keeps the history
    assert con.execute("SELECT COUNT(*) FROM drafts").fetchone()[0] == 7


async def test_async_lean_saver_resumes_and_prunes(tmp_path):
    async with aiosqlite.connect(tmp_path / "a.sqlite") as conn:
        cp = LeanAsyncSqliteSaver(conn, serde=compressed_serde())
        graph = create_pdr_graph(CONFIG).compile(checkpointer=cp)
        cfg = graph_config(CONFIG, thread_id="t")
        ctx = PDRContext(model=ScriptedChatModel())
        await graph.ainvoke({"question": "q?"}, cfg, context=ctx, interrupt_before=["distill"])
        assert (await graph.aget_state(cfg)).next == ("distill",)
        assert len([h async for h in graph.aget_state_history(cfg)]) >= 4
        out = await graph.ainvoke(None, cfg, context=ctx)
        assert out["answer"] == "30"
        await cp.aprune(["t"])
        assert len([h async for h in graph.aget_state_history(cfg)]) == 1
        assert (await graph.aget_state(cfg)).values["answer"] == "30"


def test_database_bytes_per_run_stay_within_three_times_the_text():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from checkpoint_size import measure

    size, raw = measure("per_sample_top_k", runs=3)
    assert size <= 3 * raw, (size, raw)
