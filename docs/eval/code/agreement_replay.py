"""Execution agreement on generated inputs, replayed over the code evaluation's stored drafts (not a
shipped method): best-of-8's eight sampled drafts of each task are re-run, in the sandbox, on the probe inputs
`python_tests` makes from the visible tests' arguments (`langgraph_pdr.checking.probes`), and two rules
are scored on the hidden plus tests.

- selection: among the drafts that pass the visible tests, answer with the largest group that agrees on
  every generated input (the S* rule, with model-free inputs), against answering with the first;
- stopping: read the eight samples as two rounds of four; stop after the first four when at least N of
  them pass and agree, else take all eight and select as above (mean tokens of the drafts used).

    python docs/eval/code/agreement_replay.py code.sqlite [--limit 80] [--out replay.md]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from langgraph_pdr.checking.probes import probe_inputs
from langgraph_pdr.checking.programs import sanitize, split_tests
from langgraph_pdr.checkpoints.store import open_ledger
from langgraph_pdr.evals import EvalStore, load_dataset
from langgraph_pdr.evals.code_grading import CodeGrader
from langgraph_pdr.tooling.sandboxed_python import run_python


def outputs(program: str, name: str, inputs: list[list[Any]]) -> tuple[str, ...] | None:
    """What `program`'s `name` returns (or raises) on each input, run in the sandbox; None when the
    program fails to load."""
    source = "\n".join(
        [
            "import copy, json, signal",
            "class _Late(BaseException): pass",
            "def _alarm(*a): raise _Late()",
            "signal.signal(signal.SIGALRM, _alarm)",
            "_g = {}",
            f"exec(compile({sanitize(program, [name])!r}, '<program>', 'exec'), _g)",
            "_out = []",
            f"for _a in eval({repr(inputs)!r}):",
            "    signal.setitimer(signal.ITIMER_REAL, 1.0)",
            "    try:",
            f"        _r = repr(_g[{name!r}](*copy.deepcopy(_a)))[:200]",
            "    except _Late:",
            "        _r = '!timeout'",
            "    except BaseException as e:",
            "        _r = '!' + type(e).__name__",
            "    finally:",
            "        signal.setitimer(signal.ITIMER_REAL, 0)",
            "    _out.append(_r)",
            "print('@@' + json.dumps(_out))",
        ]
    )
    run = run_python(source, wall_s=40, cpu_s=41, output_chars=1_000_000)
    for line in run.stdout.splitlines():
        if line.startswith("@@["):
            return tuple(json.loads(line[2:]))
    return None


def pick(drafts: list[dict[str, Any]], agree: bool = True) -> dict[str, Any]:
    """The answer among `drafts`: a passing one (the largest agreeing group's first, or the first), else
    the first draft."""
    passing = [d for d in drafts if d["visible"]]
    if not passing:
        return drafts[0]
    if not agree:
        return passing[0]
    groups = Counter(d["outputs"] for d in passing)
    return min(passing, key=lambda d: (-groups[d["outputs"]], d["index"]))


def stopped(drafts: list[dict[str, Any]], need: int) -> tuple[dict[str, Any], int]:
    """The stop rule: the answer and how many drafts it used."""
    first = drafts[:4]
    groups = Counter(d["outputs"] for d in first if d["visible"])
    if groups and max(groups.values()) >= need:
        return pick(first), 4
    return pick(drafts), 8


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("db")
    args.add_argument("--limit", type=int, default=80)
    args.add_argument("--out", default=str(Path(__file__).with_name("agreement_replay.md")))
    opts = args.parse_args()
    ledger = open_ledger(opts.db)
    store, grader = EvalStore(ledger), CodeGrader(ledger.engine)
    tasks = {p.id: p for p in load_dataset("humanevalplus")}
    items = [i for i in store.items("code-humanevalplus") if i.finished and i.method == "bon:8"]
    items = sorted(items, key=lambda i: int(i.problem_id.split("/")[1]))[: opts.limit]
    per_task = []
    for item in items:
        task = tasks[item.problem_id]
        name, inputs = probe_inputs(split_tests(task.tests)[1])
        drafts = []
        for d in ledger.load_result(item.thread_id).rounds[0].drafts:  # type: ignore[attr-defined]
            visible = bool(d.check and d.check.passed)
            ran = outputs(d.answer, name, inputs) if visible and d.answer and name and inputs else None
            drafts.append(
                {
                    "index": d.index,
                    "visible": visible,
                    "outputs": ran,
                    "plus": grader.grade(d.answer, task.code).plus,
                    "tokens": d.call.total_tokens if d.call else 0,
                }
            )
        per_task.append(drafts)
    n = len(per_task)
    rows = []
    for label, rule in [
        ("best of 4, first passing", lambda ds: (pick(ds[:4], agree=False), 4)),
        ("best of 4, largest agreeing group", lambda ds: (pick(ds[:4]), 4)),
        ("best of 8, first passing (bon:8's rule)", lambda ds: (pick(ds, agree=False), 8)),
        ("best of 8, largest agreeing group", lambda ds: (pick(ds), 8)),
        ("stop after 4 when 2 passing agree, else 8", lambda ds: stopped(ds, 2)),
        ("stop after 4 when 3 passing agree, else 8", lambda ds: stopped(ds, 3)),
    ]:
        chosen = [rule(ds) for ds in per_task]
        right = sum(d["plus"] for d, _ in chosen)
        tokens = sum(
            sum(x["tokens"] for x in ds[:used]) for ds, (_, used) in zip(per_task, chosen, strict=True)
        )
        bon8 = [pick(ds, agree=False)["plus"] for ds in per_task]
        won = sum(d["plus"] and not b for (d, _), b in zip(chosen, bon8, strict=True))
        lost = sum(b and not d["plus"] for (d, _), b in zip(chosen, bon8, strict=True))
        rows.append(f"| {label} | {100 * right / n:.1f} | {tokens / n:,.0f} | {won} / {lost} |")
    head = [
        "| rule | plus pass@1 % | mean tokens | against bon:8's rule (won / lost) |",
        "|---|---:|---:|---:|",
    ]
    Path(opts.out).write_text(
        f"# Agreement on generated inputs, replayed ({n} HumanEval+ tasks)\n\n"
        + "\n".join(head + rows)
        + "\n"
    )
    print(opts.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
