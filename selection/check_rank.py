"""How checks rank drafts and pick a run's answer: a draft with its check (`with_checks`), the best
checked draft (`best_checked`), the largest group of passing drafts that agree (`agreeing_passes`),
drafts best first by check with diverse failures first (`by_check`), and the code-written tally of a
round's checks (`check_tally`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from langgraph_pdr.state.records import Check, Draft


def with_checks(drafts: Sequence[Draft], checks: Sequence[Check]) -> list[Draft]:
    """`drafts` with their checks filled in."""
    by_draft = {(c.round, c.index): c for c in checks}
    return [
        d.model_copy(update={"check": by_draft[(d.round, d.index)]}) if (d.round, d.index) in by_draft else d
        for d in drafts
    ]


def passed(drafts: Sequence[Draft], round: int) -> bool:
    """Whether a draft of round `round` passed its checks."""
    return any(d.round == round and d.check is not None and d.check.passed for d in drafts)


def agreeing_passes(drafts: Sequence[Draft]) -> int:
    """The size of the largest group of passing drafts that agree: the same outputs on every visible
    test and every probe input (`Check.outputs`); 0 when none passed.

    Example:
        ```python
        from langgraph_pdr import Check, Draft
        from langgraph_pdr.selection.check_rank import agreeing_passes

        def draft(i, probes, passed=True):
            check = Check(round=1, index=i, verifier="python_tests", passed=passed, score=1.0 * passed,
                          probes=probes)
            return Draft(round=1, index=i, check=check)

        drafts = [draft(0, ["1", "2"]), draft(1, ["1", "3"]), draft(2, ["1", "2"]), draft(3, [], False)]
        assert agreeing_passes(drafts) == 2
        ```
    """
    groups = Counter(d.check.outputs for d in drafts if d.ok and d.check is not None and d.check.passed)
    return max(groups.values(), default=0)


def best_checked(drafts: Sequence[Draft]) -> Draft | None:
    """The run's answer by its checks: a passing draft, else the best-scored; among equals, the one
    whose outputs on the visible tests and the probe inputs agree with the most checked drafts
    (execution agreement), then the first (earliest round, lowest index); a draft listed twice counts
    once. None when no draft was checked.

    Example:
        ```python
        from langgraph_pdr import Check, Draft
        from langgraph_pdr.selection.check_rank import best_checked

        def draft(i, passed, score):
            check = Check(round=1, index=i, verifier="python_tests", passed=passed, score=score)
            return Draft(round=1, index=i, text=f"program {i}", check=check)

        assert best_checked([draft(0, False, 0.5), draft(1, True, 1.0), draft(2, True, 1.0)]).index == 1
        assert best_checked([draft(0, False, 0.0), draft(1, False, 0.5)]).index == 1
        ```
    """
    # a draft given twice (a window's drafts and the answer so far, which is one of them) counts once
    unique = {(d.round, d.index): d for d in reversed(drafts)}
    checked = [d for d in unique.values() if d.ok and d.check is not None]
    if not checked:
        return None
    agree = Counter(d.check.outputs for d in checked if d.check is not None)

    def rank(d: Draft) -> tuple[Any, ...]:
        c = d.check
        assert c is not None
        return (not c.passed, -c.score, -agree[c.outputs], d.round, d.index)

    return min(checked, key=rank)


def check_label(check: Check) -> str:
    """A check in a few words, for the tally: the first line of its feedback, else passed or failed."""
    first = (check.feedback or "").strip().splitlines()
    label = first[0].rstrip(".") if first else ("passed" if check.passed else "failed")
    return label if len(label) <= 100 else label[:97] + "..."


def check_tally(drafts: Sequence[Draft]) -> str:
    """The code-written tally of a round's checks, best first: `Passed 3 of 3 visible tests (attempt
    2); Passed 1 of 3 visible tests (attempts 1, 4); not checked (attempt 3)`. Attempts are numbered
    by the draft's index in its round, from 1.

    Example:
        ```python
        from langgraph_pdr import Check, Draft
        from langgraph_pdr.selection.check_rank import check_tally

        def draft(i, score, feedback):
            check = Check(round=1, index=i, verifier="python_tests", passed=score == 1.0, score=score,
                          feedback=feedback)
            return Draft(round=1, index=i, check=check)

        half, full = "Passed 1 of 2 visible tests.", "Passed 2 of 2 visible tests."
        drafts = [draft(0, 0.5, half), draft(1, 1.0, full), draft(2, 0.5, half + "\\nFailed: ...")]
        assert check_tally(drafts) == (
            "Passed 2 of 2 visible tests (attempt 2); Passed 1 of 2 visible tests (attempts 1, 3)"
        )
        ```
    """
    groups: dict[str, list[Draft]] = {}
    for d in sorted(drafts, key=lambda d: d.index):
        groups.setdefault(check_label(d.check) if d.check is not None else "not checked", []).append(d)

    def rank(label: str) -> tuple[Any, ...]:
        c = groups[label][0].check
        return (c is None, not (c and c.passed), -(c.score if c else 0.0), groups[label][0].index)

    parts = []
    for label in sorted(groups, key=rank):
        numbers = [str(d.index + 1) for d in groups[label]]
        parts.append(f"{label} (attempt{'s' if len(numbers) > 1 else ''} {', '.join(numbers)})")
    return "; ".join(parts)


def failure(draft: Draft) -> tuple[Any, ...]:
    """How a draft failed its checks, as a key: drafts with the same key failed the same way (the same
    tests, with the same results or errors)."""
    c = draft.check
    if c is None:
        return ("unchecked",)
    first = (c.feedback or "").splitlines()[:1]
    return (c.passed, *first, *((t.passed, t.got, (t.error or "").split(":")[0]) for t in c.tests))


def by_check(drafts: Sequence[Draft]) -> list[Draft]:
    """Drafts best first by their checks (passed, then score); among equal scores, drafts that fail
    differently come before those that repeat a failure already listed (diversity, not the majority),
    then the lower index.

    Example:
        ```python
        from langgraph_pdr import Check, Draft, TestResult
        from langgraph_pdr.selection.check_rank import by_check

        def draft(i, got):
            test = TestResult(test="assert f() == 1", passed=False, expected="1", got=got)
            check = Check(round=1, index=i, verifier="python_tests", passed=False, score=0.0, tests=[test])
            return Draft(round=1, index=i, check=check)

        # drafts 0 and 1 fail the same way, draft 2 differently: 2 comes before the repeat
        assert [d.index for d in by_check([draft(0, "2"), draft(1, "2"), draft(2, "3")])] == [0, 2, 1]
        ```
    """

    def score(d: Draft) -> tuple[bool, float]:
        return (bool(d.check and d.check.passed), d.check.score if d.check else -1.0)

    out: list[Draft] = []
    for level in sorted({score(d) for d in drafts}, reverse=True):
        seen: Counter[tuple[Any, ...]] = Counter()
        ranked = []
        for d in sorted((d for d in drafts if score(d) == level), key=lambda d: d.index):
            key = failure(d)
            ranked.append((seen[key], d.index, d))
            seen[key] += 1
        out += [d for _, _, d in sorted(ranked, key=lambda r: (r[0], r[1]))]
    return out
