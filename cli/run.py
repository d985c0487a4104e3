"""`pdr run` and `pdr resume`: answer a question, or finish an interrupted run, and print the result."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph_pdr.budgets.accounting import CapTooSmall
from langgraph_pdr.calls.model_call import ImagesNotSupported
from langgraph_pdr.checkpoints.ledger import FINISHED, RunLockedError
from langgraph_pdr.checkpoints.store import check_db, resolve_db
from langgraph_pdr.cli.common import (
    RunFailed,
    UsageError,
    add_command,
    age,
    console,
    interruptible,
    is_local,
    model_arg,
    model_options,
    positive,
    prepare_local,
    print_json,
    probe,
    result_json,
    store_options,
    temperature,
)
from langgraph_pdr.cli.inspect import tool_summary
from langgraph_pdr.cli.progress import Progress
from langgraph_pdr.images import load_images
from langgraph_pdr.local_model import resolve_run_config
from langgraph_pdr.runner import checked_config, inspect_run, list_runs, resume_pdr, run_pdr
from langgraph_pdr.runner.execution import refusal_hint
from langgraph_pdr.selection.check_rank import check_label
from langgraph_pdr.state.config import DEFAULT_MAX_TOOL_CALLS, DEFAULT_TOOL_TIMEOUT, PDRConfig, error_line
from langgraph_pdr.state.result import PDRResult

#: What `pdr run` says of a run whose last round was cut off before any answer.
UNFINISHED_NOTE = (
    "the final draft was cut off at max_tokens before its answer: the answer is the vote of "
    "the drafts before it that finished (raise --max-tokens for a complete final text)"
)


def add_parsers(sub: Any) -> None:
    run = add_command(sub, "run")
    run.add_argument("question", help="the question, or - to read it from stdin")
    run.add_argument(
        "--method",
        help="pdr, sr, sr_error, single, self_consistency, best_of_n (default: pdr; on the embedded "
        "model, self_consistency in windows 4,4 with early stop 0.75, unless a PDR option is given)",
    )
    run.add_argument(
        "--schedule", help="drafts per round, e.g. 4,2,1 (default: 4,4 on the embedded model, else 4,2,1)"
    )
    run.add_argument(
        "--distiller",
        help="global_summary, shared_top_k, per_sample_top_k, majority_k, random_k, tournament, "
        "verified_top_k, per_draft_repair (these two read checks: give --tests or --verifier), "
        "oracle_correct, oracle_incorrect (default: majority_k on the embedded model, else global_summary)",
    )
    run.add_argument("--k", type=positive, help="drafts an extractive distiller keeps")
    run.add_argument("--kappa", type=positive, help="workspace bound, in tokens")
    run.add_argument("--max-tokens", type=positive, help="max tokens of each draft")
    run.add_argument("--temperature", type=temperature, help="temperature of the drafts")
    run.add_argument("--seed", type=int, help="seed of the random distillers and of each call (default 0)")
    run.add_argument("--max-b-total", type=positive, help="hard cap on B_total")
    run.add_argument("--max-b-seq", type=positive, help="hard cap on B_seq")
    run.add_argument("--gold", help="gold answer (oracle distillers only)")
    run.add_argument(
        "--image",
        action="append",
        metavar="FILE",
        dest="images",
        help="an image of the question: a file, or an http(s) URL (repeatable)",
    )
    run.add_argument(
        "--thread-id", help="the run's id (default: a new one); pdr resume and pdr inspect take it"
    )
    run.add_argument(
        "--prompts", help="the prompt set of every call: card (default) or classic, or one you registered"
    )
    run.add_argument(
        "--early-stop",
        type=fraction_or_off,
        metavar="F|off",
        help="end after a round in which at least this fraction of the finished drafts "
        "agree, e.g. 1.0, or off (pdr, sr; default: 1.0 for pdr on the embedded model, else off)",
    )
    check_options(run)
    tool_options(run)
    mcp_config_option(
        run,
        "every draft may call the tools of the MCP servers this JSON file names: "
        'the mcpServers file desktop clients use ({"mcpServers": {NAME: {"command": ..., '
        '"args": [...]} or {"url": ...}}}) or langchain-mcp-adapters\' connections',
    )
    model_options(run)
    store_options(run)
    run.set_defaults(handler=cmd_run)

    resume = add_command(sub, "resume")
    resume.add_argument("thread_id", nargs="?", help="the run's id (pdr runs lists them)")
    resume.add_argument(
        "--all",
        action="store_true",
        help="resume every run of --db that reads as interrupted (its process died, its lease expired, "
        "or it was stopped), each once, several at a time",
    )
    resume.add_argument("--method", help="with --all: only runs of this method (pdr, sr, ...)")
    resume.add_argument(
        "--older-than",
        type=age,
        metavar="AGE",
        help="with --all: only runs started at least AGE ago (90s, 10m, 2h, 1d)",
    )
    resume.add_argument(
        "--newer-than", type=age, metavar="AGE", help="with --all: only runs started at most AGE ago"
    )
    resume.add_argument(
        "--jobs", type=positive, default=4, metavar="N", help="with --all: runs resumed at once (default 4)"
    )
    mcp_config_option(
        resume,
        "the MCP config the run was started with (pdr run --mcp-config): its servers' tools are loaded again",
    )
    model_options(resume)
    store_options(resume)
    resume.set_defaults(handler=cmd_resume)


def check_options(p: argparse.ArgumentParser) -> None:
    """--tests, --verifier, --stop-on-pass, --pass-quorum."""
    g = p.add_argument_group("checks (a verifier checks every draft, at no model cost)")
    g.add_argument(
        "--tests",
        metavar="FILE",
        help="visible tests: a Python file of asserts every draft's program is run against "
        "(e.g. assert add(2, 2) == 4); the run's verifier is then python_tests unless --verifier names "
        "another, and its answer is the program of the best-checked draft",
    )
    g.add_argument("--verifier", help="the verifier that checks every draft, e.g. python_tests")
    g.add_argument(
        "--stop-on-pass",
        action="store_true",
        default=None,
        help="end the run after the first round in which a draft passes its checks",
    )
    g.add_argument(
        "--pass-quorum",
        type=int,
        metavar="N",
        help="with --stop-on-pass, end the run only once N passing drafts agree (the same outputs on "
        "the visible tests and on probe inputs made from them); default 1",
    )


def read_tests(path: str | None) -> str | None:
    """The visible tests of `--tests FILE`: one clear error for a file that cannot be read."""
    if path is None:
        return None
    try:
        text = Path(path).expanduser().read_text("utf-8")
    except FileNotFoundError:
        raise UsageError(f"--tests: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--tests: cannot read {path}: {exc}") from None
    if not text.strip():
        raise UsageError(f"--tests: {path} is empty; write asserts such as: assert add(2, 2) == 4")
    return text


def tool_options(p: argparse.ArgumentParser) -> None:
    """--tools, --max-tool-calls, --tool-format, --tool-timeout, --selector."""
    g = p.add_argument_group("tools (drafts that call tools)")
    g.add_argument(
        "--tools",
        metavar="NAMES",
        help="built-in tools every draft may call, comma-separated, e.g. python (a sandboxed "
        "interpreter); a draft is then a loop of model turns and tool calls",
    )
    g.add_argument(
        "--max-tool-calls",
        type=int,
        metavar="N",
        help=f"tool calls one draft may make, 0 or more (default {DEFAULT_MAX_TOOL_CALLS})",
    )
    g.add_argument(
        "--tool-format",
        metavar="auto|native|fenced",
        help="how drafts call tools: native tool calls, ```python blocks in the reply (fenced), or "
        "both (auto, the default); with the embedded local model the default is fenced: "
        "Qwen2.5-Coder-1.5B returned no native tool call in 8 requests",
    )
    g.add_argument(
        "--tool-timeout",
        type=float,
        metavar="SECONDS",
        help=f"seconds a draft waits for one tool call (default {DEFAULT_TOOL_TIMEOUT:g}); a call that "
        "takes longer is the tool's error result and the draft goes on",
    )
    g.add_argument(
        "--selector",
        metavar="vote|tournament",
        help="how the answer of a last round of several drafts is chosen (default vote)",
    )


def mcp_config_option(p: argparse.ArgumentParser, help: str) -> None:
    """--mcp-config FILE."""
    p.add_argument("--mcp-config", metavar="FILE", help=help)


def mcp_tools(path: str | None) -> list[Any]:
    """The tools of the MCP servers `path` names (none without a path); a bad file or a server that
    does not start is bad usage (exit 2), before anything runs."""
    if not path:
        return []
    import asyncio

    from langgraph_pdr.tooling.mcp_client import load_mcp_tools

    return asyncio.run(load_mcp_tools(path))


def resume_command(thread_id: str, db: str, mcp_config: str | None = None) -> str:
    """The command that continues a run: `pdr resume THREAD --db DB`, with the MCP config its drafts'
    tools came from."""
    again = f" --mcp-config {mcp_config}" if mcp_config else ""
    return f"pdr resume {thread_id} --db {db}{again}"


#: What `--early-stop off` is parsed to: never stop early, whatever the model's defaults say.
EARLY_STOP_OFF = "off"


def fraction_or_off(text: str) -> float | str:
    """`--early-stop`: a number, or `off`."""
    if text.strip().lower() == EARLY_STOP_OFF:
        return EARLY_STOP_OFF
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 1.0, or off; got {text!r}") from None


def config_of(args: argparse.Namespace, *, local: bool = False) -> PDRConfig:
    """The run's `PDRConfig` from `pdr run`'s options (the defaults where none is given).

    Args:
        args: the parsed options of `pdr run`.
        local: the run uses the embedded local model, whose defaults fill what the options leave out
            (self-consistency in windows 4,4 with early_stop 0.75, or, for PDR, 4,4 with majority_k
            and early_stop 1.0; tools called in fenced ```python blocks), as every way in applies
            them (`langgraph_pdr.local_model.resolve_run_config`).
    """
    fields = {
        "method": args.method,
        "schedule": args.schedule,
        "distiller": args.distiller,
        "k": args.k,
        "kappa": args.kappa,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "seed": args.seed,
        "max_b_total": args.max_b_total,
        "max_b_seq": args.max_b_seq,
        "prompts": args.prompts,
        "early_stop": args.early_stop,
        "tools": args.tools,
        "max_tool_calls": args.max_tool_calls,
        "tool_format": args.tool_format,
        "tool_timeout": args.tool_timeout,
        "selector": args.selector,
        "verifier": getattr(args, "verifier", None),
        "stop_on_pass": getattr(args, "stop_on_pass", None),
        "pass_quorum": getattr(args, "pass_quorum", None),
    }
    given = {k: v for k, v in fields.items() if v is not None}
    if given.get("early_stop") == EARLY_STOP_OFF:
        given["early_stop"] = None  # named, so no default fills it
    return resolve_run_config(given, local=local)


def step_name(config: PDRConfig) -> str:
    """What the progress line calls a round: a `window` of self-consistency in windows."""
    return "window" if config.method == "self_consistency" else "round"


def _answer_line(result: PDRResult) -> str:
    """The answer as one line: the boxed answer, or a pointer to the text when the answer is the text."""
    if result.answer is None:
        return "(none)"
    if "\n" in result.answer.strip() or result.answer.strip() == result.text.strip():
        return "(the final text below)"
    return result.answer


def show_result(result: PDRResult, args: argparse.Namespace, db: str) -> None:
    """The answer, the final text (printed whole: written as is, never wrapped or cut), the budgets."""
    if args.json:
        print_json(result_json(result))
        return
    out = console()
    out.print("Answer:", style="bold", end=" ")
    out.print(_answer_line(result))
    if result.stop_reason == "unfinished":
        out.print(f"note: {UNFINISHED_NOTE}")
    if result.text:
        out.rule("final text", align="left")
        out.file.write(result.text.rstrip("\n") + "\n")
        out.rule()
    tools = tool_summary(result)
    if tools:
        out.print(f"{tools}   (each with its code and output: pdr inspect)")
    checked = result.check
    if checked is not None:
        out.print(f"check: {check_label(checked)} ({checked.verifier})")
    out.print(f"B_seq: {result.b_seq:,}   B_total: {result.b_total:,}   stop: {result.stop_reason}")
    out.print(f"thread: {result.thread_id}   (pdr inspect {result.thread_id} --db {db})")


class Refusals:
    """The progress handler of a run, noting the drafts the provider refused (`refused`: round ->
    draft index -> HTTP status)."""

    def __init__(self, on_event: Any) -> None:
        self.on_event = on_event
        self.refused: dict[int, dict[int, int]] = {}

    def __call__(self, event: dict) -> None:
        if event.get("event") == "draft_failed" and event.get("refused"):
            self.refused.setdefault(event["round"], {})[event["index"]] = event["refused"]
        self.on_event(event)


def _check_outcome(result: PDRResult, resume: str, refusals: Refusals) -> None:
    if result.stop_reason == "no_drafts":
        failed = [d for r in result.rounds for d in r.drafts if d.error]
        detail = f" ({failed[-1].error})" if failed else ""
        where = f" {failed[-1].round}" if failed else ""
        last = [d for d in failed if failed and d.round == failed[-1].round]
        refused = refusals.refused.get(last[-1].round, {}) if last else {}
        if last and all(d.index in refused for d in last):  # each refused: resuming cannot help
            raise RunFailed(
                f"every draft of round{where} failed{detail}; {refusal_hint(refused[last[-1].index])}"
            )
        raise RunFailed(f"every draft of round{where} failed{detail}; continue with: {resume}")


@contextmanager
def _failures_resumable(thread_id: str, db: str, resume: str) -> Iterator[None]:
    """An error after the run was stored is a failed run (exit 1) that `pdr resume` continues, unless
    the provider refused the request (resuming would send it again)."""
    try:
        yield
    except (RunFailed, RunLockedError, ImagesNotSupported, CapTooSmall, KeyboardInterrupt, SystemExit):
        raise  # a model that refuses images, a cap round 1 cannot fit: not a run to resume as it was
    except Exception as exc:
        started = any(
            r.thread_id == thread_id and r.status in ("failed", "interrupted") for r in list_runs(db)
        )
        if not started:
            raise
        then = refusal_hint(exc) or f"continue with: {resume}"
        raise RunFailed(f"{type(exc).__name__}: {error_line(exc)}; {then}") from exc


def cmd_run(args: argparse.Namespace) -> int:
    model, base_url = model_arg(args)
    tests = read_tests(args.tests)
    config = checked_config(
        config_of(args, local=is_local(model) and not base_url), tests=tests, gold=args.gold
    )
    if args.question == "-":
        args.question = sys.stdin.read()
    if not args.question.strip():
        raise UsageError("question: must be a non-empty string")
    db = resolve_db(args.db)
    check_db(db)
    if base_url:
        probe(base_url)
    load_images(args.images)  # every image is checked before anything runs
    tools = mcp_tools(args.mcp_config)
    prepare_local(model, [config], [args.question])
    thread_id = args.thread_id or uuid.uuid4().hex
    resume = resume_command(thread_id, db, args.mcp_config)
    with (
        Progress(enabled=not args.json, unit=step_name(config)) as progress,
        _failures_resumable(thread_id, db, resume),
    ):
        refusals = Refusals(progress)
        result = interruptible(
            lambda: run_pdr(
                args.question,
                model=model or "local",
                base_url=base_url,
                config=config,
                db=db,
                thread_id=thread_id,
                images=args.images,
                gold=args.gold,
                on_event=refusals,
                timeout=args.timeout,
                tools=tools,
                tests=tests,
            ),
            thread_id,
            db,
            hint=f"continue with: {resume}",
            progress=progress,
        )
    show_result(result, args, db)
    _check_outcome(result, resume, refusals)
    return 0


def _unfinished(thread_id: str, db: str) -> PDRResult:
    """The stored run; resuming an unknown or a finished run is an error (exit 2) that touches nothing."""
    stored = inspect_run(thread_id, db)
    if stored.status in FINISHED:
        raise UsageError(
            f"thread {thread_id!r} already finished ({stored.status}); nothing to resume "
            f"(see: pdr inspect {thread_id} --db {db})"
        )
    return stored


def _stored_local_model(stored: PDRResult) -> str | None:
    """The local model a stored run names (`local:...`), if it used one."""
    return stored.model if isinstance(stored.model, str) and stored.model.startswith("local") else None


def _stored_tools(thread_id: str, db: str) -> list[str]:
    """The names of the tool objects a stored run was given (`pdr run --mcp-config`: its servers')."""
    from langgraph_pdr.checkpoints.store import open_ledger

    ledger = open_ledger(db)
    try:
        row = ledger.run_row(thread_id) or {}
    finally:
        ledger.dispose()
    return list((row.get("spec") or {}).get("tools") or [])


def cmd_resume(args: argparse.Namespace) -> int:
    model, base_url = model_arg(args, required=False)
    db = resolve_db(args.db)
    if args.all or args.thread_id is None:
        from langgraph_pdr.cli.resume_all import resume_all

        return resume_all(args, db, model, base_url)
    if args.method or args.older_than is not None or args.newer_than is not None:
        raise UsageError("--method, --older-than and --newer-than choose the runs of --all; give --all")
    stored = _unfinished(args.thread_id, db)
    needed = _stored_tools(args.thread_id, db)
    if needed and not args.mcp_config:
        raise UsageError(
            f"this run's drafts were given the tools {', '.join(needed)} of MCP servers; resume it with "
            "the same --mcp-config FILE"
        )
    if base_url:
        probe(base_url)
    tools = mcp_tools(args.mcp_config)
    prepare_local(model or _stored_local_model(stored), [stored.config], [stored.question])
    unit = step_name(stored.config)
    resume = resume_command(args.thread_id, db, args.mcp_config)
    with (
        Progress(enabled=not args.json, unit=unit) as progress,
        _failures_resumable(args.thread_id, db, resume),
    ):
        refusals = Refusals(progress)
        result = interruptible(
            lambda: resume_pdr(
                args.thread_id,
                db=db,
                model=model,
                base_url=base_url,
                on_event=refusals,
                timeout=args.timeout,
                tools=tools,
            ),
            args.thread_id,
            db,
            hint=f"continue with: {resume}",
            progress=progress,
        )
    show_result(result, args, db)
    _check_outcome(result, resume, refusals)
    return 0
