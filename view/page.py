"""Seeing a run: one self-contained HTML page (inline CSS and script, nothing fetched) of what it did.

The page shows the question, the method and its schedule, then one column per round: each draft a card
(answer, score, tokens, finish reason, failed or unfinished, correct or not when the run has a gold
answer) that expands to its full text; between two rounds, the workspaces the next round's drafts read,
with lines from the drafts each was built from to the drafts that read it (an SVG overlay the page's
script draws once laid out), and a tournament's comparisons with the judge's replies; a budget strip
(B_seq along the critical path, B_total by role and round); and the final answer and text (with the
final selection's comparisons). Failed, interrupted and running runs render too: rounds not run yet are
drawn as placeholders.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from langgraph_pdr.budgets.accounting import call_sums
from langgraph_pdr.checkpoints.ledger import Ledger
from langgraph_pdr.checkpoints.store import open_ledger
from langgraph_pdr.runner import inspect_run
from langgraph_pdr.selection.answer_grading import is_correct
from langgraph_pdr.selection.answer_votes import last_boxed
from langgraph_pdr.state.records import (
    ROLES,
    CallRecord,
    Check,
    Draft,
    Judgment,
    RoundRecord,
    ToolCall,
)
from langgraph_pdr.state.result import PDRResult

#: What a method's distiller, k and κ mean; the sampling baselines have none of them.
USES_DISTILLER = ("pdr",)
USES_KAPPA = ("pdr", "sr", "sr_error")
#: The columns of the page's table of calls.
CALL_COLUMNS = ("role", "round", "index", "stage", "in", "out", "latency s", "finish", "usage", "error")


def esc(value: Any) -> str:
    """`value` as HTML text: every `&`, `<`, `>` and quote escaped (None is empty).

    Example:
        ```python
        from langgraph_pdr.view import esc

        assert esc('<b>"x"</b>') == "&lt;b&gt;&quot;x&quot;&lt;/b&gt;" and esc(None) == ""
        ```
    """
    return "" if value is None else html.escape(str(value), quote=True)


def safe_name(thread_id: str) -> str:
    """A file name for a run's page: `thread_id` with anything but letters, digits, `.`, `_` and `-`
    turned into `_`.

    Example:
        ```python
        from langgraph_pdr.view import safe_name

        assert safe_name("eval:gsm8k:12:ab/cd") == "eval_gsm8k_12_ab_cd"
        ```
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", thread_id).strip("._")
    return name[:150] or "run"


def run_gold(ledger: Ledger, thread_id: str) -> str | None:
    """The gold answer stored with a run's spec, if it has one (None also for an unknown run)."""
    row = ledger.run_row(thread_id)
    gold = ((row or {}).get("spec") or {}).get("gold")
    return None if gold is None else str(gold)


@lru_cache(maxsize=4096)
def _graded(probe: str, gold: str) -> bool:
    return is_correct(probe, gold)


def grade(text: str, gold: str | None) -> bool | None:
    """Whether `text`'s last `\\boxed{}` (else its last expression) is `gold`; None without a gold answer.

    Example:
        ```python
        from langgraph_pdr.view import grade

        assert grade("so \\\\boxed{21}", "21") is True and grade("\\\\boxed{20}", "21") is False
        assert grade("\\\\boxed{21}", None) is None
        ```
    """
    if gold is None:
        return None
    if not text:
        return False
    boxed = last_boxed(text)  # graded on its answer alone: drafts that agree are graded once
    return _graded("\\boxed{" + boxed + "}" if boxed is not None else text, gold)


def stage_maxima(calls: Iterable[CallRecord]) -> list[tuple[str, int, CallRecord]]:
    """B_seq's terms: per stage, in the order the stages ran, its largest call's tokens and that call
    (a tool-using draft's turns summed, with its last turn).

    Example:
        ```python
        from langgraph_pdr import CallRecord
        from langgraph_pdr.view import stage_maxima

        calls = [CallRecord(role="draft", round=1, index=i, stage="r1.draft", input_tokens=10,
                            output_tokens=5 * i) for i in range(3)]
        assert [(s, t) for s, t, _ in stage_maxima(calls)] == [("r1.draft", 20)]
        ```
    """
    calls = list(calls)
    sums = call_sums(calls)
    last: dict[tuple[str, str, int, int], CallRecord] = {
        (c.stage, c.role, c.round, c.index): c for c in calls if c.error is None
    }
    best: dict[str, tuple[int, CallRecord]] = {}
    for key, tokens in sums.items():
        if key[0] not in best or tokens > best[key[0]][0]:
            best[key[0]] = (tokens, last[key])
    return [(stage, tokens, c) for stage, (tokens, c) in best.items()]


def totals_by_role_and_round(calls: Iterable[CallRecord]) -> dict[tuple[str, int], int]:
    """B_total's terms: tokens (input + output) per (role, round).

    Example:
        ```python
        from langgraph_pdr import CallRecord
        from langgraph_pdr.view import totals_by_role_and_round

        calls = [CallRecord(role="verify", round=2, index=i, stage="r2.verify", input_tokens=3,
                            output_tokens=1) for i in range(2)]
        assert totals_by_role_and_round(calls) == {("verify", 2): 8}
        ```
    """
    out: dict[tuple[str, int], int] = {}
    for c in calls:
        out[(c.role, c.round)] = out.get((c.role, c.round), 0) + c.total_tokens
    return out


# -- the page: what it shows, worked out here; how it looks, in templates/ and static/ -----------------


def _num(n: int | float | None) -> str:
    return "" if n is None else f"{n:,}" if isinstance(n, int) else f"{n:g}"


def _missing_reason(result: PDRResult) -> str:
    if result.status == "running":
        return "pending"
    if result.status in ("failed", "interrupted"):
        return "not reached"
    return "not run"


@dataclass
class DraftSlot:
    """A place in a round's column: a draft (graded, with its verification call), or a placeholder."""

    index: int
    draft: Draft | None = None
    correct: bool | None = None
    verify: CallRecord | None = None


@dataclass
class Column:
    """One column of the flow: a round (`round`), what it handed the next one (`between`), or the
    answer (`final`)."""

    kind: str
    round: int = 0
    width: int = 0
    missing: bool = False
    cards: list[DraftSlot] = field(default_factory=list)
    record: RoundRecord | None = None
    judged: list[Judgment] = field(default_factory=list)
    critique_call: CallRecord | None = None
    distills: int = 0
    distill_tokens: int = 0


@dataclass
class Budget:
    """B_seq's stages and B_total's table: rows of (label, role, tokens per round)."""

    stages: list[tuple[str, int, CallRecord]]
    b_seq: int
    rounds: list[int]
    rows: list[tuple[str, str | None, list[int]]]
    column_sums: list[int]
    total: int


class PageModel:
    """What one run's page shows, and the lines between its cards (`links`: from, to, kind)."""

    def __init__(self, result: PDRResult, gold: str | None) -> None:
        self.result, self.gold = result, gold
        self.rounds = {r.round: r for r in result.rounds}
        self._calls = {(c.role, c.round, c.index): c for c in result.calls}
        self.links: list[tuple[str, str, str]] = []
        self.last = max((r.round for r in result.rounds if r.drafts), default=0)
        # a run still going has booked no budget yet: what its calls spent so far
        spent = sum(c.total_tokens for c in (*result.calls, *result.failed_calls))
        self.b_seq = result.b_seq or sum(t for _, t, _ in stage_maxima(result.calls))
        self.b_total = result.b_total or spent
        self.missing_reason = _missing_reason(result)
        self.correct = grade(result.text, gold) if result.text else None
        self.facts = self._facts()
        self.columns = self._columns()
        self.budget = self._budget()
        self.calls = [*result.calls, *result.failed_calls]
        self.call_columns = CALL_COLUMNS

    @property
    def final_correct(self) -> bool | None:
        return self.correct

    @property
    def program(self) -> bool:
        """Whether the answer is a program (the run's verifier ran it against visible tests): shown as
        a block of code."""
        check = self.result.check
        return check is not None and bool(check.tests)

    @property
    def links_json(self) -> Markup:
        # inside a <script> element: no `<` may close it early
        return Markup(json.dumps(list(dict.fromkeys(self.links))).replace("<", "\\u003c"))

    def _facts(self) -> list[tuple[str, str | None]]:
        result, cfg = self.result, self.result.config
        facts: list[tuple[str, str | None]] = [("method", cfg.method)]
        facts.append(("schedule", ",".join(map(str, cfg.schedule))))
        if cfg.method in USES_DISTILLER:
            facts += [("distiller", cfg.distiller), ("k", str(cfg.k))]
        if cfg.method in USES_KAPPA:
            facts.append(("κ", _num(cfg.kappa)))
        facts += [("model", result.model or ""), ("status", result.status), ("stop", result.stop_reason)]
        if self.gold is not None:
            facts.append(("gold", self.gold))
        return facts

    def _columns(self) -> list[Column]:
        count = max(self.result.config.rounds, max(self.rounds, default=0))
        columns = []
        for n in range(1, count + 1):
            columns.append(self._round_column(n))
            between = self._between_column(n) if n < count else None
            if between is not None:
                columns.append(between)
        columns.append(self._final_column())
        return columns

    def _round_column(self, n: int) -> Column:
        cfg, rec = self.result.config, self.rounds.get(n)
        drafts = {d.index: d for d in (rec.drafts if rec else [])}
        width = max([rec.width if rec and rec.width else 0, cfg.width(n) if n <= cfg.rounds else 0])
        first = cfg.first_index(n) if n <= cfg.rounds else 0  # self-consistency's windows number on
        width = max([width, *(i + 1 - first for i in drafts)])
        column = Column("round", round=n, width=width, missing=rec is None)
        for i in range(first, first + width):
            d = drafts.get(i)
            if d is None:
                column.cards.append(DraftSlot(i))
                continue
            correct = grade(d.text, self.gold) if d.ok and not d.unfinished and d.answer is not None else None
            column.cards.append(DraftSlot(i, d, correct, self._calls.get(("verify", n, i))))
            if d.workspace_index is not None:
                self.links.append((f"w{n - 1}-{d.workspace_index}", f"d{n}-{i}", "read"))
            if n > 1 and self.rounds.get(n - 1) and self.rounds[n - 1].critique:
                self.links.append((f"c{n - 1}", f"d{n}-{i}", "critique"))
        return column

    def _between_column(self, n: int) -> Column | None:
        """What round `n` handed round `n + 1`: its workspaces (and, for SR with error analysis, its
        critique)."""
        rec = self.rounds.get(n)
        if rec is None or (not rec.workspaces and not rec.critique):
            return None
        for w in rec.workspaces:
            self.links += [(f"d{n}-{s}", f"w{n}-{w.index}", "source") for s in w.sources]
        column = Column("between", round=n, record=rec)
        column.judged = [j for j in rec.judgments if j.role == "distill"]
        if rec.critique:
            column.critique_call = self._calls.get(("critique", n, 0))
            self.links += [(f"d{n}-{d.index}", f"c{n}", "critique") for d in rec.drafts if d.ok]
        distills = [c for c in self.result.calls if c.role == "distill" and c.round == n]
        column.distills, column.distill_tokens = len(distills), sum(c.total_tokens for c in distills)
        return column

    def _final_column(self) -> Column:
        r = self.result
        if r.answer is not None and self.last:
            last = self.rounds[self.last]
            self.links += [
                (f"d{self.last}-{d.index}", "final", "final")
                for d in last.drafts
                if d.ok and d.answer is not None and d.answer == r.answer
            ]
        column = Column("final")
        if self.last:
            column.judged = [j for j in self.rounds[self.last].judgments if j.role == "judge"]
        return column

    def _budget(self) -> Budget:
        result = self.result
        stages = stage_maxima(result.calls)
        totals = totals_by_role_and_round(result.calls)
        failed = totals_by_role_and_round(result.failed_calls)
        rounds = sorted({n for _, n in totals} | {n for _, n in failed})
        rows: list[tuple[str, str | None, list[int]]] = []
        for role in ROLES:
            cells = [totals.get((role, n), 0) for n in rounds]
            if any(cells):
                rows.append((role, role, cells))
        if failed:
            cells = [sum(v for (_, n), v in failed.items() if n == r) for r in rounds]
            rows.append(("failed attempts", None, cells))
        both = [*totals.items(), *failed.items()]
        return Budget(
            stages=stages,
            b_seq=sum(t for _, t, _ in stages),
            rounds=rounds,
            rows=rows,
            column_sums=[sum(v for (_, n), v in both if n == r) for r in rounds],
            total=sum(totals.values()) + sum(failed.values()),
        )


def _escape(value: Any) -> Markup:
    """How the templates print a value: as `esc` does (the page's markup, `Markup`, as it is)."""
    return value if isinstance(value, Markup) else Markup(esc(value))


def _check_tip(check: Check) -> str:
    said = (check.feedback or check.error or "").strip().splitlines()
    return f"{check.verifier}: {said[0] if said else ('passed' if check.passed else 'failed')}"


def _code_and_args(call: ToolCall) -> tuple[str | None, str]:
    """A tool call's code (shown as code) and its other arguments as JSON ("" when none)."""
    args = dict(call.args)
    code = args.pop("code") if isinstance(args.get("code"), str) else None
    return code, json.dumps(args, ensure_ascii=False) if args else ""


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("langgraph_pdr.view", "templates"),
        autoescape=True,
        finalize=_escape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )
    env.filters.update(
        num=_num,
        g=lambda x: f"{x:g}",
        percent=lambda x: f"{x:.0%}",
        fixed2=lambda x: f"{x:.2f}",
        check_tip=_check_tip,
        code_and_args=_code_and_args,
        sources=lambda w: ", ".join(f"r{w.round}.{s}" for s in w.sources) or "none",
    )
    return env


@lru_cache(maxsize=1)
def _static() -> tuple[Markup, Markup]:
    """The page's style and script (`static/run.css`, `static/run.js`), inlined: the page fetches nothing."""
    files = resources.files("langgraph_pdr.view").joinpath("static")
    return tuple(Markup(files.joinpath(name).read_text("utf-8")) for name in ("run.css", "run.js"))  # type: ignore[return-value]


def render_result_html(
    result: PDRResult, *, gold: str | None = None, back: tuple[str, str] | None = None
) -> str:
    """The page of a run already loaded (`inspect_run`); `gold` grades its drafts and answer; `back`,
    (href, text), is a link above the title to the page the run was opened from (an evaluation's index).

    Example:
        ```python
        from langgraph_pdr import PDRConfig, PDRResult
        from langgraph_pdr.view import render_result_html

        page = render_result_html(PDRResult(thread_id="t", question="1 < 2?", config=PDRConfig(),
                                            status="running"))
        assert "1 &lt; 2?" in page and "still going" in page
        ```
    """
    css, script = _static()
    template = _environment().get_template("run.html.j2")
    return template.render(page=PageModel(result, gold), css=css, script=script, back=back)


def render_run_html(
    thread_id: str,
    db: str | Path | None = None,
    *,
    ledger: Ledger | None = None,
    back: tuple[str, str] | None = None,
) -> str:
    """One run as a self-contained HTML page: rounds of draft cards, the workspaces between them and
    lines from the drafts each was built from to the drafts that read it, the budgets, the answer.

    Drafts are graded against the gold answer stored with the run, when it has one. The page needs no
    network: its style and script are inline. Failed, interrupted and running runs render too.

    Args:
        thread_id: the run's id.
        db: the runs database (SQLite file or `postgresql://` URL; None: the default one).
        ledger: an open ledger to read from instead of `db` (e.g. an evaluation's).
        back: (href, text) of a link above the title, back to where the run was listed (an
            evaluation's `index.html`).

    Raises:
        RunNotFoundError: no run with this id, or no database at `db` (a `ValueError`).

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, render_run_html, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("7 * 3 = 21, so \\\\boxed{21}")]))
        run = run_pdr("What is 7 * 3?", model=model, config=PDRConfig(method="single"),
                      db="runs.sqlite", gold="21")
        page = render_run_html(run.thread_id, "runs.sqlite")
        assert page.startswith("<!DOCTYPE html>") and 'id="d1-0"' in page
        assert "\\\\boxed{21}" in page and "badge correct" in page
        ```
    """
    if ledger is not None:
        return render_result_html(ledger.load_result(thread_id), gold=run_gold(ledger, thread_id), back=back)
    result = inspect_run(thread_id, db)  # the errors of `pdr inspect`: no database, no such run
    opened = open_ledger(db)
    try:
        gold = run_gold(opened, thread_id)
    finally:
        opened.dispose()
    return render_result_html(result, gold=gold, back=back)


def write_run_html(
    thread_id: str,
    path: str | Path,
    db: str | Path | None = None,
    *,
    ledger: Ledger | None = None,
) -> Path:
    """Write `render_run_html`'s page of a run to `path` (UTF-8); return the path.

    Example:
        ```python
        import tempfile
        from pathlib import Path

        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr
        from langgraph_pdr.view import write_run_html

        db = Path(tempfile.mkdtemp()) / "runs.sqlite"
        model = GenericFakeChatModel(messages=iter([AIMessage("\\\\boxed{4}")]))
        run = run_pdr("2 + 2?", model=model, config=PDRConfig(method="single"), db=str(db))
        page = write_run_html(run.thread_id, db.parent / "run.html", str(db))
        assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        ```
    """
    out = Path(path)
    out.write_text(render_run_html(thread_id, db, ledger=ledger), encoding="utf-8")
    return out
