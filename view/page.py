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
from functools import lru_cache
from pathlib import Path
from typing import Any

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
    Workspace,
)
from langgraph_pdr.state.result import PDRResult

#: What a method's distiller, k and κ mean; the sampling baselines have none of them.
USES_DISTILLER = ("pdr",)
USES_KAPPA = ("pdr", "sr", "sr_error")


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


# -- the page's parts --------------------------------------------------------------------------------


def _num(n: int | float | None) -> str:
    return "" if n is None else f"{n:,}" if isinstance(n, int) else f"{n:g}"


def _badge(text: str, kind: str, title: str = "") -> str:
    tip = f' title="{esc(title)}"' if title else ""
    return f'<span class="badge {esc(kind)}"{tip}>{esc(text)}</span>'


def _verdict(correct: bool | None) -> str:
    if correct is None:
        return ""
    return _badge("correct", "correct") if correct else _badge("incorrect", "incorrect")


def _tokens(call: CallRecord | None, label: str = "") -> str:
    if call is None:
        return ""
    finish = f" · finish {esc(call.finish_reason)}" if call.finish_reason else ""
    lead = f"{esc(label)} " if label else ""
    return (
        f'<div class="tokens">{lead}in {_num(call.input_tokens)} · out {_num(call.output_tokens)}'
        f"{finish}</div>"
    )


def _text_block(text: str, summary: str, *, open_: bool = False) -> str:
    if not text:
        return ""
    state = " open" if open_ else ""
    return (
        f'<details class="text"{state}><summary>{esc(summary)}</summary>'
        f'<pre class="full">{esc(text)}</pre></details>'
    )


def _draft_card(d: Draft, gold: str | None, verify: CallRecord | None) -> str:
    kinds, badges = ["card", "draft"], []
    if not d.ok:
        kinds.append("failed")
        badges.append(_badge("failed", "failed"))
    elif d.unfinished:
        kinds.append("unfinished")
        badges.append(_badge("unfinished", "unfinished", "cut at max_tokens before a final answer"))
    correct = grade(d.text, gold) if d.ok and not d.unfinished and d.answer is not None else None
    if correct is not None:
        kinds.append("correct" if correct else "incorrect")
        badges.append(_verdict(correct))
    if d.score is not None:
        badges.append(_badge(f"score {d.score:g}", "score", "self-verification score, 0-10"))
    if d.check is not None:
        badges.append(_check_badge(d.check))
    answer = (
        f'<div class="answer" title="{esc(d.answer)}">{esc(d.answer)}</div>'
        if d.answer is not None
        else '<div class="answer none">no answer</div>'
    )
    read = (
        f'<div class="reads">read workspace {d.workspace_index}</div>'
        if d.workspace_index is not None
        else ""
    )
    error = f'<div class="error">{esc(d.error)}</div>' if d.error else ""
    return (
        f'<article class="{" ".join(kinds)}" id="d{d.round}-{d.index}" data-round="{d.round}" '
        f'data-index="{d.index}">'
        f'<header><span class="name">draft r{d.round}.{d.index}</span>{"".join(badges)}</header>'
        f"{answer}{_draft_tokens(d)}{_tokens(verify, 'verify')}{read}{error}{_check_block(d.check)}"
        f"{_turns_block(d) if d.turns else _text_block(d.text, 'full text')}</article>"
    )


def _check_badge(check: Check) -> str:
    """A draft's check as a badge: passed, or failed with its score; its feedback's first line as the tip."""
    said = (check.feedback or check.error or "").strip().splitlines()
    tip = f"{check.verifier}: {said[0] if said else ('passed' if check.passed else 'failed')}"
    if check.passed:
        return _badge("passed", "check-pass", tip)
    return _badge(f"failed {check.score:.0%}", "check-fail", tip)


def _check_block(check: Check | None) -> str:
    """A draft's check's feedback, shown on click, with the verifier and the check's wall time."""
    if check is None:
        return ""
    summary = f"check ({check.verifier}, {check.seconds:.2f} s): {'passed' if check.passed else 'failed'}"
    text = check.feedback or check.error or "(no feedback)"
    return (
        f'<details class="check"><summary>{esc(summary)}</summary>'
        f'<pre class="full feedback">{esc(text)}</pre></details>'
    )


def _draft_tokens(d: Draft) -> str:
    """A draft's tokens: its call's, or a tool-using draft's summed over its turns."""
    if not d.turns:
        return _tokens(d.call)
    calls = d.calls
    return (
        f'<div class="tokens">in {_num(sum(c.input_tokens for c in calls))} · out '
        f"{_num(sum(c.output_tokens for c in calls))} · {len(d.turns)} turns</div>"
    )


def _tool_call_html(call: ToolCall) -> str:
    """One tool call: the tool (fenced code and a failure marked), its code or arguments, its output."""
    args = dict(call.args)
    code = args.pop("code") if isinstance(args.get("code"), str) else None
    head = [esc(call.name)]
    head += [
        _badge(mark, kind)
        for mark, kind, on in (("fenced", "fenced", call.fenced), ("error", "failed", call.error))
        if on
    ]
    if args:
        head.append(f"<code>{esc(json.dumps(args, ensure_ascii=False))}</code>")
    failed = " failed" if call.error else ""
    return (
        f'<div class="tool{failed}">{" ".join(head)}</div>'
        + (f'<pre class="full code">{esc(code)}</pre>' if code is not None else "")
        + f'<pre class="full output">{esc(call.output) or "(no output)"}</pre>'
    )


def _turns_block(d: Draft) -> str:
    """A tool-using draft's full text, expandable: each turn's tokens, text and tool calls with their
    results."""
    made = sum(len(t.tool_calls) for t in d.turns)
    turns = "".join(
        f'<div class="turn">{_tokens(t.call, f"turn {t.turn}")}'
        + (f'<pre class="full">{esc(t.text)}</pre>' if t.text else "")
        + "".join(_tool_call_html(c) for c in t.tool_calls)
        + "</div>"
        for t in d.turns
    )
    summary = f"full text: {len(d.turns)} turns, {made} tool call{'' if made == 1 else 's'}"
    return f'<details class="text"><summary>{esc(summary)}</summary>{turns}</details>'


def _placeholder(round: int, index: int, why: str) -> str:
    return (
        f'<article class="card draft placeholder" id="d{round}-{index}" data-round="{round}" '
        f'data-index="{index}"><header><span class="name">draft r{round}.{index}</span>'
        f"{_badge(why, 'pending')}</header></article>"
    )


def _workspace_card(w: Workspace) -> str:
    sources = ", ".join(f"r{w.round}.{s}" for s in w.sources) or "none"
    counted = f' title="counted by {esc(w.counted_by)}"' if w.counted_by else ""
    return (
        f'<article class="card workspace" id="w{w.round}-{w.index}" data-round="{w.round}" '
        f'data-index="{w.index}"><header><span class="name">workspace {w.index}</span>'
        f"{_badge(w.distiller, 'distiller') if w.distiller else ''}</header>"
        f'<div class="tokens"{counted}>{_num(w.tokens)} tokens</div>'
        f'<div class="sources">from drafts {esc(sources)}</div>'
        f"{_tokens(w.call, 'distill')}{_text_block(w.text, 'workspace text')}</article>"
    )


def _judgments_card(judged: list[Judgment], title: str) -> str:
    """A tournament's comparisons: per comparison, the two drafts shown, the one preferred and the
    judge's reply (expandable)."""
    items = []
    for j in judged:
        won = "no verdict" if j.preferred is None else f"r{j.round}.{j.preferred}"
        items.append(
            f"<li>level {j.level}: r{j.round}.{j.first} v r{j.round}.{j.second} &rarr; {esc(won)}"
            f"{_text_block(j.text, 'reply')}</li>"
        )
    return (
        f'<article class="card judge"><header><span class="name">{esc(title)}</span></header>'
        f'<ol class="judgments">{"".join(items)}</ol></article>'
    )


def _critique_card(r: RoundRecord, call: CallRecord | None) -> str:
    return (
        f'<article class="card critique" id="c{r.round}" data-round="{r.round}">'
        f'<header><span class="name">critique r{r.round}</span></header>'
        f"{_tokens(call)}{_text_block(r.critique or '', 'critique text')}</article>"
    )


def _missing_reason(result: PDRResult) -> str:
    if result.status == "running":
        return "pending"
    if result.status in ("failed", "interrupted"):
        return "not reached"
    return "not run"


class _Page:
    """The parts of one run's page, and the lines between its cards."""

    def __init__(self, result: PDRResult, gold: str | None) -> None:
        self.result, self.gold = result, gold
        self.rounds = {r.round: r for r in result.rounds}
        self.calls = {(c.role, c.round, c.index): c for c in result.calls}
        self.links: list[tuple[str, str, str]] = []
        self.last = max((r.round for r in result.rounds if r.drafts), default=0)
        # a run still going has booked no budget yet: what its calls spent so far
        spent = sum(c.total_tokens for c in (*result.calls, *result.failed_calls))
        self.b_seq = result.b_seq or sum(t for _, t, _ in stage_maxima(result.calls))
        self.b_total = result.b_total or spent

    def round_column(self, n: int) -> str:
        cfg, rec = self.result.config, self.rounds.get(n)
        drafts = {d.index: d for d in (rec.drafts if rec else [])}
        width = max([rec.width if rec and rec.width else 0, cfg.width(n) if n <= cfg.rounds else 0])
        first = cfg.first_index(n) if n <= cfg.rounds else 0  # self-consistency's windows number on
        width = max([width, *(i + 1 - first for i in drafts)])
        why = _missing_reason(self.result)
        cards = []
        for i in range(first, first + width):
            d = drafts.get(i)
            if d is None:
                cards.append(_placeholder(n, i, why))
                continue
            cards.append(_draft_card(d, self.gold, self.calls.get(("verify", n, i))))
            if d.workspace_index is not None:
                self.links.append((f"w{n - 1}-{d.workspace_index}", f"d{n}-{i}", "read"))
            if n > 1 and self.rounds.get(n - 1) and self.rounds[n - 1].critique:
                self.links.append((f"c{n - 1}", f"d{n}-{i}", "critique"))
        state = "" if rec is not None else " missing"
        note = "" if rec is not None else f'<p class="note">{esc(_missing_reason(self.result))}</p>'
        return (
            f'<section class="column round{state}" data-round="{n}"><h3>round {n}'
            f" <small>{width} draft{'s' if width != 1 else ''}</small></h3>{note}{''.join(cards)}</section>"
        )

    def between_column(self, n: int) -> str:
        """What round `n` handed round `n + 1`: its workspaces (and, for SR with error analysis, its
        critique)."""
        rec = self.rounds.get(n)
        if rec is None or (not rec.workspaces and not rec.critique):
            return ""
        cards = []
        for w in rec.workspaces:
            cards.append(_workspace_card(w))
            self.links += [(f"d{n}-{s}", f"w{n}-{w.index}", "source") for s in w.sources]
        judged = [j for j in rec.judgments if j.role == "distill"]
        if judged:
            cards.append(_judgments_card(judged, f"tournament: {len(judged)} comparisons"))
        if rec.critique:
            cards.append(_critique_card(rec, self.calls.get(("critique", n, 0))))
            self.links += [(f"d{n}-{d.index}", f"c{n}", "critique") for d in rec.drafts if d.ok]
        distills = [c for c in self.result.calls if c.role == "distill" and c.round == n]
        spent = sum(c.total_tokens for c in distills)
        cost = f"<small>{len(distills)} distill call(s), {_num(spent)} tokens</small>" if distills else ""
        return (
            f'<section class="column between" data-after="{n}"><h3>to round {n + 1} {cost}</h3>'
            f"{''.join(cards)}</section>"
        )

    def final_column(self) -> str:
        r = self.result
        correct = grade(r.text, self.gold) if r.text else None
        if r.answer is not None and self.last:
            last = self.rounds[self.last]
            self.links += [
                (f"d{self.last}-{d.index}", "final", "final")
                for d in last.drafts
                if d.ok and d.answer is not None and d.answer == r.answer
            ]
        answer = (
            f'<div class="answer">{esc(r.answer)}</div>'
            if r.answer is not None
            else '<div class="answer none">no answer yet</div>'
            if r.status == "running"
            else '<div class="answer none">no answer</div>'
        )
        gold = f'<div class="gold">gold {esc(self.gold)}</div>' if self.gold is not None else ""
        judged = [j for j in self.rounds[self.last].judgments if j.role == "judge"] if self.last else []
        chosen = _judgments_card(judged, f"final selection: {len(judged)} comparisons") if judged else ""
        return (
            '<section class="column final-column"><h3>answer</h3>'
            f'<article class="card final" id="final"><header><span class="name">final</span>'
            f"{_verdict(correct)}{_badge(r.status, 'status-' + r.status)}</header>{answer}{gold}"
            f'<div class="tokens">B_seq {_num(self.b_seq)} · B_total {_num(self.b_total)}</div>'
            f"</article>{chosen}</section>"
        )

    def flow(self) -> str:
        cfg = self.result.config
        count = max(cfg.rounds, max(self.rounds, default=0))
        columns = []
        for n in range(1, count + 1):
            columns.append(self.round_column(n))
            if n < count:
                columns.append(self.between_column(n))
        columns.append(self.final_column())
        return (
            '<div class="flow" id="flow"><svg class="links" id="links" aria-hidden="true"></svg>'
            f"{''.join(columns)}</div>"
        )


def _header(result: PDRResult, gold: str | None) -> str:
    cfg = result.config
    facts = [("method", cfg.method), ("schedule", ",".join(map(str, cfg.schedule)))]
    if cfg.method in USES_DISTILLER:
        facts += [("distiller", cfg.distiller), ("k", str(cfg.k))]
    if cfg.method in USES_KAPPA:
        facts.append(("κ", _num(cfg.kappa)))
    facts += [("model", result.model or ""), ("status", result.status), ("stop", result.stop_reason)]
    if gold is not None:
        facts.append(("gold", gold))
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    banner = ""
    if result.status == "running":
        banner = (
            '<p class="banner running">This run is still going: run <code>pdr view '
            f"{esc(result.thread_id)}</code> again to see what it has done since.</p>"
        )
    elif result.status in ("failed", "interrupted"):
        resume = f" Resume it with <code>pdr resume {esc(result.thread_id)}</code>."
        error = f": {esc(result.error)}" if result.error else ""
        what = "failed" if result.status == "failed" else "was interrupted"
        banner = f'<p class="banner {esc(result.status)}">This run {what}{error}.{resume}</p>'
    return (
        f'<header class="top"><h1>PDR run <code>{esc(result.thread_id)}</code></h1>{banner}'
        f'<dl class="facts">{items}</dl>'
        f'<section class="question"><h2>question</h2><pre>{esc(result.question)}</pre></section></header>'
    )


def _budget(result: PDRResult) -> str:
    stages = stage_maxima(result.calls)
    b_seq = sum(t for _, t, _ in stages)
    segments = "".join(
        f'<div class="seg role-{esc(c.role)}" style="flex-grow:{max(t, 1)}" '
        f'title="{esc(stage)}: {t:,} tokens, {esc(c.role)} r{c.round}.{c.index}">'
        f"<span>{esc(stage)}</span><b>{_num(t)}</b></div>"
        for stage, t, c in stages
    )
    totals = totals_by_role_and_round(result.calls)
    failed = totals_by_role_and_round(result.failed_calls)
    rounds = sorted({n for _, n in totals} | {n for _, n in failed})
    head = "".join(f"<th>r{n}</th>" for n in rounds)
    rows = []
    for role in ROLES:
        cells = [totals.get((role, n), 0) for n in rounds]
        if any(cells):
            rows.append(
                f'<tr><th><span class="dot role-{role}"></span>{role}</th>'
                + "".join(f"<td>{_num(v) if v else ''}</td>" for v in cells)
                + f"<td>{_num(sum(cells))}</td></tr>"
            )
    if failed:
        cells = [sum(v for (_, n), v in failed.items() if n == r) for r in rounds]
        rows.append(
            "<tr><th>failed attempts</th>"
            + "".join(f"<td>{_num(v) if v else ''}</td>" for v in cells)
            + f"<td>{_num(sum(cells))}</td></tr>"
        )
    total = sum(totals.values()) + sum(failed.values())
    col_sums = "".join(
        f"<td>{_num(sum(v for (_, n), v in [*totals.items(), *failed.items()] if n == r))}</td>"
        for r in rounds
    )
    strip = (
        f'<div class="strip" id="bseq-strip">{segments}</div>'
        if segments
        else '<p class="note">no call yet</p>'
    )
    return (
        '<section class="budget" id="budget"><h2>budget</h2>'
        f"<h3>B_seq {_num(result.b_seq or b_seq)} <small>the critical path: per stage, its largest "
        f"call (input + output)</small></h3>{strip}"
        f"<h3>B_total {_num(result.b_total or total)} <small>every call, by role and round</small></h3>"
        f'<table class="totals"><thead><tr><th></th>{head}<th>all</th></tr></thead><tbody>{"".join(rows)}'
        f"<tr class='sum'><th>all</th>{col_sums}<td>{_num(total)}</td></tr></tbody></table>"
        f"{_calls_table(result)}</section>"
    )


def _calls_table(result: PDRResult) -> str:
    calls = [*result.calls, *result.failed_calls]
    if not calls:
        return ""
    cols = ("role", "round", "index", "stage", "in", "out", "latency s", "finish", "usage", "error")
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{esc(v)}</td>"
            for v in (
                c.role,
                c.round,
                c.index,
                c.stage,
                _num(c.input_tokens),
                _num(c.output_tokens),
                f"{c.latency_s:.2f}",
                c.finish_reason or "",
                c.usage_source,
                c.error or "",
            )
        )
        + "</tr>"
        for c in calls
    )
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    return (
        f'<details class="calls"><summary>calls ({len(calls)})</summary>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></details>"
    )


def _final(result: PDRResult, gold: str | None) -> str:
    correct = grade(result.text, gold) if result.text else None
    answer = esc(result.answer) if result.answer is not None else "<em>none</em>"
    text = f"<pre>{esc(result.text)}</pre>" if result.text else '<p class="note">no final text</p>'
    return (
        f'<section class="final-answer" id="final-answer"><h2>final answer {_verdict(correct)}</h2>'
        f'<p class="answer big">{answer}</p>{text}</section>'
    )


def _links_json(links: list[tuple[str, str, str]]) -> str:
    # inside a <script> element: no `<` may close it early
    return json.dumps(list(dict.fromkeys(links))).replace("<", "\\u003c")


def render_result_html(result: PDRResult, *, gold: str | None = None) -> str:
    """The page of a run already loaded (`inspect_run`); `gold` grades its drafts and answer.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, PDRResult
        from langgraph_pdr.view import render_result_html

        page = render_result_html(PDRResult(thread_id="t", question="1 < 2?", config=PDRConfig(),
                                            status="running"))
        assert "1 &lt; 2?" in page and "still going" in page
        ```
    """
    page = _Page(result, gold)
    flow = page.flow()
    title = f"PDR run {result.thread_id}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no favicon request
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f'<body data-status="{esc(result.status)}">{_header(result, gold)}<main>'
        f'<section class="rounds"><h2>rounds</h2>{flow}</section>{_budget(result)}{_final(result, gold)}'
        f'</main><script type="application/json" id="pdr-links">{_links_json(page.links)}</script>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def render_run_html(thread_id: str, db: str | Path | None = None, *, ledger: Ledger | None = None) -> str:
    """One run as a self-contained HTML page: rounds of draft cards, the workspaces between them and
    lines from the drafts each was built from to the drafts that read it, the budgets, the answer.

    Drafts are graded against the gold answer stored with the run, when it has one. The page needs no
    network: its style and script are inline. Failed, interrupted and running runs render too.

    Args:
        thread_id: the run's id.
        db: the runs database (SQLite file or `postgresql://` URL; None: the default one).
        ledger: an open ledger to read from instead of `db` (e.g. an evaluation's).

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
        return render_result_html(ledger.load_result(thread_id), gold=run_gold(ledger, thread_id))
    result = inspect_run(thread_id, db)  # the errors of `pdr inspect`: no database, no such run
    opened = open_ledger(db)
    try:
        gold = run_gold(opened, thread_id)
    finally:
        opened.dispose()
    return render_result_html(result, gold=gold)


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


CSS = """
:root{--ink:#1d1d28;--muted:#6b6b80;--line:#d9d7e8;--card:#fff;--bg:#f6f5fb;--accent:#4b3fbf;
--good:#1a7f37;--bad:#c62828;--warn:#b26a00;--draft:#6d5dfc;--verify:#0f9d8a;--distill:#e07a1f;
--critique:#d1495b;--judge:#8e6c8a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:var(--bg)}
code,pre,.answer,.tokens{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
header.top,main{padding:14px 16px}
header.top{background:#fff;border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:18px 0 8px;text-transform:capitalize}
h3{font-size:13px;margin:0 0 8px;color:var(--muted);font-weight:600}
h3 small,h2 small{font-weight:400;color:var(--muted)}
.facts{display:flex;flex-wrap:wrap;gap:6px 18px;margin:8px 0}
.facts div{display:flex;gap:6px}.facts dt{color:var(--muted)}.facts dd{margin:0;font-weight:600}
.question pre,.final-answer pre{white-space:pre-wrap;word-break:break-word;background:var(--bg);
padding:10px;border-radius:6px;margin:0;max-height:420px;overflow:auto}
.banner{padding:8px 12px;border-radius:6px;margin:8px 0}
.banner.running{background:#eef4ff;border:1px solid #b9cdfa}
.banner.failed,.banner.interrupted{background:#fff1f0;border:1px solid #f3b7b2}
.flow{position:relative;display:flex;align-items:flex-start;gap:40px;overflow-x:auto;padding:8px 2px 16px}
.links{position:absolute;left:0;top:0;pointer-events:none;overflow:visible;z-index:0}
.link{fill:none;stroke:#9a92e6;stroke-width:1.6;opacity:.75}
.link.read{stroke:var(--accent)}.link.final{stroke:var(--good);stroke-dasharray:5 4}
.link.critique{stroke:var(--critique);stroke-dasharray:3 3}.link.hot{stroke-width:3.2;opacity:1}
.column{display:flex;flex-direction:column;gap:12px;min-width:190px;max-width:280px;flex:1 1 220px;
position:relative;z-index:1}
.column.between{min-width:170px;flex-basis:190px}
.column.missing{opacity:.75}
.card{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--draft);
border-radius:8px;padding:8px 10px;box-shadow:0 1px 2px rgba(0,0,0,.05)}
.card header{display:flex;flex-wrap:wrap;align-items:center;gap:4px;margin-bottom:4px}
.card .name{font-weight:600;margin-right:auto}
.card.workspace,.card.judge{border-left-color:var(--distill)}.card.critique{border-left-color:var(--critique)}
.card.final{border-left-color:var(--good)}
.card.failed{border-left-color:var(--bad);background:#fff8f7}
.card.unfinished{border-left-color:var(--warn)}
.card.correct{box-shadow:inset 0 0 0 1px #b7e1c1}.card.incorrect{box-shadow:inset 0 0 0 1px #f3c4c4}
.card.placeholder{border-style:dashed;background:transparent;box-shadow:none;color:var(--muted)}
.answer{font-size:15px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.answer.none{color:var(--muted);font-weight:400;font-style:italic}
.answer.big{font-size:18px;white-space:pre-wrap}
.tokens,.sources,.reads,.gold{font-size:12px;color:var(--muted)}
.error{font-size:12px;color:var(--bad);word-break:break-word}
.badge{font-size:11px;padding:1px 6px;border-radius:10px;background:#efeef6;color:var(--muted)}
.badge.correct{background:#e3f4e7;color:var(--good)}.badge.incorrect{background:#fde8e8;color:var(--bad)}
.badge.failed{background:var(--bad);color:#fff}.badge.unfinished{background:#fff2db;color:var(--warn)}
.badge.score{background:#e6f6f3;color:var(--verify)}
.badge.check-pass{background:#e3f4e7;color:var(--good)}.badge.check-fail{background:#fde8e8;color:var(--bad)}.badge.distiller{background:#fdeedd;color:var(--distill)}
.badge.status-running{background:#eef4ff;color:#2456c9}
.badge.status-failed,.badge.status-interrupted{background:#fde8e8;color:var(--bad)}
details.text summary,details.calls summary,details.check summary{
cursor:pointer;color:var(--accent);font-size:12px}
.turn{border-top:1px dashed var(--line);margin-top:6px;padding-top:4px}
.tool{font-size:12px;font-weight:600;margin-top:6px}.tool.failed{color:var(--bad)}
.badge.fenced{background:#eef4ff;color:#2456c9}pre.full.output{background:#eef7f1}
pre.full{white-space:pre-wrap;word-break:break-word;font-size:12px;max-height:360px;overflow:auto;
background:var(--bg);padding:6px;border-radius:4px;margin:6px 0 0}
.note{color:var(--muted);font-style:italic;margin:0}
.strip{display:flex;height:44px;border-radius:6px;overflow:hidden;border:1px solid var(--line);
background:#fff}
.seg{min-width:3px;display:flex;flex-direction:column;justify-content:center;padding:0 6px;color:#fff;
font-size:11px;overflow:hidden;white-space:nowrap;border-right:1px solid #fff}
.seg b{font-weight:600}
.role-draft{background:var(--draft)}.role-verify{background:var(--verify)}
.role-distill{background:var(--distill)}.role-critique{background:var(--critique)}.role-judge{background:var(--judge)}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:6px}
table{border-collapse:collapse;background:#fff;font-size:12px;margin:6px 0}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:right}
th{background:#f1f0f8;text-align:left}
tr.sum td,tr.sum th{font-weight:700}
"""

SCRIPT = """
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var flow = document.getElementById("flow");
  var svg = document.getElementById("links");
  var links = JSON.parse(document.getElementById("pdr-links").textContent);
  function anchor(el, right) {
    var f = flow.getBoundingClientRect(), r = el.getBoundingClientRect();
    var head = el.querySelector("header");
    var y = head ? head.getBoundingClientRect().bottom - f.top : r.top - f.top + r.height / 2;
    return {x: (right ? r.right : r.left) - f.left + flow.scrollLeft, y: y + flow.scrollTop};
  }
  function draw() {
    svg.setAttribute("width", flow.scrollWidth);
    svg.setAttribute("height", flow.scrollHeight);
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var drawn = 0;
    links.forEach(function (link) {
      var a = document.getElementById(link[0]), b = document.getElementById(link[1]);
      if (!a || !b) { return; }
      var p = anchor(a, true), q = anchor(b, false), dx = Math.max(24, (q.x - p.x) / 2);
      var path = document.createElementNS(NS, "path");
      path.setAttribute("d", "M" + p.x + "," + p.y + " C" + (p.x + dx) + "," + p.y + " " +
        (q.x - dx) + "," + q.y + " " + q.x + "," + q.y);
      path.setAttribute("class", "link " + link[2]);
      path.setAttribute("data-from", link[0]);
      path.setAttribute("data-to", link[1]);
      svg.appendChild(path);
      drawn += 1;
    });
    document.body.setAttribute("data-links-drawn", String(drawn));
  }
  function hot(id, on) {
    svg.querySelectorAll("path").forEach(function (p) {
      if (p.getAttribute("data-from") === id || p.getAttribute("data-to") === id) {
        p.classList.toggle("hot", on);
      }
    });
  }
  document.querySelectorAll(".card[id]").forEach(function (card) {
    card.addEventListener("mouseenter", function () { hot(card.id, true); });
    card.addEventListener("mouseleave", function () { hot(card.id, false); });
  });
  flow.addEventListener("toggle", draw, true);
  window.addEventListener("resize", draw);
  window.addEventListener("load", draw);
  if (window.ResizeObserver) { new ResizeObserver(draw).observe(flow); }
  draw();
})();
"""
