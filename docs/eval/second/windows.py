"""Self-consistency in windows at other early-stop fractions, replayed from `sc:8`'s ledger.

A windowed run (`sc:4-4:early_stop=F`) sends exactly `sc:8`'s requests up to where it stops (its drafts
are seeded as one sample), so its answer, B_total and B_seq at any F follow from the stored `sc:8` run:
the first four drafts, and the stop rule and vote of the library (`converged`, `vote`). The replay of
F = 1.0 is checked against the stored `sc:4-4:early_stop=1` runs; then other fractions are reported,
each against `sc:8` and against F = 1.0, paired.

    gunzip -c docs/eval/second/main.sqlite.gz > main.sqlite
    python docs/eval/second/windows.py main.sqlite
"""

from __future__ import annotations

import sqlite3
import sys

from langgraph_pdr import PDRConfig
from langgraph_pdr.nodes.answers import vote
from langgraph_pdr.nodes.collect import converged
from langgraph_pdr.nodes.grading import is_correct
from langgraph_pdr.state.records import Draft

FRACTIONS = (1.0, 0.75, 0.5)


def replay(drafts: list[tuple[Draft, int]], fraction: float) -> tuple[Draft | None, int, int, bool]:
    """(the answer's draft, B_total, B_seq, stopped after the first window) of `sc:4-4:early_stop=F`."""
    first = drafts[:4]
    config = PDRConfig(method="self_consistency", schedule=(4, 4), early_stop=fraction)
    if converged([d for d, _ in first], config, 1, None):
        return vote([d for d, _ in first]), sum(t for _, t in first), max(t for _, t in first), True
    seq = max(t for _, t in first) + max(t for _, t in drafts[4:])
    return vote([d for d, _ in drafts]), sum(t for _, t in drafts), seq, False


def main(path: str) -> None:
    db = sqlite3.connect(path)
    for dataset in ("gsm8k", "math500"):
        rows = db.execute(
            "SELECT e.problem_id, e.method, e.correct, e.thread_id, e.gold FROM eval_items e "
            "JOIN runs r ON r.thread_id = e.thread_id WHERE e.eval IN ('main', 'win') AND e.dataset = ? "
            "AND e.method IN ('sc:8', 'sc:4-4:early_stop=1') AND r.status IN ('completed', 'converged')",
            (dataset,),
        ).fetchall()
        runs: dict[str, dict[str, tuple[bool, str, str]]] = {}
        for problem, method, correct, thread, gold in rows:
            runs.setdefault(problem, {})[method] = (bool(correct), thread, gold)
        problems = sorted(p for p, m in runs.items() if len(m) == 2)
        if not problems:
            continue
        stored = {p: runs[p]["sc:4-4:early_stop=1"] for p in problems}
        results: dict[float, dict[str, tuple[bool, int, int, bool]]] = {f: {} for f in FRACTIONS}
        sc8: dict[str, bool] = {}
        for p in problems:
            sc8_right, thread, gold = runs[p]["sc:8"]
            sc8[p] = sc8_right
            calls = dict(
                db.execute(
                    "SELECT idx, input_tokens + output_tokens FROM calls WHERE thread_id = ? AND round = 1",
                    (thread,),
                ).fetchall()
            )
            drafts = [
                (Draft(round=1, index=i, text=text, answer=answer, unfinished=bool(unfinished)), calls[i])
                for i, text, answer, unfinished in db.execute(
                    "SELECT idx, text, answer, unfinished FROM drafts WHERE thread_id = ? AND round = 1 "
                    "ORDER BY idx",
                    (thread,),
                ).fetchall()
            ]
            for f in FRACTIONS:
                chosen, b_total, b_seq, stopped = replay(drafts, f)
                right = chosen is not None and is_correct(chosen.text, gold)
                results[f][p] = (right, b_total, b_seq, stopped)
        same = sum(results[1.0][p][0] == stored[p][0] for p in problems)
        print(f"{dataset}: {len(problems)} problems; replay of early_stop=1 = stored runs on {same}")
        print(
            "| early_stop | right | mean B_seq | mean B_total | stopped early | vs sc:8 | vs early_stop=1 |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        n = len(problems)
        for f in FRACTIONS:
            r = results[f]
            right = sum(v[0] for v in r.values())
            won8 = sum(r[p][0] and not sc8[p] for p in problems)
            lost8 = sum(sc8[p] and not r[p][0] for p in problems)
            won1 = sum(r[p][0] and not results[1.0][p][0] for p in problems)
            lost1 = sum(results[1.0][p][0] and not r[p][0] for p in problems)
            print(
                f"| {f:g} | {right} | {sum(v[2] for v in r.values()) / n:,.0f} | "
                f"{sum(v[1] for v in r.values()) / n:,.0f} | {sum(v[3] for v in r.values())} | "
                f"{won8} / {lost8} | {won1} / {lost1} |"
            )
        print()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "main.sqlite")
