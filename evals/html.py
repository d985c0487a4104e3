"""The evaluation report as HTML: `index.html` with the report's tables, the accuracy-against-budget plot
beside it, and one row per problem and method linking to that run's page (`runs/<name>.html`, the page of
`pdr view`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langgraph_pdr.checkpoints.ledger import Ledger
from langgraph_pdr.view import esc, render_run_html, safe_name

#: The folder, beside `index.html`, that holds the runs' pages.
RUNS_DIR = "runs"
#: A report table: (title, columns, rows of cells).
Table = tuple[str, Sequence[str], Sequence[Sequence[str]]]

CSS = """
body{margin:0;padding:16px 24px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
color:#1d1d28;background:#f6f5fb}
h1{font-size:20px}h2{font-size:15px;margin:22px 0 6px}
table{border-collapse:collapse;background:#fff;font-size:12px}
th,td{border:1px solid #d9d7e8;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f1f0f8}td.text,th.text{text-align:left}
td.correct{color:#1a7f37;font-weight:600}td.incorrect{color:#c62828;font-weight:600}
td.answer{max-width:240px;overflow:hidden;text-overflow:ellipsis;font-family:ui-monospace,Menlo,monospace}
img.plot{max-width:100%;background:#fff;border:1px solid #d9d7e8}
a{color:#4b3fbf}
"""


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], text: Sequence[str]) -> str:
    kinds = ["text" if c in text else "num" for c in columns]
    head = "".join(f'<th class="{k}">{esc(c)}</th>' for c, k in zip(columns, kinds, strict=True))
    body = "".join(
        "<tr>" + "".join(f'<td class="{k}">{esc(v)}</td>' for v, k in zip(row, kinds, strict=False)) + "</tr>"
        for row in rows
    )
    return f"<h2>{esc(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def run_page_name(thread_id: str) -> str:
    """The path of a run's page, relative to `index.html`.

    Example:
        ```python
        from langgraph_pdr.evals.html import run_page_name

        assert run_page_name("eval:gsm8k:3:ab12") == "runs/eval_gsm8k_3_ab12.html"
        ```
    """
    return f"{RUNS_DIR}/{safe_name(thread_id)}.html"


def write_run_pages(items: Sequence[Any], out: str | Path, ledger: Ledger) -> dict[str, str]:
    """Write the page of every item's run under `out/runs/`; return the relative path by thread id
    (a run the ledger does not hold, e.g. one not started yet, gets no page)."""
    folder = Path(out) / RUNS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    pages: dict[str, str] = {}
    for thread_id in dict.fromkeys(i.thread_id for i in items):
        try:
            page = render_run_html(thread_id, ledger=ledger, back=("../index.html", "the evaluation"))
        except ValueError:  # no such run yet (pending), or a row that cannot be read
            continue
        name = run_page_name(thread_id)
        (Path(out) / name).write_text(page, encoding="utf-8")
        pages[thread_id] = name
    return pages


def _verdict(item: Any) -> tuple[str, str]:
    if item.correct is None:
        return ("failed", "incorrect") if item.error else ("pending", "text")
    return ("correct", "correct") if item.correct else ("incorrect", "incorrect")


def _runs_table(items: Sequence[Any], pages: dict[str, str]) -> str:
    cols = ("dataset", "problem", "method", "status", "answer", "gold", "graded", "B_seq", "B_total", "run")
    head = "".join(f'<th class="{"num" if c.startswith("B_") else "text"}">{esc(c)}</th>' for c in cols)
    rows = []
    for i in items:
        verdict, kind = _verdict(i)
        page = pages.get(i.thread_id)
        link = f'<a href="{esc(page)}">{esc(i.thread_id)}</a>' if page else esc(i.thread_id)
        rows.append(
            f'<tr><td class="text">{esc(i.dataset)}</td><td class="text">{esc(i.problem_id)}</td>'
            f'<td class="text">{esc(i.method)}</td><td class="text">{esc(i.status or "not started")}</td>'
            f'<td class="text answer" title="{esc(i.answer)}">{esc(i.answer)}</td>'
            f'<td class="text">{esc(i.gold)}</td><td class="{kind}">{esc(verdict)}</td>'
            f"<td>{i.b_seq:,}</td><td>{i.b_total:,}</td><td class='text'>{link}</td></tr>"
        )
    return (
        "<h2>runs: one per problem and method</h2>"
        f"<table class='runs'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def write_index(
    out: str | Path,
    *,
    items: Sequence[Any],
    tables: Sequence[Table],
    plot: str | Path | None = None,
    ledger: Ledger | None = None,
    title: str = "",
    text_columns: Sequence[str] = (),
) -> Path:
    """Write `out/index.html`: `tables`, the plot (referenced by its name: it sits beside the page) and
    one row per item, linked to its run's page when `ledger` is given (the pages are written too).

    Args:
        out: the report's directory.
        items: the evaluation's items (`thread_id`, `dataset`, `problem_id`, `method`, `correct`, ...).
        tables: the report's tables, (title, columns, rows).
        plot: the accuracy-against-budget image, in `out`.
        ledger: the run ledger the items' runs are in; None writes no run page.
        title: the page's title.
        text_columns: columns aligned left (the others hold numbers).

    Example:
        ```python
        import tempfile
        from pathlib import Path

        from langgraph_pdr.evals.html import write_index

        out = Path(tempfile.mkdtemp())
        table = ("t", ["method", "n"], [["single", "3"]])
        page = write_index(out, items=[], tables=[table], title="x", text_columns=["method"])
        assert '<td class="text">single</td><td class="num">3</td>' in page.read_text(encoding="utf-8")
        ```
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pages = write_run_pages(items, out, ledger) if ledger is not None else {}
    parts = [_table(name, columns, rows, text_columns) for name, columns, rows in tables]
    if plot is not None:
        name = Path(plot).name
        parts.append(
            f'<h2>accuracy against budget</h2><img class="plot" src="{esc(name)}" alt="accuracy against '
            f'B_seq and B_total">'
        )
    parts.append(_runs_table(items, pages))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title or 'evaluation')}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title or 'evaluation')}</h1>{''.join(parts)}</body></html>\n"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
