"""`pdr inspect`: what one run did, round by round (`--json`: all of it), a tournament's comparisons,
and each tool-using draft's turns: its tool calls, their code and output, and each turn's tokens."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from langgraph_pdr.cli.common import add_command, console, print_json, result_json, shorten, store_options
from langgraph_pdr.runner import inspect_run
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.records import CallRecord, Check, Draft, DraftTurn, Judgment, ToolCall
from langgraph_pdr.state.result import PDRResult

#: Lines of a tool call's code (or arguments) and of its output that `pdr inspect` shows.
EXCERPT_LINES = 4
#: Characters of each such line, and of a turn's text.
EXCERPT_WIDTH = 100


def add_parsers(sub: Any) -> None:
    inspect = add_command(sub, "inspect")
    inspect.add_argument("thread_id", help="the run's id (pdr runs lists them)")
    store_options(inspect)
    inspect.set_defaults(handler=cmd_inspect)


def cmd_inspect(args: argparse.Namespace) -> int:
    """A header of one-line values, then the drafts, the workspaces and the calls."""
    result = inspect_run(args.thread_id, args.db)
    if args.json:
        print_json(result_json(result))
        return 0
    out = console()
    out.print(result.thread_id, style="bold", end="  ")
    config = result.config
    shown = {
        "pdr": f"  distiller {config.distiller}  k {config.k}  κ {config.kappa}",
        "sr": f"  κ {config.kappa}",
        "sr_error": f"  κ {config.kappa}",
    }  # what the method uses
    out.print(
        f"{config.method} {','.join(map(str, config.schedule))}{shown.get(config.method, '')}"
        f"{tools_header(config)}  model {result.model}"
    )
    out.print(
        f"status {result.status}  stop {result.stop_reason}  answer {shorten(result.answer, 40)}  "
        f"B_seq {result.b_seq:,}  B_total {result.b_total:,}"
        + (f"  retries {len(result.failed_calls)}" if result.failed_calls else "")
    )
    out.print(f"question: {shorten(result.question, 200)}")
    if result.images:
        pictures = Table(title=f"images ({len(result.images)})")
        for col in ("sha256", "type", "bytes", "url"):
            pictures.add_column(col)
        for ref in result.images:
            pictures.add_row(ref.sha256, ref.mime, f"{ref.size:,}" if ref.url is None else "", ref.url or "")
        out.print(pictures)
    tooled = [d for r in result.rounds for d in r.drafts if d.turns]
    checked = [d for r in result.rounds for d in r.drafts if d.check is not None]
    drafts = Table(title="drafts")
    cols = ("round", "idx", "ok", "answer", "score", "workspace", "in", "out", "error")
    extra = (("tool calls",) if tooled else ()) + (("check",) if checked else ())
    for col in cols[:-1] + extra + cols[-1:]:
        drafts.add_column(col)
    for r in result.rounds:
        for d in r.drafts:
            spent = d.calls  # a tool-using draft's tokens are its turns' sum
            state = "yes" if d.ok and not d.unfinished else ("unfinished" if d.ok else "no")
            drafts.add_row(
                str(d.round),
                str(d.index),
                state,
                shorten(d.answer, 30) if d.ok else "",
                "" if d.score is None else f"{d.score:g}",
                "" if d.workspace_index is None else str(d.workspace_index),
                str(sum(c.input_tokens for c in spent)) if spent else "",
                str(sum(c.output_tokens for c in spent)) if spent else "",
                *((tool_count(d),) if tooled else ()),
                *((check_cell(d.check),) if checked else ()),
                shorten(d.error, 40),
            )
    out.print(drafts)
    if tooled:
        show_turns(out, tooled)
    if checked:
        show_checks(out, checked)
    spaces = Table(title="workspaces")
    for col in ("round", "idx", "distiller", "tokens", "counted by", "sources"):
        spaces.add_column(col)
    for w in result.workspaces:
        spaces.add_row(
            str(w.round),
            str(w.index),
            w.distiller,
            str(w.tokens),
            w.counted_by,
            ",".join(map(str, w.sources)),
        )
    out.print(spaces)
    judged = [j for r in result.rounds for j in r.judgments]
    if judged:
        out.print(judgments_table(judged))
    ends: dict[str, Callable[[CallRecord], str]] = {
        "finish": lambda c: c.finish_reason or "",
        "usage": lambda c: c.usage_source,
    }
    out.print(calls_table(f"calls ({len(result.calls)})", result.calls, turns=bool(tooled), tail=ends))
    if result.failed_calls:  # each retried, or the last before its draft failed
        title = f"failed attempts ({len(result.failed_calls)}), retried"
        errors: dict[str, Callable[[CallRecord], str]] = {"error": lambda c: shorten(c.error, 80)}
        out.print(calls_table(title, result.failed_calls, turns=False, tail=errors))
    return 0


def calls_table(
    title: str, calls: Sequence[CallRecord], *, turns: bool, tail: dict[str, Callable[[CallRecord], str]]
) -> Table:
    """A table of model calls: which call (role, round, index, and `turn` of a tool-using draft), its
    tokens and latency, then the `tail` columns (name: cell of a call)."""
    table = Table(title=title)
    for col in ("role", "round", "idx", *(("turn",) if turns else ()), "in", "out", "latency s", *tail):
        table.add_column(col)
    for c in calls:
        table.add_row(
            c.role,
            str(c.round),
            str(c.index),
            *((str(c.turn),) if turns else ()),
            str(c.input_tokens),
            str(c.output_tokens),
            f"{c.latency_s:.2f}",
            *(cell(c) for cell in tail.values()),
        )
    return table


# -- tool-using drafts ------------------------------------------------------------------------------


def tools_header(config: PDRConfig) -> str:
    """What the header says of a run's tools and selector ("" for a run with neither).

    Example:
        ```python
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.cli.inspect import tools_header

        assert tools_header(PDRConfig()) == ""
        config = PDRConfig(tools="python", tool_format="fenced", max_tool_calls=3)
        assert tools_header(config) == "  tools python (fenced, at most 3 calls a draft)"
        ```
    """
    text = ""
    if config.tools:
        text += (
            f"  tools {','.join(config.tools)} ({config.tool_format}, "
            f"at most {config.max_tool_calls} calls a draft)"
        )
    if config.selector != "vote":
        text += f"  selector {config.selector}"
    return text


def check_cell(check: Check | None) -> str:
    """A draft's check in a table cell: pass or fail, its score, its wall time."""
    if check is None:
        return ""
    return f"{'pass' if check.passed else 'fail'} {check.score:.2f} ({check.seconds:.1f} s)"


def show_checks(out: Console, drafts: list[Draft]) -> None:
    """Each checked draft's feedback, as its verifier wrote it (bounded)."""
    table = Table(title="checks")
    for col in ("round", "idx", "verifier", "passed", "score", "seconds", "feedback"):
        table.add_column(col)
    for d in drafts:
        c = d.check
        assert c is not None
        table.add_row(
            str(d.round),
            str(d.index),
            c.verifier,
            "yes" if c.passed else "no",
            f"{c.score:.2f}",
            f"{c.seconds:.2f}",
            c.feedback or (c.error or ""),
        )
    out.print(table)


def judgments_table(judged: list[Judgment]) -> Table:
    """A tournament's comparisons: the drafts shown as solutions 1 and 2, the one preferred (`-`: a
    reply without a verdict), and the reply on one line."""
    table = Table(title=f"tournament comparisons ({len(judged)})")
    for col in ("round", "role", "idx", "level", "solution 1", "solution 2", "preferred", "reply"):
        table.add_column(col)
    for j in judged:
        preferred = "-" if j.preferred is None else str(j.preferred)
        row = (j.round, j.role, j.index, j.level, j.first, j.second, preferred)
        table.add_row(*map(str, row), shorten(j.text, EXCERPT_WIDTH))
    return table


def tool_count(draft: Draft) -> str:
    """A draft's tool calls, and how many of them failed: `3`, `3 (1 failed)`, or "" without turns."""
    if not draft.turns:
        return ""
    made = [c for t in draft.turns for c in t.tool_calls]
    failed = sum(c.error for c in made)
    return f"{len(made)} ({failed} failed)" if failed else str(len(made))


def excerpt(text: str, lines: int = EXCERPT_LINES, width: int = EXCERPT_WIDTH) -> list[str]:
    """The first `lines` lines of `text`, each cut to `width` characters (`…`), then a line saying
    how many more there were.

    Example:
        ```python
        from langgraph_pdr.cli.inspect import excerpt

        assert excerpt("a\\nb\\nc\\n", lines=2) == ["a", "b", "… 1 more line"]
        assert excerpt("x" * 8, width=5) == ["xxxx…"]
        ```
    """
    rows = text.expandtabs(4).rstrip("\n").splitlines()
    shown = [row if len(row) <= width else row[: width - 1] + "…" for row in rows[:lines]]
    more = len(rows) - lines
    if more > 0:
        shown.append(f"… {more} more line{'s' if more > 1 else ''}")
    return shown


def call_lines(call: ToolCall) -> list[str]:
    """A tool call as `pdr inspect` shows it: the tool (fenced code marked, a failure marked), its code
    or arguments, and its output, each cut to a few lines."""
    marks = [m for m, on in (("fenced", call.fenced), ("error", call.error)) if on]
    args = dict(call.args)
    code = args.pop("code") if isinstance(args.get("code"), str) else None
    head = call.name + (f" [{', '.join(marks)}]" if marks else "")
    if args:
        head += f" {shorten(json.dumps(args, ensure_ascii=False), EXCERPT_WIDTH)}"
    lines = [head]
    if code is not None:
        lines += [f"  | {row}" for row in excerpt(code)]
    output = excerpt(call.output)
    lines.append("  error:" if call.error else "  output:")
    lines += [f"  > {row}" for row in output] or ["  > (none)"]
    return lines


def turn_lines(turn: DraftTurn) -> list[str]:
    """One turn: its tokens and finish reason, its text on one line, then each tool call."""
    c = turn.call
    tokens = f"  in {c.input_tokens}  out {c.output_tokens}  finish {c.finish_reason or ''}" if c else ""
    lines = [f"turn {turn.turn}{tokens}".rstrip()]
    if turn.text.strip():
        lines.append(f"  text: {shorten(turn.text, EXCERPT_WIDTH)}")
    for call in turn.tool_calls:
        lines += [f"  {row}" for row in call_lines(call)]
    return lines


def show_turns(out: Console, drafts: list[Draft]) -> None:
    """Each tool-using draft's turns, under a heading per draft."""
    out.print("turns of the tool-using drafts", style="bold")
    for d in drafts:
        spent = sum(c.total_tokens for c in d.calls)
        made = [c for t in d.turns for c in t.tool_calls]
        failed = sum(c.error for c in made)
        out.print(
            f"draft r{d.round}.{d.index}: {len(d.turns)} turn{'' if len(d.turns) == 1 else 's'}, "
            f"{len(made)} tool call{'' if len(made) == 1 else 's'}"
            f"{f' ({failed} failed)' if failed else ''}, {spent} tokens"
        )
        for turn in d.turns:
            for line in turn_lines(turn):
                out.print(f"  {line}", emoji=False)


def tool_summary(result: PDRResult) -> str | None:
    """One line on a run's tool calls (`pdr run` prints it), or None when no draft called a tool."""
    drafts = [d for r in result.rounds for d in r.drafts if d.turns]
    made = [c for d in drafts for t in d.turns for c in t.tool_calls]
    if not drafts:
        return None
    failed = sum(c.error for c in made)
    return f"tool calls: {len(made)} by {len(drafts)} draft(s), {failed} failed"
