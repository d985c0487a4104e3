"""The second evaluation's GSM8K tables and plot over all its problems: 1-36 from the aggregates
recorded on 2026-12-02 (their store was lost with its machine), 37-60 from the store in this directory.

    gunzip -c docs/eval/second/main.sqlite.gz > main.sqlite
    python docs/eval/second/combine.py main.sqlite > tables.md

Prints Markdown tables (problems 37-60 alone, then all) and draws `accuracy_vs_budget.png` next to
this file. Only problems every method has finished count.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from langgraph_pdr.evals.compare import sign_test
from langgraph_pdr.evals.report import MethodStats, plot, wilson_interval

VOTES = ("single", "sc:4", "sc:8")
PDR = (
    "pdr:4-1:majority_k",
    "pdr:4-4:majority_k",
    "pdr:4-4:majority_k:early_stop=1",
    "pdr:4-4:majority_k:early_stop=0.75",
)
SR = "sr:3:early_stop=1"
METHODS = (*VOTES, *PDR, SR)
#: Run on problems 37-60 only (free: their drafts are sc:8's first ones): votes at PDR 4,1's B_total.
EXTRA = ("sc:6", "sc:7")
#: Run on problems 37-60 only: PDR 8,4 starts from sc:8's drafts and refines only when they disagree.
EXTRA_PDR = ("pdr:8-4:majority_k:early_stop=0.5", "pdr:8-4:majority_k:early_stop=0.75")
ADAPTIVE = (*PDR[2:], SR)

#: Problems 1-36, as recorded: method -> (right, mean B_seq, mean B_total, runs stopped early).
RECORDED_N = 36
RECORDED = {
    "single": (22, 413, 413, 0),
    "sc:4": (24, 480, 1688, 0),
    "sc:8": (26, 521, 3388, 0),
    "pdr:4-1:majority_k": (25, 1621, 2828, 0),
    "pdr:4-4:majority_k": (25, 1753, 6254, 0),
    "pdr:4-4:majority_k:early_stop=1": (25, 1135, 4065, 18),
    "pdr:4-4:majority_k:early_stop=0.75": (25, 974, 3484, 23),
    SR: (22, 1189, 1189, 36),
}
#: Problems 1-36, as recorded: (method, other) -> (won, lost); the PDR variants answered alike.
RECORDED_PAIRS = {
    ("sc:4", "single"): (2, 0),
    ("sc:8", "single"): (4, 0),
    ("sc:8", "sc:4"): (2, 0),
    (SR, "single"): (0, 0),
    (SR, "sc:4"): (0, 2),
    (SR, "sc:8"): (0, 4),
    **{(p, "single"): (3, 0) for p in PDR},
    **{(p, "sc:4"): (1, 0) for p in PDR},
    **{(p, "sc:8"): (0, 1) for p in PDR},
}


def recorded_pair(method: str, other: str) -> tuple[int, int]:
    if (method, other) in RECORDED_PAIRS:
        return RECORDED_PAIRS[(method, other)]
    if (other, method) in RECORDED_PAIRS:
        won, lost = RECORDED_PAIRS[(other, method)]
        return lost, won
    return 0, 0  # two PDR variants


def load(db: str) -> dict[str, dict[str, tuple[bool, int, int, str]]]:
    """problem -> method -> (right, B_seq, B_total, stop reason), problems every method finished."""
    rows = sqlite3.connect(db).execute(
        "SELECT e.problem_id, e.method, e.correct, r.b_seq, r.b_total, r.stop_reason FROM eval_items e "
        "JOIN runs r ON r.thread_id = e.thread_id "
        "WHERE e.eval = 'main' AND e.dataset = 'gsm8k' AND r.status = 'completed'"
    )
    runs: dict[str, dict[str, tuple[bool, int, int, str]]] = {}
    for problem, method, correct, b_seq, b_total, stop in rows:
        runs.setdefault(problem, {})[method] = (bool(correct), b_seq, b_total, stop)
    return {p: r for p, r in sorted(runs.items()) if all(m in r for m in METHODS)}


def sums(runs: dict, method: str, *, recorded: bool) -> tuple[int, int, int, int, int]:
    """(right, n, summed B_seq, summed B_total, stopped early) over the store, plus 1-36 if `recorded`."""
    got = [r[method] for r in runs.values()]
    right, n = sum(g[0] for g in got), len(got)
    b_seq, b_total = sum(g[1] for g in got), sum(g[2] for g in got)
    early = sum(g[3] == "converged" for g in got)
    if recorded:
        r, s, t, e = RECORDED[method]
        right, n, early = right + r, n + RECORDED_N, early + e
        b_seq, b_total = b_seq + s * RECORDED_N, b_total + t * RECORDED_N
    return right, n, b_seq, b_total, early


def pair(runs: dict, method: str, other: str, *, recorded: bool) -> tuple[int, int]:
    won = sum(r[method][0] and not r[other][0] for r in runs.values())
    lost = sum(r[other][0] and not r[method][0] for r in runs.values())
    if recorded:
        w, lo = recorded_pair(method, other)
        won, lost = won + w, lost + lo
    return won, lost


def tables(runs: dict, *, recorded: bool) -> list[MethodStats]:
    stats = []
    extra = () if recorded else tuple(m for m in EXTRA if all(m in r for r in runs.values()))
    extra_pdr = () if recorded else tuple(m for m in EXTRA_PDR if all(m in r for r in runs.values()))
    votes = (*VOTES[:2], *extra, VOTES[2])
    methods = (*votes, *PDR, *extra_pdr, SR)
    n_all = len(runs) + (RECORDED_N if recorded else 0)
    print(f"\n**{'all problems' if recorded else 'problems 37-60 (the store)'}: n = {n_all}**\n")
    print("| method | right | accuracy % [95% CI] | mean B_seq | mean B_total | stopped early |")
    print("|---|---:|---:|---:|---:|---:|")
    for m in methods:
        right, n, b_seq, b_total, early = sums(runs, m, recorded=recorded)
        low, high = wilson_interval(right, n)
        mean_seq, mean_total = b_seq / n, b_total / n  # median B_seq was not recorded for 1-36: the mean
        row = (right / n, low, high, mean_seq, mean_seq, mean_total, None, 0, 0)
        stats.append(MethodStats("gsm8k", m, n, right, *row))
        cells = [f"{100 * right / n:.1f} [{100 * low:.0f}–{100 * high:.0f}]", f"{b_seq / n:,.0f}"]
        cells += [f"{b_total / n:,.0f}", str(early) if m in (*ADAPTIVE, *EXTRA_PDR) else ""]
        print(f"| {m} | {right} | " + " | ".join(cells) + " |")
    print("\nwon / lost against each vote, problem by problem (exact sign test p)\n")
    print("| method | " + " | ".join(f"vs {v}" for v in votes) + " |")
    print("|---|" + "---:|" * len(votes))
    for m in methods:
        cells = []
        for other in votes:
            won, lost = pair(runs, m, other, recorded=recorded) if m != other else (0, 0)
            cells.append("" if m == other else f"{won} / {lost} ({sign_test(won, lost):.2f})")
        print(f"| {m} | " + " | ".join(cells) + " |")
    return stats


def main(db: str) -> None:
    runs = load(db)
    tables(runs, recorded=False)
    for adaptive in (PDR[0], *PDR[2:]):
        print(f"\n{adaptive} vs {PDR[1]} (37-60): won / lost {pair(runs, adaptive, PDR[1], recorded=False)}")
    stats = tables(runs, recorded=True)
    title = f"GSM8K, the first 60 problems: {RECORDED_N + len(runs)} finished"
    plot(stats, Path(__file__).with_name("accuracy_vs_budget.png"), title=title)
    print("\nproblems of the store:", ", ".join(runs))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "main.sqlite")
