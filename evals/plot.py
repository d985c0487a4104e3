"""The evaluation's plot: accuracy against mean B_seq and mean B_total per method, with 95% intervals,
the Pareto frontier, a colour and a marker per method, and no method hidden behind another."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langgraph_pdr.evals.report import MethodStats

__all__ = ["MARKERS", "dodged", "method_styles", "pareto", "plot"]


def pareto(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats (lower cost and higher accuracy), by cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -1.0
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


#: Point markers of the plot, a number prime to the 20 colours of `tab20`.
MARKERS = "osD^v<>ph*XP8dH12340"[:19]


def method_styles(methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A colour and a marker per method: 20 distinct colours, then the markers tell them apart; the
    methods listed first are drawn on top (a single pass is not hidden under its matched twins)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    colours = [cmap(i) for i in range(cmap.N)]
    return {
        m: {"color": colours[n % len(colours)], "marker": MARKERS[n % len(MARKERS)], "zorder": 100 - n}
        for n, m in enumerate(dict.fromkeys(methods))
    }


#: Points closer than this on the log budget axis (in decades: ~2%) and in accuracy (percentage points)
#: would hide one another; `dodged` sets them side by side, `DODGE` decades apart.
NEAR_X, NEAR_Y, DODGE = 0.01, 4.0, 0.025


def dodged(points: Sequence[tuple[float, float]]) -> list[float]:
    """The x of each (budget, accuracy %) point where it is drawn: a point that would hide another
    (about the same budget and accuracy, e.g. `sc:4`'s B_seq and `single`'s) is set beside it, the
    group spread evenly around its budget on the log axis; other points stay where they are.

    Example:
        ```python
        from langgraph_pdr.evals.plot import dodged

        xs = dodged([(300, 50.0), (300, 50.0), (900, 70.0)])
        assert xs[0] < 300 < xs[1] < 310 and xs[2] == 900
        assert dodged([(300, 50.0), (300, 90.0)]) == [300, 300]  # apart already
        ```
    """
    group = list(range(len(points)))  # each point's group: the first point it is near, transitively

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i, (xi, yi) in enumerate(points):
        for j in range(i):
            xj, yj = points[j]
            if abs(math.log10(xi / xj)) < NEAR_X and abs(yi - yj) < NEAR_Y:
                group[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in range(len(points)):
        members.setdefault(root(i), []).append(i)
    xs = [x for x, _ in points]
    for together in members.values():
        if len(together) > 1:
            for k, i in enumerate(together):
                xs[i] = points[i][0] * 10 ** (DODGE * (k - (len(together) - 1) / 2))
    return xs


def plot(stats: Sequence[MethodStats], path: str | Path, *, title: str = "") -> None:
    """Accuracy against mean B_seq and mean B_total, one point per method with a finished run, 95%
    intervals as error bars, the Pareto frontier as a line; one row of the two plots per dataset.
    Methods at about the same budget and accuracy are drawn side by side (`dodged`), so none hides
    another. `title` is printed above the plots as given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(s.dataset for s in stats if s.dataset != "all")) or ["all"]
    styles = method_styles([s.method for s in stats])
    fig, grid = plt.subplots(len(datasets), 2, figsize=(13, 4.5 * len(datasets) + 0.5), squeeze=False)
    for dataset, axes in zip(datasets, grid, strict=True):
        # methods with a finished run only: the log axes need a budget above 0
        rows = [s for s in stats if s.dataset == dataset and s.mean_b_seq > 0]
        _plot_budget(axes[0], rows, styles, "mean_b_seq", "mean B_seq (tokens)")
        _plot_budget(axes[1], rows, styles, "mean_b_total", "mean B_total (tokens)")
        axes[0].set_ylabel(f"{dataset}: accuracy (%), 95% CI")
    handles = {label: h for ax in grid.flat for h, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(handles.values(), handles.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle(title or "accuracy against budget")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def _plot_budget(
    ax: Any, rows: Sequence[MethodStats], styles: dict[str, dict[str, str]], field: str, label: str
) -> None:
    """One point per method: accuracy against the budget `field` on a log axis, and the Pareto frontier."""
    from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

    ax.set_xlabel(label)
    if not rows:  # every run of the dataset failed or is pending: an empty, labelled plot
        ax.text(0.5, 0.5, "no finished run", ha="center", va="center", transform=ax.transAxes)
        return
    xs = [getattr(s, field) for s in rows]
    ys = [100 * s.accuracy for s in rows]
    drawn = dodged(list(zip(xs, ys, strict=True)))
    for x, y, s in zip(drawn, ys, rows, strict=True):
        err = [[100 * (s.accuracy - s.ci_low)], [100 * (s.ci_high - s.accuracy)]]
        ax.errorbar(
            [x], [y], yerr=err, capsize=3, alpha=0.85, label=s.method, linestyle="none", **styles[s.method]
        )
    front = pareto(list(zip(xs, ys, strict=True)))
    if len(front) > 1:  # a frontier of one point draws no line: it gets no legend entry either
        ax.plot(
            [xs[i] for i in front],
            [ys[i] for i in front],
            "--",
            color="grey",
            label="Pareto frontier",
            zorder=1,
        )
    ax.set_xscale("log")
    narrow = max(xs) < 8 * min(xs)  # under a decade: room for 3,000 between 2,000 and 5,000
    ax.xaxis.set_major_locator(
        LogLocator(subs=(1.0, 2.0, 3.0, 5.0) if narrow else (1.0, 2.0, 5.0), numticks=30)
    )  # 500, 1,000, 2,000 ...
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # matplotlib's minor labels overlap
    ax.grid(True, alpha=0.3)
