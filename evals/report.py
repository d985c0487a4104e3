"""The evaluation report: accuracy with a 95% interval, budgets and wall time per method; CSV, JSONL,
a plot of accuracy against B_seq and B_total, the paired comparison against the single pass, and the
B_seq-matched single-pass comparison."""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from langgraph_pdr.checkpoints.ledger import Ledger
from langgraph_pdr.evals.compare import BASELINE, Comparison, compare
from langgraph_pdr.evals.eval_store import Item
from langgraph_pdr.evals.html import write_index
from langgraph_pdr.evals.plot import plot

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default); (0, 1) when n is 0.

    Unlike the normal approximation it stays inside [0, 1] and is sound at 0/n and n/n, which small
    evaluations hit.
    """
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class MethodStats:
    """One row of the report: a method on one dataset (or on `all` of them)."""

    dataset: str
    method: str
    n: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    mean_b_seq: float
    median_b_seq: float
    mean_b_total: float
    mean_wall_s: float | None
    failures: int
    pending: int
    matches: str | None = None


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _stats(dataset: str, method: str, items: list[Item]) -> MethodStats:
    done = [i for i in items if i.finished]
    failures = sum(1 for i in items if i.error)
    graded = [i for i in items if i.settled]  # a failed run counts as a wrong answer
    correct = sum(1 for i in done if i.correct)
    low, high = wilson_interval(correct, len(graded))
    walls = [i.wall_s for i in done if i.wall_s > 0]
    return MethodStats(
        dataset=dataset,
        method=method,
        n=len(graded),
        correct=correct,
        accuracy=correct / len(graded) if graded else 0.0,
        ci_low=low,
        ci_high=high,
        mean_b_seq=_mean([i.b_seq for i in done]),
        median_b_seq=statistics.median([i.b_seq for i in done]) if done else 0.0,
        mean_b_total=_mean([i.b_total for i in done]),
        mean_wall_s=_mean(walls) if walls else None,
        failures=failures,
        pending=len(items) - len(graded),
        matches=next((i.matches for i in items if i.matches), None),
    )


def summarize(items: Sequence[Item]) -> list[MethodStats]:
    """Per dataset and method, then over all datasets when there are several: one block of rows per
    dataset, datasets and methods in the order they first appear."""
    datasets = list(dict.fromkeys(i.dataset for i in items))
    methods = list(dict.fromkeys(i.method for i in items))
    groups: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        groups.setdefault((item.dataset, item.method), []).append(item)
        if len(datasets) > 1:
            groups.setdefault(("all", item.method), []).append(item)
    order = {name: n for n, name in enumerate([*datasets, "all"])}
    keys = sorted(groups, key=lambda key: (order[key[0]], methods.index(key[1])))
    return [_stats(dataset, method, groups[(dataset, method)]) for dataset, method in keys]


def paired(items: Sequence[Item]) -> list[Item]:
    """The items of the problems that every method of their dataset has settled (finished, or failed:
    a failure counts as wrong): while an evaluation is still running, methods compared on the same
    problems rather than on whichever each has reached."""
    methods: dict[str, set[str]] = {}
    settled: dict[tuple[str, str], set[str]] = {}
    for i in items:
        methods.setdefault(i.dataset, set()).add(i.method)
        if i.settled:
            settled.setdefault((i.dataset, i.problem_id), set()).add(i.method)
    return [i for i in items if settled.get((i.dataset, i.problem_id)) == methods[i.dataset]]


def write_report(
    items: Sequence[Item],
    out: str | Path,
    *,
    title: str = "",
    baseline: str = BASELINE,
    ledger: Ledger | None = None,
) -> dict[str, Path]:
    """Write `summary.csv`, `summary.jsonl`, `summary.md`, `runs.csv`, `runs.jsonl`,
    `accuracy_vs_budget.png` and `index.html`; `summary.md` pairs every method with `baseline` (see
    `compare`). `index.html` shows the tables and the plot, and lists every item; with the `ledger` the
    runs are in, each item links to its run's page, written under `runs/` (see `render_run_html`).

    Returns:
        The paths written, by kind.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stats = summarize(items)
    paths = {
        "summary_csv": out / "summary.csv",
        "summary_jsonl": out / "summary.jsonl",
        "summary_md": out / "summary.md",
        "runs_csv": out / "runs.csv",
        "runs_jsonl": out / "runs.jsonl",
        "plot": out / "accuracy_vs_budget.png",
    }
    _write(paths["summary_csv"], paths["summary_jsonl"], [asdict(s) for s in stats])
    comparisons = compare(items, baseline=baseline)
    paths["summary_md"].write_text(
        markdown(
            stats, title=title, comparisons=comparisons, adaptive=early_stops(items), code=code_stats(items)
        ),
        encoding="utf-8",
    )
    rows = [{**asdict(i), "finished": i.finished} for i in items]
    _write(paths["runs_csv"], paths["runs_jsonl"], rows)
    plot(stats, paths["plot"], title=title)
    paths["html"] = write_index(
        out,
        items=items,
        tables=_tables(stats, title, comparisons, early_stops(items), code_stats(items)),
        plot=paths["plot"],
        ledger=ledger,
        title=title,
        text_columns=TEXT_COLUMNS,
    )
    return paths


def _write(csv_path: Path, jsonl_path: Path, rows: list[dict]) -> None:
    with jsonl_path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with csv_path.open("w", encoding="utf-8", newline="") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def report_title(name: str, datasets: Sequence[str], *, paired: bool = False) -> str:
    """`name`, and the datasets when they say more than the name (`gsm8k`, not `gsm8k (gsm8k)`)."""
    shown = [d for d in dict.fromkeys(datasets) if d != name]
    parts = shown + (["paired"] if paired else [])
    return f"{name} ({', '.join(parts)})" if parts else name


def matched_pairs(stats: Sequence[MethodStats]) -> list[tuple[MethodStats, MethodStats]]:
    """(iterative method, its B_seq-matched single pass), per dataset; in the pooled `all` block
    only when the two cover the same datasets (a method matched on one dataset of two is not
    matched on their pool)."""
    by_key = {(s.dataset, s.method): s for s in stats}
    covers: dict[str, set[str]] = {}
    for s in stats:
        if s.dataset != "all":
            covers.setdefault(s.method, set()).add(s.dataset)
    pairs = []
    for single in stats:
        for label in (single.matches or "").split(","):
            if not label or (single.dataset, label) not in by_key:
                continue
            if single.dataset == "all" and covers.get(label) != covers.get(single.method):
                continue
            pairs.append((by_key[(single.dataset, label)], single))
    return pairs


def _pct(s: MethodStats) -> str:
    return f"{100 * s.accuracy:.1f} [{100 * s.ci_low:.0f}–{100 * s.ci_high:.0f}]"


COLUMNS = (
    "dataset",
    "method",
    "n",
    "accuracy % [95% CI]",
    "mean B_seq",
    "median B_seq",
    "mean B_total",
    "mean wall s",
    "failures",
    "pending",
)


def compared_title(baseline: str) -> str:
    """The title of the paired table against `baseline`."""
    who = "the single pass" if baseline == BASELINE else baseline
    return f"paired against {who}: problems only one of the two got right"


COMPARED_TITLE = compared_title(BASELINE)
COMPARED_COLUMNS = ("dataset", "method", "n", "won", "lost", "sign test p")
MATCHED_TITLE = "at matched B_seq: each iterative method against a single pass allowed its B_seq"
MATCHED_COLUMNS = (
    "dataset",
    "method",
    "accuracy %",
    "mean B_seq",
    "single pass",
    "accuracy %",
    "mean B_seq",
    "Δ accuracy (pts)",
)
#: Columns of text, aligned left; the others are numbers.
TEXT_COLUMNS = ("dataset", "method", "single pass", "without early_stop", "stopped early")


def _cells(s: MethodStats) -> list[str]:
    if s.n == 0:  # nothing graded yet: no accuracy or budget to show
        return [s.dataset, s.method, "0", "–", "–", "–", "–", "", str(s.failures), str(s.pending)]
    return [
        s.dataset,
        s.method,
        str(s.n),
        _pct(s),
        f"{s.mean_b_seq:,.0f}",
        f"{s.median_b_seq:,.0f}",
        f"{s.mean_b_total:,.0f}",
        "" if s.mean_wall_s is None else f"{s.mean_wall_s:.1f}",
        str(s.failures),
        str(s.pending),
    ]


def _matched_cells(it: MethodStats, single: MethodStats) -> list[str]:
    return [
        it.dataset,
        it.method,
        _pct(it),
        f"{it.mean_b_seq:,.0f}",
        single.method,
        _pct(single),
        f"{single.mean_b_seq:,.0f}",
        f"{100 * (it.accuracy - single.accuracy):+.1f}",
    ]


def _compared_cells(c: Comparison) -> list[str]:
    return [c.dataset, c.method, str(c.n), str(c.won), str(c.lost), f"{c.p_value:.3f}"]


ADAPTIVE_TITLE = "adaptive compute: each early-stopping method against the same schedule without it"
ADAPTIVE_COLUMNS = (
    "dataset",
    "method",
    "n",
    "stopped early",
    "mean B_total",
    "without early_stop",
    "its mean B_total",
    "B_total saved",
    "won",
    "lost",
)


@dataclass(frozen=True)
class EarlyStops:
    """How often a method with `early_stop` ended early, and what it saved against its twin without."""

    dataset: str
    method: str
    twin: str
    n: int
    stopped: int
    mean_b_total: float
    twin_mean_b_total: float
    won: int
    lost: int

    @property
    def saved(self) -> float:
        return 1 - self.mean_b_total / self.twin_mean_b_total if self.twin_mean_b_total else 0.0


def _twin(label: str) -> str | None:
    """`pdr:4-4:majority_k` for `pdr:4-4:majority_k:early_stop=1`; None for a label without it."""
    parts = label.split(":")
    kept = [p for p in parts if not p.startswith("early_stop=")]
    return ":".join(kept) if len(kept) < len(parts) else None


def early_stops(items: Sequence[Item]) -> list[EarlyStops]:
    """Per dataset, each method run with `early_stop` against the same method without it, on the
    problems both finished."""
    by_key = {(i.dataset, i.method, i.problem_id): i for i in items if i.finished}
    rows = []
    for dataset, method in dict.fromkeys((i.dataset, i.method) for i in items):
        twin = _twin(method)
        if twin is None:
            continue
        pairs = [
            (i, by_key[(dataset, twin, i.problem_id)])
            for (d, m, _), i in by_key.items()
            if d == dataset and m == method and (dataset, twin, i.problem_id) in by_key
        ]
        if not pairs:
            continue
        rows.append(
            EarlyStops(
                dataset=dataset,
                method=method,
                twin=twin,
                n=len(pairs),
                stopped=sum(1 for a, _ in pairs if a.stop_reason == "converged"),
                mean_b_total=_mean([a.b_total for a, _ in pairs]),
                twin_mean_b_total=_mean([b.b_total for _, b in pairs]),
                won=sum(1 for a, b in pairs if a.correct and not b.correct),
                lost=sum(1 for a, b in pairs if b.correct and not a.correct),
            )
        )
    return rows


@dataclass(frozen=True)
class CodeStats:
    """A method on a code dataset, graded on the hidden tests: base and plus pass@1 (the plus figure is
    `MethodStats.accuracy`), the tasks that show visible tests, the answers that passed their visible
    checks, and the false positives among them (passed the visible tests, failed the hidden plus)."""

    dataset: str
    method: str
    n: int
    base: int
    plus: int
    with_tests: int
    visible: int
    false_positives: int


def code_stats(items: Sequence[Item]) -> list[CodeStats]:
    """Per dataset and method, the hidden-test grades of code tasks' finished runs (none for other
    datasets)."""
    groups: dict[tuple[str, str], list[Item]] = {}
    for i in items:
        if i.finished and i.base_correct is not None:
            groups.setdefault((i.dataset, i.method), []).append(i)
    return [
        CodeStats(
            dataset=dataset,
            method=method,
            n=len(group),
            base=sum(1 for i in group if i.base_correct),
            plus=sum(1 for i in group if i.correct),
            with_tests=sum(1 for i in group if i.visible_tests),
            visible=sum(1 for i in group if i.visible),
            false_positives=sum(1 for i in group if i.visible and not i.correct),
        )
        for (dataset, method), group in groups.items()
    ]


CODE_TITLE = "code tasks, graded on the hidden tests (EvalPlus base, and base + plus)"
CODE_COLUMNS = (
    "dataset",
    "method",
    "n",
    "base pass@1 %",
    "plus pass@1 %",
    "tasks with visible tests",
    "passed visible",
    "passed visible, failed plus",
)


def _code_cells(c: CodeStats) -> list[str]:
    return [
        c.dataset,
        c.method,
        str(c.n),
        f"{100 * c.base / c.n:.1f}",
        f"{100 * c.plus / c.n:.1f}",
        str(c.with_tests),
        str(c.visible),
        str(c.false_positives),
    ]


def _adaptive_cells(e: EarlyStops) -> list[str]:
    return [
        e.dataset,
        e.method,
        str(e.n),
        f"{e.stopped} ({100 * e.stopped / e.n:.0f}%)",
        f"{e.mean_b_total:,.0f}",
        e.twin,
        f"{e.twin_mean_b_total:,.0f}",
        f"{100 * e.saved:.0f}%",
        str(e.won),
        str(e.lost),
    ]


def _tables(
    stats: Sequence[MethodStats],
    title: str,
    comparisons: Sequence[Comparison],
    adaptive: Sequence[EarlyStops] = (),
    code: Sequence[CodeStats] = (),
) -> list[tuple[str, tuple[str, ...], list[list[str]]]]:
    """The report's tables: (title, columns, rows); the paired, matched, adaptive and code ones only
    when they have rows."""
    tables: list[tuple[str, tuple[str, ...], list[list[str]]]] = [
        (title or "evaluation", COLUMNS, [_cells(s) for s in stats])
    ]
    if comparisons:
        tables.append(
            (
                compared_title(comparisons[0].baseline),
                COMPARED_COLUMNS,
                [_compared_cells(c) for c in comparisons],
            )
        )
    pairs = matched_pairs(stats)
    if pairs:
        tables.append((MATCHED_TITLE, MATCHED_COLUMNS, [_matched_cells(it, sp) for it, sp in pairs]))
    if adaptive:
        tables.append((ADAPTIVE_TITLE, ADAPTIVE_COLUMNS, [_adaptive_cells(e) for e in adaptive]))
    if code:
        tables.append((CODE_TITLE, CODE_COLUMNS, [_code_cells(c) for c in code]))
    return tables


def render(
    stats: Sequence[MethodStats],
    console: object,
    *,
    title: str = "",
    comparisons: Sequence[Comparison] = (),
    adaptive: Sequence[EarlyStops] = (),
    code: Sequence[CodeStats] = (),
) -> None:
    """Print the report's tables with rich."""
    from rich.table import Table

    for name, columns, rows in _tables(stats, title, comparisons, adaptive, code):
        table = Table(title=name)
        for col in columns:
            table.add_column(col, justify="left" if col in TEXT_COLUMNS else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)  # type: ignore[attr-defined]


def markdown(
    stats: Sequence[MethodStats],
    *,
    title: str = "",
    comparisons: Sequence[Comparison] = (),
    adaptive: Sequence[EarlyStops] = (),
    code: Sequence[CodeStats] = (),
) -> str:
    """The report's tables in Markdown, to paste into a README or a pull request."""
    parts = []
    for name, columns, rows in _tables(stats, title, comparisons, adaptive, code):
        lines = [
            f"**{name}**",
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "|".join(":---" if c in TEXT_COLUMNS else "---:" for c in columns) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
