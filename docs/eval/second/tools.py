"""Does the sandboxed python tool make the 1.5B coder model better? (issue 24) GSM8K and MATH-500.

The single pass, `sc:4` and PDR 4,4 `majority_k` `early_stop=1`, each with and without the `python`
tool (called in fenced blocks, `tool_format=fenced`), on the same problems; the runs without the tool
are the main evaluation's, read back at no model cost.

    gunzip -c docs/eval/second/main.sqlite.gz > main.sqlite
    python docs/eval/second/tools.py main.sqlite

The runs are the evaluation `tools` of the store (`pdr eval --dataset gsm8k --limit 60 --methods "$M"
--name tools` and the same with `--dataset math500 --limit 40`, `M` as `METHODS` below).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter

from langgraph_pdr.evals.compare import sign_test
from langgraph_pdr.evals.report import wilson_interval

TOOL = ":tools=python:tool_format=fenced"
BASE = ("single", "sc:4", "pdr:4-4:majority_k:early_stop=1")
METHODS = (*BASE, *(m + TOOL for m in BASE))


def load(
    db: sqlite3.Connection, eval_name: str, dataset: str
) -> dict[str, dict[str, tuple[bool, int, int, str]]]:
    """problem -> method -> (right, B_seq, B_total, thread id), for problems every method finished."""
    runs: dict[str, dict[str, tuple[bool, int, int, str]]] = {}
    rows = db.execute(
        "SELECT e.problem_id, e.method, e.correct, r.b_seq, r.b_total, r.thread_id FROM eval_items e "
        "JOIN runs r ON r.thread_id = e.thread_id "
        "WHERE e.eval = ? AND e.dataset = ? AND r.status = 'completed'",
        (eval_name, dataset),
    )
    for problem, method, correct, b_seq, b_total, thread in rows:
        runs.setdefault(problem, {})[method] = (bool(correct), b_seq, b_total, thread)
    return {p: m for p, m in runs.items() if all(x in m for x in METHODS)}


def turn_counts(db: sqlite3.Connection, threads: list[str]) -> Counter[str]:
    """How the tool-using drafts of `threads` went: turns per draft, code run or not, tool calls used."""
    per_draft: dict[tuple[str, int, int], list[list[dict]]] = {}
    for chunk in range(0, len(threads), 500):
        part = threads[chunk : chunk + 500]
        marks = ",".join("?" * len(part))
        for thread, rnd, idx, calls in db.execute(
            f"SELECT thread_id, round, idx, tool_calls FROM turns WHERE thread_id IN ({marks})", part
        ):
            per_draft.setdefault((thread, rnd, idx), []).append(json.loads(calls))
    counts: Counter[str] = Counter()
    for turns in per_draft.values():
        calls = sum(len(t) for t in turns)
        counts["drafts"] += 1
        counts[f"{len(turns)} turns"] += 1
        counts["ran no code" if calls == 0 else "ran code"] += 1
        counts["a tool error"] += any(c.get("error") for t in turns for c in t)
    return counts


def main(path: str, eval_name: str = "tools") -> None:
    db = sqlite3.connect(path)
    for dataset in ("gsm8k", "math500"):
        runs = load(db, eval_name, dataset)
        if runs:
            table(db, runs, f"{dataset} problems finished by every method of evaluation {eval_name!r}")


def table(db: sqlite3.Connection, runs: dict[str, dict[str, tuple[bool, int, int, str]]], title: str) -> None:
    """The paired table of `runs` and how their tool-using drafts went."""
    n = len(runs)
    print(f"{title}: {n}\n")
    print("| method | right | 95% interval | mean B_seq | mean B_total | tool vs none | vs single |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for method in METHODS:
        right = sum(runs[p][method][0] for p in runs)
        low, high = wilson_interval(right, n)
        b_seq = sum(runs[p][method][1] for p in runs) / n
        b_total = sum(runs[p][method][2] for p in runs) / n
        cells = []
        for other in (method.removesuffix(TOOL) if method.endswith(TOOL) else None, "single"):
            if other is None or other == method:
                cells.append("")
                continue
            won = sum(runs[p][method][0] and not runs[p][other][0] for p in runs)
            lost = sum(runs[p][other][0] and not runs[p][method][0] for p in runs)
            cells.append(f"{won} / {lost} ({sign_test(won, lost):.2f})")
        name = method.replace(TOOL, " + python tool")
        print(
            f"| {name} | {right}/{n} | {100 * low:.0f}-{100 * high:.0f}% | {b_seq:,.0f} | {b_total:,.0f} | "
            + " | ".join(cells)
            + " |"
        )
    counts = turn_counts(db, [runs[p][m][3] for p in runs for m in METHODS if m.endswith(TOOL)])
    print("\nTool-using drafts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:] or ["main.sqlite"])
