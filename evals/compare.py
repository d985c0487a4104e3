"""Paired comparison against a baseline method: on the problems both settled, how many each got right
that the other got wrong, with the exact sign test (McNemar's exact test) on those problems.

Per-method intervals of a small evaluation overlap even where one method is better on almost every
problem the two disagree on; the paired count is the sharper reading of the same runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

from langgraph_pdr.evals.eval_store import Item

BASELINE = "single"


@dataclass(frozen=True)
class Comparison:
    """A method against the baseline on one dataset: `won` problems only it got right, `lost` only
    the baseline did, out of `n` both settled (a failed run counts as wrong)."""

    dataset: str
    method: str
    baseline: str
    n: int
    won: int
    lost: int
    p_value: float


def sign_test(won: int, lost: int) -> float:
    """The exact two-sided sign test of `won` against `lost` (ties left out): 1.0 when both are 0.

    Example:
        ```python
        from langgraph_pdr.evals import sign_test

        assert round(sign_test(13, 3), 3) == 0.021  # won 13, lost 3
        ```
    """
    n, k = won + lost, min(won, lost)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)


def compare(items: Sequence[Item], *, baseline: str = BASELINE) -> list[Comparison]:
    """Every other method against `baseline`, per dataset: datasets, then methods, in the order the
    items first list them; empty when the baseline has no settled run.

    Example:
        ```python
        from langgraph_pdr.evals import compare
        from langgraph_pdr.evals.harness import eval_store

        store = eval_store("eval.sqlite")  # the store `pdr eval --db eval.sqlite` wrote
        for c in compare(store.items("qwen1.5b-final")):
            print(c.dataset, c.method, f"won {c.won}, lost {c.lost}, p = {c.p_value:.3f}")
        ```
    """
    right: dict[tuple[str, str], dict[str, bool]] = {}
    for i in items:
        if i.settled:
            right.setdefault((i.dataset, i.method), {})[i.problem_id] = bool(i.correct)
    datasets = list(dict.fromkeys(i.dataset for i in items))
    methods = list(dict.fromkeys(i.method for i in items))
    rows = []
    for dataset, method in sorted(right, key=lambda k: (datasets.index(k[0]), methods.index(k[1]))):
        answers = right[(dataset, method)]
        base = right.get((dataset, baseline))
        if method == baseline or base is None:
            continue
        both = answers.keys() & base.keys()
        won = sum(1 for p in both if answers[p] and not base[p])
        lost = sum(1 for p in both if base[p] and not answers[p])
        rows.append(Comparison(dataset, method, baseline, len(both), won, lost, sign_test(won, lost)))
    return rows
