"""Database bytes per run against the raw text of its drafts and workspaces (goal: <= 3x).

Runs schedule (8, 4, 2, 1) with a scripted model whose drafts are ~2 KB of text about as compressible
as real solutions, five runs into one SQLite file (checkpoints + ledger), and prints the ratio per
distiller, beside the same runs through the stock `SqliteSaver`.

    python benchmarks/checkpoint_size.py
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import uuid  # noqa: E402

from fakes import FakeCall, ScriptedChatModel  # noqa: E402

from langgraph_pdr import PDRConfig, PDRContext, PDRResult, create_pdr_graph, graph_config, run_pdr  # noqa: E402
from langgraph_pdr.checkpoints.ledger import Ledger  # noqa: E402

WORDS = (
    "let be the number so then check which holds therefore sum of roots is and by Vieta we get "
    "substitute into equation both sides square factor since area triangle angle circle radius "
    "integer prime divides modulo remainder probability case count ways choose"
).split()


def _token(rng: random.Random) -> str:
    """Words, numbers and LaTeX about as compressible as real solutions (zlib ~2x at 2 KB)."""
    roll = rng.random()
    if roll < 0.55:
        return rng.choice(WORDS)
    if roll < 0.8:
        return str(rng.randint(0, 10 ** rng.randint(1, 5)))
    return rng.choice(
        [
            f"\\frac{{{rng.randint(1, 99)}}}{{{rng.randint(2, 99)}}}",
            f"x^{{{rng.randint(2, 9)}}}",
            f"\\sqrt{{{rng.randint(2, 999)}}}",
            f"({rng.randint(0, 99)}, {rng.randint(0, 99)})",
            "=",
            "+",
            "-",
        ]
    )


def script(call: FakeCall) -> str:
    rng = random.Random(f"{call.round}:{call.index}:{call.role}:{call.prompt[:40]}")
    if call.role == "verify":
        return f"The steps are consistent. Score: {rng.randint(3, 9)}"
    n = 120 if call.role == "distill" else 350
    return " ".join(_token(rng) for _ in range(n)) + f" \\boxed{{{rng.randint(1, 9)}}}"


def db_bytes(path: Path) -> int:
    """Bytes in use: pages the database holds, less free pages (after folding in the WAL)."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    free = con.execute("PRAGMA freelist_count").fetchone()[0]
    size = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    return (pages - free) * size


def _stock_run(db: Path, question: str, config: PDRConfig) -> PDRResult:
    """The same run through the stock `SqliteSaver` (every checkpoint holds every value, no pruning)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    ledger = Ledger(f"sqlite:///{db}")
    tid = uuid.uuid4().hex
    ledger.start_run(tid, question=question, config=config)
    with SqliteSaver.from_conn_string(str(db)) as saver:
        graph = create_pdr_graph(config).compile(checkpointer=saver)
        graph.invoke(
            {"question": question},
            graph_config(config, thread_id=tid),
            context=PDRContext(model=ScriptedChatModel(script=script), config=config, recorder=ledger),
            durability="sync",
        )
    result = ledger.load_result(tid)
    ledger.dispose()
    return result


def measure(distiller: str, runs: int = 5, *, stock: bool = False) -> tuple[int, int]:
    """(database bytes per run, raw draft + workspace text bytes per run)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "runs.sqlite"
        config = PDRConfig(schedule="8,4,2,1", distiller=distiller, k=2, kappa=1024)
        run = (
            (lambda q: _stock_run(db, q, config))
            if stock
            else (lambda q: run_pdr(q, model=ScriptedChatModel(script=script), config=config, db=db))
        )
        run_pdr(
            "warm-up: create the schema",
            model=ScriptedChatModel(script=script),
            config=PDRConfig(method="single"),
            db=db,
        )
        if stock:
            _stock_run(db, "warm-up", PDRConfig(method="single"))
        empty = db_bytes(db)
        raw = 0
        for n in range(runs):
            r = run(f"Problem {n}: find x.")
            raw += sum(len(d.text.encode()) for rr in r.rounds for d in rr.drafts)
            raw += sum(len(w.text.encode()) for w in r.workspaces)
        return (db_bytes(db) - empty) // runs, raw // runs


def main() -> None:
    print(
        "schedule 8,4,2,1; database bytes per run (checkpoints + ledger) / raw text of drafts and "
        "workspaces; goal <= 3x"
    )
    print(
        f"{'distiller':<18}{'raw text/run':>14}{'db bytes/run':>14}{'ratio':>8}"
        f"{'stock saver':>14}{'ratio':>8}"
    )
    for distiller in ("global_summary", "shared_top_k", "per_sample_top_k", "random_k"):
        size, raw = measure(distiller)
        stock, _ = measure(distiller, stock=True)
        print(f"{distiller:<18}{raw:>14,}{size:>14,}{size / raw:>8.2f}{stock:>14,}{stock / raw:>8.2f}")


if __name__ == "__main__":
    main()
