"""Can the refine round find the right answer when the first drafts disagree? GSM8K problems 37-60.

Three ways to show the refine draft of PDR 4,1 (`early_stop=1`) the first round's four drafts, on the
same drafts: `majority_k` with k=2 (the default), all four (`k=4`, κ 2,048), and the model-judged
`tournament` (k=1); against the votes `sc:6`, `sc:7` and `sc:8` of the same samples, and
self-consistency in windows of four (`sc:4-4:early_stop=1`: `sc:8`'s drafts, stopping after the first
four when they agree).

    gunzip -c docs/eval/second/main.sqlite.gz > main.sqlite
    python docs/eval/second/minority.py main.sqlite

The runs are the evaluations `exp` (`pdr eval --dataset gsm8k --offset 36 --limit 24 --name exp`,
the methods of `PDR` and `VOTES`) and `win` (`--name win`, `WINDOWS`) of the store.
"""

from __future__ import annotations

import random
import sqlite3
import sys

from langgraph_pdr.checkpoints.store import open_store
from langgraph_pdr.evals.compare import sign_test
from langgraph_pdr.nodes.answers import finished
from langgraph_pdr.nodes.llm import derive_seed
from langgraph_pdr.nodes.tournament import knockout

PDR = (
    "pdr:4-1:majority_k:early_stop=1",
    "pdr:4-1:majority_k:k=4:kappa=2048:early_stop=1",
    "pdr:4-1:tournament:k=1:early_stop=1",
)
WINDOWS = ("sc:4-4:early_stop=1",)
VOTES = ("sc:6", "sc:7", "sc:8")


def load(db: sqlite3.Connection) -> dict[str, dict[str, tuple[bool, int, int]]]:
    """problem -> method -> (right, B_seq, B_total), for the runs of evaluations `exp` and `win`."""
    runs: dict[str, dict[str, tuple[bool, int, int]]] = {}
    rows = db.execute(
        "SELECT e.problem_id, e.method, e.correct, r.b_seq, r.b_total FROM eval_items e "
        "JOIN runs r ON r.thread_id = e.thread_id "
        "WHERE e.eval IN ('exp', 'win') AND e.dataset = 'gsm8k' AND r.status = 'completed'"
    )
    for problem, method, correct, b_seq, b_total in rows:
        runs.setdefault(problem, {})[method] = (bool(correct), b_seq, b_total)
    return {p: m for p, m in runs.items() if all(x in m for x in (*PDR, *WINDOWS, *VOTES))}


def main(path: str) -> None:
    runs = load(sqlite3.connect(path))
    n = len(runs)
    print(f"GSM8K problems 37-60 finished by every method: {n}\n")
    print("| method | right | mean B_seq | mean B_total | vs PDR 4,1 k=2 | vs sc:6 | vs sc:7 | vs sc:8 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for method in (*PDR, *WINDOWS, *VOTES):
        right = sum(runs[p][method][0] for p in runs)
        b_seq = sum(runs[p][method][1] for p in runs) / n
        b_total = sum(runs[p][method][2] for p in runs) / n
        cells = []
        for other in (PDR[0], *VOTES):
            if other == method:
                cells.append("")
                continue
            won = sum(runs[p][method][0] and not runs[p][other][0] for p in runs)
            lost = sum(runs[p][other][0] and not runs[p][method][0] for p in runs)
            cells.append(f"{won} / {lost} ({sign_test(won, lost):.2f})")
        print(f"| {method} | {right} | {b_seq:,.0f} | {b_total:,.0f} | " + " | ".join(cells) + " |")


def tournament_b_seq_by_level(path: str) -> tuple[float, float]:
    """Mean B_seq of the tournament runs as measured (their comparisons ran one after another) and as
    the same calls cost with each bracket level's comparisons in parallel, one stage (the distiller
    since 2026-12-05): level 1's comparisons are known from the drafts and the seed; the rest are
    level 2's."""
    with open_store(path) as store:
        rows = store.ledger.engine.connect().exec_driver_sql(
            "SELECT e.thread_id FROM eval_items e JOIN runs r ON r.thread_id = e.thread_id "
            "WHERE e.eval = 'exp' AND e.method = ? AND r.status = 'completed'",
            (PDR[2],),
        )
        measured, by_level = [], []
        for (thread_id,) in rows.fetchall():
            result = store.ledger.load_result(thread_id)
            calls = sorted((c for c in result.calls if c.role == "distill"), key=lambda c: c.index)
            measured.append(result.b_seq)
            if not calls:
                by_level.append(result.b_seq)
                continue
            drafts = result.rounds[0].drafts
            rng = random.Random(derive_seed(result.config.seed, "distill", 1, "tournament"))
            # the first level that compares anything: known before any verdict
            first = len(next(knockout(finished(drafts) or drafts, keep=1, rng=rng, round_drafts=drafts)))
            stages = [calls[:first], calls[first:]]
            parallel = sum(max(c.total_tokens for c in stage) for stage in stages if stage)
            by_level.append(result.b_seq - sum(c.total_tokens for c in calls) + parallel)
    return sum(measured) / len(measured), sum(by_level) / len(by_level)


if __name__ == "__main__":
    store = sys.argv[1] if len(sys.argv) > 1 else "main.sqlite"
    main(store)
    measured, by_level = tournament_b_seq_by_level(store)
    print(f"\ntournament: mean B_seq {measured:,.0f} as measured, {by_level:,.0f} by level in parallel")
