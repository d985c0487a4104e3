"""What the code evaluation's ledger says (issue 40): the headroom, selection by visible tests, and what
the refine rounds did. Reads the store that `run.sh` fills; grades every draft it needs (the grades are
kept in the store's `code_grades`, so a second run grades nothing); writes `analysis.md` beside it.

    python docs/eval/code/analysis.py code.sqlite [--out docs/eval/code/analysis.md]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

from langgraph_pdr.checkpoints.store import open_ledger
from langgraph_pdr.evals import EvalStore, load_dataset
from langgraph_pdr.evals.code_grading import CodeGrader
from langgraph_pdr.evals.compare import sign_test

DATASETS = {"code-humanevalplus": "humanevalplus", "code-mbppplus": "mbppplus"}


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of a problem with c of n samples right (Chen et al., 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1 - k / i for i in range(n - c + 1, n + 1))


def short(method: str) -> str:
    """A method's label without the options every checked method of run.sh shares."""
    for common in (":max_tokens.refine=768", ":stop_on_pass=true"):
        method = method.replace(common, "")
    return method


def table(rows: list[list[str]], head: list[str]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("db")
    args.add_argument("--out", default=str(Path(__file__).with_name("analysis.md")))
    opts = args.parse_args()
    ledger = open_ledger(opts.db)
    store, grader = EvalStore(ledger), CodeGrader(ledger.engine)
    parts = ["# The code evaluation: what the ledger shows", ""]
    for name, dataset in DATASETS.items():
        items = [i for i in store.items(name) if i.finished]
        if not items:
            continue
        tasks = {p.id: p for p in load_dataset(dataset)}
        by_method: dict[str, dict[str, object]] = defaultdict(dict)
        for i in items:
            by_method[i.method][i.problem_id] = i
        problems = sorted({i.problem_id for i in items}, key=lambda t: int(t.split("/")[1]))
        parts += [f"## {dataset} ({len(problems)} tasks)", ""]

        # headroom: every sampled first-round draft of bon:8, graded on the hidden tests
        samples: dict[str, list[bool]] = {}
        visible: dict[str, list[bool]] = {}
        for pid, item in by_method.get("bon:8", {}).items():
            result = ledger.load_result(item.thread_id)  # type: ignore[attr-defined]
            drafts = result.rounds[0].drafts
            samples[pid] = [grader.grade(d.answer, tasks[pid].code).plus for d in drafts]
            visible[pid] = [bool(d.check and d.check.passed) for d in drafts]
        if samples:
            n = len(samples)
            rows = [
                [f"pass@{k}", f"{100 * sum(pass_at_k(len(s), sum(s), k) for s in samples.values()) / n:.1f}"]
                for k in (1, 2, 4, 8)
            ]
            greedy = by_method.get("single:temperature=0", {})
            if greedy:
                rows.append(
                    [
                        "greedy pass@1",
                        f"{100 * sum(1 for i in greedy.values() if i.correct) / len(greedy):.1f}",
                    ]
                )  # type: ignore[attr-defined]
            fp = sum(
                1 for pid in samples for v, h in zip(visible[pid], samples[pid], strict=True) if v and not h
            )
            vis = sum(sum(v) for v in visible.values())
            rows.append(["drafts passing visible tests", f"{vis} of {8 * n}"])
            rows.append(["... of which fail the hidden plus tests", f"{fp}"])
            solvable = sum(1 for s in samples.values() if any(s))
            picked = sum(1 for pid in samples if by_method["bon:8"][pid].correct)  # type: ignore[attr-defined]
            rows.append(["tasks some sample solves / bon:8 solves", f"{solvable} / {picked}"])
            parts += [
                "Headroom: the 8 sampled first drafts of each task (bon:8's), graded on the hidden plus "
                "tests (pass@k unbiased, Chen et al. 2021).",
                "",
                table(rows, ["measure", "value"]),
                "",
            ]

        # paired comparisons
        methods = list(by_method)
        rows = []
        for base in ("single", "bon:4", "bon:8"):
            if base not in by_method:
                continue
            for m in methods:
                if m == base:
                    continue
                both = [p for p in problems if p in by_method[m] and p in by_method[base]]
                won = sum(1 for p in both if by_method[m][p].correct and not by_method[base][p].correct)  # type: ignore[attr-defined]
                lost = sum(1 for p in both if by_method[base][p].correct and not by_method[m][p].correct)  # type: ignore[attr-defined]
                mb = sum(by_method[m][p].b_total for p in both) / max(len(both), 1)  # type: ignore[attr-defined]
                bb = sum(by_method[base][p].b_total for p in both) / max(len(both), 1)  # type: ignore[attr-defined]
                rows.append(
                    [
                        short(m),
                        base,
                        str(len(both)),
                        str(won),
                        str(lost),
                        f"{sign_test(won, lost):.3f}",
                        f"{mb:,.0f}",
                        f"{bb:,.0f}",
                    ]
                )
        parts += [
            "Paired (plus tests): problems one method got right and the other did not.",
            "",
            table(
                rows,
                [
                    "method",
                    "against",
                    "n",
                    "won",
                    "lost",
                    "sign test p",
                    "its mean B_total",
                    "against's mean B_total",
                ],
            ),
            "",
        ]

        # what the refine rounds did
        rows = []
        for m in methods:
            if not m.startswith(("pdr:", "sr:")):
                continue
            refined = fixed = copied = refine_drafts = 0
            stops = Counter()
            for pid, item in by_method[m].items():
                result = ledger.load_result(item.thread_id)  # type: ignore[attr-defined]
                stops[result.stop_reason] += 1
                if len(result.rounds) < 2:
                    continue
                refined += 1
                earlier = {d.answer for r in result.rounds[:-1] for d in r.drafts}
                before = any(
                    grader.grade(d.answer, tasks[pid].code).plus for r in result.rounds[:-1] for d in r.drafts
                )
                after = any(grader.grade(d.answer, tasks[pid].code).plus for d in result.rounds[-1].drafts)
                fixed += int(after and not before)
                refine_drafts += len(result.rounds[-1].drafts)
                copied += sum(1 for d in result.rounds[-1].drafts if d.answer in earlier)
            rows.append(
                [
                    short(m),
                    str(len(by_method[m])),
                    ", ".join(f"{k} {v}" for k, v in stops.items()),
                    str(refined),
                    str(fixed),
                    f"{copied} of {refine_drafts}",
                ]
            )
        parts += [
            "Refine rounds: runs that went past round 1, how many of them a later round fixed (a draft "
            "passing the hidden plus tests where no earlier draft did), and how many last-round programs "
            "repeat an earlier program verbatim.",
            "",
            table(
                rows,
                [
                    "method",
                    "tasks",
                    "stop reasons",
                    "refined",
                    "fixed by a refine round",
                    "last-round programs copied",
                ],
            ),
            "",
        ]
    Path(opts.out).write_text("\n".join(parts) + "\n", encoding="utf-8")
    print(opts.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
