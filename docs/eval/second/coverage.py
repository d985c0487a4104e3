"""Is the right answer among the drafts at all? pass@8 against the vote of the same 8 (`sc:8`).

A vote, a workspace or a tournament can only pick an answer some draft reached. For each problem of
the main evaluation, this counts how many of `sc:8`'s eight first-round drafts reached the gold answer
(graded as the evaluation grades) and how many were cut off before any answer, and sets that against
what `sc:8` and PDR 4,4 `early_stop=1` answered.

    gunzip -c docs/eval/second/main.sqlite.gz > main.sqlite
    python docs/eval/second/coverage.py main.sqlite
"""

from __future__ import annotations

import sqlite3
import sys
from collections import Counter

from langgraph_pdr.nodes.grading import is_correct

PDR = "pdr:4-4:majority_k:early_stop=1"


def main(path: str) -> None:
    db = sqlite3.connect(path)
    for dataset in ("gsm8k", "math500"):
        rows = db.execute(
            "SELECT e.problem_id, e.method, e.correct, e.thread_id, e.gold FROM eval_items e "
            "JOIN runs r ON r.thread_id = e.thread_id WHERE e.eval = 'main' AND e.dataset = ? "
            "AND e.method IN ('sc:8', ?) AND r.status = 'completed'",
            (dataset, PDR),
        )
        problems: dict[str, dict[str, tuple[bool, str, str]]] = {}
        for problem, method, correct, thread, gold in rows:
            problems.setdefault(problem, {})[method] = (bool(correct), thread, gold)
        problems = {p: m for p, m in problems.items() if len(m) == 2}
        if not problems:
            continue
        shape: Counter[str] = Counter()
        unfinished = 0
        for methods in problems.values():
            sc_right, thread, gold = methods["sc:8"]
            drafts = db.execute(
                "SELECT text, unfinished FROM drafts WHERE thread_id = ? AND round = 1", (thread,)
            ).fetchall()
            right = sum(1 for text, cut in drafts if not cut and is_correct(text, gold))
            unfinished += sum(1 for _, cut in drafts if cut)
            among = "none of 8" if right == 0 else ("1-3 of 8" if right <= 3 else "4-8 of 8")
            shape[(among, sc_right, methods[PDR][0])] += 1
        n = len(problems)
        print(f"{dataset}: {n} problems; {unfinished} of {8 * n} drafts cut off before an answer\n")
        print("| right drafts of sc:8's 8 | problems | sc:8 right | PDR 4,4 early_stop=1 right |")
        print("|---|---:|---:|---:|")
        for among in ("none of 8", "1-3 of 8", "4-8 of 8"):
            cells = {k: v for k, v in shape.items() if k[0] == among}
            total = sum(cells.values())
            sc = sum(v for k, v in cells.items() if k[1])
            pdr = sum(v for k, v in cells.items() if k[2])
            print(f"| {among} | {total} | {sc} | {pdr} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "main.sqlite")
