"""The `pdr` command: run, resume, list, inspect and draw PDR runs, and serve the local model."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad usage: exit 2."""


class RunFailed(Exception):
    """The run failed: exit 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def _model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (default: the embedded local model)")
    g.add_argument("--model", help="init_chat_model id, e.g. openai:gpt-4.1-mini, "
                   "google_genai:gemini-2.5-flash; with --base-url, the served model's name")
    g.add_argument("--base-url", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    g.add_argument("--local-model", help="qwen2.5-coder-1.5b (default), qwen2.5-coder-0.5b, or a .gguf path")
    g.add_argument("--timeout", type=_seconds, help="seconds a model call may take before it is abandoned "
                   "and retried (default: the provider's own; 600 for the local model)")


def _common(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    p.add_argument("--db", help="SQLite file or postgresql:// URL of the runs "
                                "(default: $PDR_DB, else the user data dir)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pdr", description="Parallel-Distill-Refine runs on LangGraph.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="answer a question")
    run.add_argument("question", help="the question, or - to read it from stdin")
    run.add_argument("--method", help="pdr (default), sr, sr_error, single, self_consistency, best_of_n")
    run.add_argument("--schedule", help="drafts per round, e.g. 4,2,1")
    run.add_argument("--distiller", help="global_summary (default), shared_top_k, per_sample_top_k, "
                     "majority_k, random_k, oracle_correct, oracle_incorrect")
    run.add_argument("--k", type=_positive, help="drafts an extractive distiller keeps")
    run.add_argument("--kappa", type=_positive, help="workspace bound, in tokens")
    run.add_argument("--max-tokens", type=_positive, help="max tokens of each draft")
    run.add_argument("--temperature", type=float, help="temperature of the drafts")
    run.add_argument("--seed", type=int, help="seed of the random distillers and of each call (default 0)")
    run.add_argument("--max-b-total", type=_positive, help="hard cap on B_total")
    run.add_argument("--max-b-seq", type=_positive, help="hard cap on B_seq")
    run.add_argument("--gold", help="gold answer (oracle distillers only)")
    run.add_argument("--thread-id", help="the run's id (default: a new one); "
                     "pdr resume and pdr inspect take it")
    run.add_argument("--prompts", help="the prompt set of every call: card (default) or classic, or one "
                     "you registered")
    run.add_argument("--early-stop", type=float, metavar="F",
                     help="end after a round in which at least this fraction of the finished drafts "
                     "agree, e.g. 1.0 (pdr, sr)")
    _model_options(run)
    _common(run)

    resume = sub.add_parser("resume", help="finish an interrupted run")
    resume.add_argument("thread_id")
    _model_options(resume)
    _common(resume)

    runs = sub.add_parser("runs", help="list stored runs")
    runs.add_argument("--limit", type=_positive, default=None, help="the newest N runs only")
    _common(runs)

    inspect = sub.add_parser("inspect", help="show what a run did")
    inspect.add_argument("thread_id")
    _common(inspect)

    graph = sub.add_parser("graph", help="draw a method's graph (offline)")
    graph.add_argument("--method", default="pdr", help="pdr (default), sr, sr_error, single, "
                       "self_consistency, best_of_n")
    graph.add_argument("--format", choices=["mermaid", "ascii", "png"], default="mermaid")
    graph.add_argument("--output", help="write to this file (required for png)")
    graph.add_argument("--debug", action="store_true")

    serving = sub.add_parser("serve", help="an OpenAI-compatible /v1/chat/completions answering through PDR")
    serving.add_argument("--host", default="127.0.0.1")
    serving.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on stdout)")
    serving.add_argument("--slots", type=_positive, default=4, help="parallel slots of the local model")
    _model_options(serving)
    _common(serving, json_flag=False)

    from langgraph_pdr.evals.cli import add_parser as add_eval_parser

    add_eval_parser(sub, _positive, _model_options, _common)

    serve = sub.add_parser("serve-model", help="serve the local model (OpenAI-compatible) until stopped; "
                           "pdr runs on this machine use it while it runs")
    serve.add_argument("--local-model",
                       help="qwen2.5-coder-1.5b (default), qwen2.5-coder-0.5b, or a .gguf path")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one, printed)")
    serve.add_argument("--parallel", type=_positive, default=4, help="slots decoded together")
    serve.add_argument("--ctx", type=_positive, default=32768, help="total context, shared by the slots")
    serve.add_argument("--debug", action="store_true")
    return parser


# -- helpers ------------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> Any:
    from langgraph_pdr import PDRConfig

    fields = {
        "method": args.method, "schedule": args.schedule, "distiller": args.distiller, "k": args.k,
        "kappa": args.kappa, "max_tokens": args.max_tokens, "temperature": args.temperature,
        "seed": args.seed, "max_b_total": args.max_b_total, "max_b_seq": args.max_b_seq,
        "prompts": args.prompts, "early_stop": args.early_stop,
    }
    return PDRConfig.model_validate({k: v for k, v in fields.items() if v is not None})


def _model_arg(args: argparse.Namespace, *, required: bool = True) -> tuple[str | None, str | None]:
    """(model, base_url) from --model/--base-url/--local-model; 'local' when none is given."""
    if args.local_model and (args.model or args.base_url):
        raise UsageError("--local-model cannot be combined with --model or --base-url")
    if args.base_url and not args.model:
        raise UsageError("--base-url needs --model NAME (the model the server serves)")
    if args.model:
        return args.model, args.base_url
    if args.local_model:
        return f"local:{args.local_model}", None
    return ("local" if required else None), None


def _probe(base_url: str) -> None:
    """Fail fast, before any run is stored, when an OpenAI-compatible server does not answer."""
    from langgraph_pdr.models import ServerUnreachable, check_reachable

    try:
        check_reachable(base_url)
    except ServerUnreachable as exc:
        raise RunFailed(str(exc)) from None


def _prepare_local(model: str | None, configs: Sequence[Any] = (), questions: Sequence[str] = ()) -> None:
    """For the local model: check that the longest question fits its context under every config
    (before anything is assembled or loaded), then assemble it, with a progress bar the first time."""
    if model and (model == "local" or model.startswith("local:")):
        from langgraph_pdr.local_model import DEFAULT_LOCAL_MODEL, check_fits, ensure_model
        from langgraph_pdr.nodes.tokens import DEFAULT_COUNTER

        name = model.partition(":")[2] or DEFAULT_LOCAL_MODEL
        longest = max((DEFAULT_COUNTER.count(q) for q in questions), default=0)
        for config in configs:
            check_fits(name, config, longest)
        ensure_model(name, progress=True)


def _error_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        from langgraph_pdr.state.config import validation_message

        return validation_message(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _result_json(result: Any) -> dict:
    data = result.model_dump(mode="json")
    data["workspaces"] = [w.model_dump(mode="json") for w in result.workspaces]
    return data


#: Width of tables written to a file or a pipe (rich's default of 80 cuts the method names).
PIPE_WIDTH = 160


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    # markup off: model text such as "\[ x \]" or "[/]" is printed as written, never read as rich markup
    console = Console(stderr=stderr, highlight=False, markup=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


# -- progress -----------------------------------------------------------------------------------


class Progress:
    """Live progress on stderr: round r of R, drafts done / launched, tokens so far, workspace size."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.round = self.rounds = self.launched = self.done = self.tokens = 0
        self.workspace = ""
        self.live: Any = None
        self.console = _console(stderr=True)

    def __enter__(self) -> Progress:
        if self.enabled and self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self._text(), console=self.console, refresh_per_second=8, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Take the live display off the terminal, and print no more (a last line goes below it)."""
        self.enabled = False
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _text(self) -> str:
        if not self.round:
            return "starting…"
        ws = f" · workspace {self.workspace}" if self.workspace else ""
        return (f"round {self.round}/{self.rounds} · drafts {self.done}/{self.launched} · "
                f"{self.tokens:,} tokens{ws}")

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        self.tokens += int(event.get("tokens") or 0)
        if kind == "round_started":
            self.round, self.rounds = event["round"], event["rounds"]
            self.launched, self.done = event["drafts"], 0
        elif kind in ("draft_finished", "draft_failed"):
            self.done += 1
        elif kind == "workspace_built":
            sizes = [w["tokens"] for w in event.get("workspaces", [])]
            self.workspace = f"{max(sizes)} tokens" if sizes else ""
        if not self.enabled:
            return
        if self.live is not None:
            self.live.update(self._text())
        elif kind in ("round_finished", "workspace_built", "run_stopping"):
            self.console.print(self._text() + ("" if kind != "run_stopping" else
                                               f" · stopping: {event.get('reason')}"))


# -- commands -----------------------------------------------------------------------------------


#: What `pdr run` says of a run whose last round was cut off before any answer.
UNFINISHED_NOTE = ("the final draft was cut off at max_tokens before its answer: the answer is the vote of "
                   "the drafts before it that finished (raise --max-tokens for a complete final text)")


def _answer_line(result: Any) -> str:
    """The answer as one line: the boxed answer, or a pointer to the text when the answer is the text."""
    if result.answer is None:
        return "(none)"
    if "\n" in result.answer.strip() or result.answer.strip() == result.text.strip():
        return "(the final text below)"
    return result.answer


def _show_result(result: Any, args: argparse.Namespace, db: str) -> None:
    """The answer, the final text (printed whole: written as is, never wrapped or cut), the budgets."""
    if args.json:
        _print_json(_result_json(result))
        return
    out = _console()
    out.print("Answer:", style="bold", end=" ")
    out.print(_answer_line(result))
    if result.stop_reason == "unfinished":
        out.print(f"note: {UNFINISHED_NOTE}")
    if result.text:
        out.rule("final text", align="left")
        out.file.write(result.text.rstrip("\n") + "\n")
        out.rule()
    out.print(f"B_seq: {result.b_seq:,}   B_total: {result.b_total:,}   stop: {result.stop_reason}")
    out.print(f"thread: {result.thread_id}   (pdr inspect {result.thread_id} --db {db})")


def _check_outcome(result: Any, db: str) -> None:
    if result.stop_reason == "no_drafts":
        failed = [d for r in result.rounds for d in r.drafts if d.error]
        detail = f" ({failed[-1].error})" if failed else ""
        where = f" {failed[-1].round}" if failed else ""
        raise RunFailed(f"every draft of round{where} failed{detail}; continue with: pdr resume "
                        f"{result.thread_id} --db {db}")


@contextmanager
def _failures_resumable(thread_id: str, db: str) -> Iterator[None]:
    """An error after the run was stored is a failed run (exit 1) that `pdr resume` continues."""
    try:
        yield
    except (RunFailed, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        from langgraph_pdr.checkpoints.ledger import RunLockedError
        from langgraph_pdr.runner import list_runs

        if isinstance(exc, RunLockedError):
            raise
        started = any(r.thread_id == thread_id and r.status in ("failed", "interrupted")
                      for r in list_runs(db))
        if not started:
            raise
        raise RunFailed(f"{type(exc).__name__}: {_error_line(exc)}; continue with: "
                        f"pdr resume {thread_id} --db {db}") from exc


def _interruptible(run: Callable[[], Any], thread_id: str | None = None, db: str | None = None, *,
                   hint: str | None = None, progress: Any = None) -> Any:
    """Run in a worker thread; on Ctrl-C or SIGTERM, stop at once and print how to resume (below the
    last progress line: `progress`, the live display, is taken down first).

    Calls in flight are abandoned, as after a crash: every finished call is already checkpointed,
    so `pdr resume` (or the same `pdr eval`) re-runs only those.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = run()
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    previous = signal.getsignal(signal.SIGTERM)

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    worker = threading.Thread(target=target, name="pdr-run", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        if progress is not None:
            progress.stop()
        if thread_id and db:
            _mark_interrupted(thread_id, db)
            hint = hint or f"continue with: pdr resume {thread_id} --db {db}"
        sys.stderr.write(f"pdr: interrupted; {hint}\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(EXIT_INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


#: Seconds Ctrl-C waits to mark the run interrupted before it exits anyway.
MARK_WAIT = 5.0


def _mark_interrupted(thread_id: str, db: str) -> None:
    """Mark the run interrupted, waiting at most `MARK_WAIT` seconds: a database locked by another
    writer must not hold up Ctrl-C. A run left `running` by the exited process is taken over by the
    next `pdr resume` (its lock owner is dead)."""

    def mark() -> None:
        try:
            from langgraph_pdr.checkpoints.store import open_ledger

            ledger = open_ledger(db)
            if ledger.run_row(thread_id):
                ledger.set_status(thread_id, "interrupted", error="interrupted")
            ledger.dispose()
        except Exception:  # the hint matters more than the status
            pass

    marker = threading.Thread(target=mark, name="pdr-mark-interrupted", daemon=True)
    marker.start()
    marker.join(MARK_WAIT)


def cmd_run(args: argparse.Namespace) -> int:
    import uuid

    from langgraph_pdr.checkpoints.store import check_db, resolve_db
    from langgraph_pdr.runner import run_pdr

    config = _config(args)
    if args.question == "-":
        args.question = sys.stdin.read()
    if not args.question.strip():
        raise UsageError("question: must be a non-empty string")
    model, base_url = _model_arg(args)
    db = resolve_db(args.db)
    check_db(db)
    if base_url:
        _probe(base_url)
    _prepare_local(model, [config], [args.question])
    thread_id = args.thread_id or uuid.uuid4().hex
    with Progress(enabled=not args.json) as progress, _failures_resumable(thread_id, db):
        result = _interruptible(
            lambda: run_pdr(args.question, model=model, base_url=base_url, config=config, db=db,
                            thread_id=thread_id, gold=args.gold, on_event=progress, timeout=args.timeout),
            thread_id, db, progress=progress)
    _show_result(result, args, db)
    _check_outcome(result, db)
    return 0


def _check_unfinished(thread_id: str, db: str) -> Any:
    """The stored run; resuming an unknown or a finished run is an error (exit 2) that touches nothing."""
    from langgraph_pdr.checkpoints.ledger import FINISHED
    from langgraph_pdr.runner import inspect_run

    stored = inspect_run(thread_id, db)
    if stored.status in FINISHED:
        raise UsageError(f"thread {thread_id!r} already finished ({stored.status}); nothing to resume "
                         f"(see: pdr inspect {thread_id} --db {db})")
    return stored


def _stored_model(stored: Any) -> str | None:
    """The model string a stored run names (`local:...` for the local model)."""
    return stored.model if isinstance(stored.model, str) and stored.model.startswith("local") else None


def cmd_resume(args: argparse.Namespace) -> int:
    from langgraph_pdr.checkpoints.store import resolve_db
    from langgraph_pdr.runner import resume_pdr

    model, base_url = _model_arg(args, required=False)
    db = resolve_db(args.db)
    stored = _check_unfinished(args.thread_id, db)
    if base_url:
        _probe(base_url)
    _prepare_local(model or _stored_model(stored), [stored.config], [stored.question])
    with Progress(enabled=not args.json) as progress, _failures_resumable(args.thread_id, db):
        result = _interruptible(
            lambda: resume_pdr(args.thread_id, db=db, model=model, base_url=base_url, on_event=progress,
                               timeout=args.timeout),
            args.thread_id, db, progress=progress)
    _show_result(result, args, db)
    _check_outcome(result, db)
    return 0


def shorten(text: str | None, width: int) -> str:
    """`text` on one line, at most `width` characters; a cut is marked with `…`."""
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


#: The narrowest question column `pdr runs` shows in its table; narrower terminals get a list.
MIN_QUESTION_WIDTH = 16


def cmd_runs(args: argparse.Namespace) -> int:
    """Every stored run; thread ids are printed whole (a table, or a list on narrow terminals), long
    answers and questions are shortened, visibly."""
    from langgraph_pdr.runner import list_runs

    runs = list_runs(args.db, limit=args.limit)
    if args.json:
        _print_json({"runs": [r.model_dump(mode="json") for r in runs]})
        return 0
    out = _console()
    heads = ("thread", "created", "method", "status", "stop", "answer", "B_seq", "B_total")
    rows = [[r.thread_id, r.created_at[:16].replace("T", " "), r.method, r.status, r.stop_reason or "",
             shorten(r.answer, 24), f"{r.b_seq:,}", f"{r.b_total:,}"] for r in runs]
    widths = [max([len(h), *(len(row[n]) for row in rows)]) for n, h in enumerate(heads)]
    room = out.width - (sum(widths) + 3 * len(widths) + 1) - 3  # what the question column can have
    if room < MIN_QUESTION_WIDTH:  # too narrow for a table that keeps every id whole: a list
        out.print(f"{len(runs)} run(s)")
        for r, row in zip(runs, rows, strict=True):
            out.print(r.thread_id, style="bold")
            out.print(f"  {row[1]}  {r.method}  {r.status}  stop {row[4] or '-'}  answer {row[5] or '-'}  "
                      f"B_seq {row[6]}  B_total {row[7]}")
            out.print(f"  {shorten(r.question, max(out.width - 2, MIN_QUESTION_WIDTH))}")
        return 0
    from rich.table import Table

    table = Table(title=f"{len(runs)} run(s)")
    for head in heads:
        table.add_column(head, no_wrap=True, justify="right" if head.startswith("B_") else "left")
    table.add_column("question", no_wrap=True)
    for r, row in zip(runs, rows, strict=True):
        table.add_row(*row, shorten(r.question, room))
    out.print(table)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from langgraph_pdr.runner import inspect_run

    result = inspect_run(args.thread_id, args.db)
    if args.json:
        _print_json(_result_json(result))
        return 0
    from rich.table import Table

    out = _console()
    out.print(result.thread_id, style="bold", end="  ")
    config = result.config
    shown = {"pdr": f"  distiller {config.distiller}  k {config.k}  κ {config.kappa}",
             "sr": f"  κ {config.kappa}", "sr_error": f"  κ {config.kappa}"}  # what the method uses
    out.print(f"{config.method} {','.join(map(str, config.schedule))}{shown.get(config.method, '')}  "
              f"model {result.model}")
    out.print(f"status {result.status}  stop {result.stop_reason}  answer {shorten(result.answer, 40)}  "
              f"B_seq {result.b_seq:,}  B_total {result.b_total:,}")
    out.print(f"question: {shorten(result.question, 200)}")
    drafts = Table(title="drafts")
    for col in ("round", "idx", "ok", "answer", "score", "workspace", "in", "out", "error"):
        drafts.add_column(col)
    for r in result.rounds:
        for d in r.drafts:
            c = d.call
            state = "yes" if d.ok and not d.unfinished else ("unfinished" if d.ok else "no")
            drafts.add_row(str(d.round), str(d.index), state, shorten(d.answer, 30) if d.ok else "",
                           "" if d.score is None else f"{d.score:g}",
                           "" if d.workspace_index is None else str(d.workspace_index),
                           str(c.input_tokens) if c else "", str(c.output_tokens) if c else "",
                           shorten(d.error, 40))
    out.print(drafts)
    spaces = Table(title="workspaces")
    for col in ("round", "idx", "distiller", "tokens", "counted by", "sources"):
        spaces.add_column(col)
    for w in result.workspaces:
        spaces.add_row(str(w.round), str(w.index), w.distiller, str(w.tokens), w.counted_by,
                       ",".join(map(str, w.sources)))
    out.print(spaces)
    calls = Table(title=f"calls ({len(result.calls)})")
    for col in ("role", "round", "idx", "in", "out", "latency s", "finish", "usage"):
        calls.add_column(col)
    for c in result.calls:
        calls.add_row(c.role, str(c.round), str(c.index), str(c.input_tokens), str(c.output_tokens),
                      f"{c.latency_s:.2f}", c.finish_reason or "", c.usage_source)
    out.print(calls)
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from langgraph_pdr import PDRConfig, draw_graph

    config = PDRConfig(method=args.method)
    if args.format == "png" and not args.output:
        raise UsageError("--format png needs --output FILE")
    try:
        text = draw_graph(config, format=args.format, output=args.output)
    except ImportError as exc:
        need = ("pygraphviz and Graphviz: apt-get install graphviz libgraphviz-dev && pip install "
                "pygraphviz (or use --format mermaid)") if args.format == "png" else "grandalf"
        raise UsageError(f"--format {args.format} needs {need} ({exc})") from None
    if text is None:
        return 0
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from langgraph_pdr.checkpoints.store import open_store, resolve_db
    from langgraph_pdr.serve import serve

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError("pdr serve needs Starlette and uvicorn: pip install 'langgraph-pdr[serve]'") \
            from None

    model, base_url = _model_arg(args)
    db = resolve_db(args.db)
    with open_store(db):  # a bad database is an error now, not at the first request
        pass
    if base_url:
        _probe(base_url)
    _prepare_local(model)

    def ready(url: str) -> None:
        sys.stdout.write(url + "\n")
        sys.stdout.flush()
        sys.stderr.write(f"pdr serve: OpenAI-compatible endpoint at {url} (models: pdr, "
                         "pdr-4-2-1-global_summary, sr-3, single, ...); stop with Ctrl-C\n")

    # uvicorn stops on Ctrl-C and SIGTERM, finishing the requests in flight
    serve(model=model, base_url=base_url, db=db, timeout=args.timeout, host=args.host, port=args.port,
          slots=args.slots, on_ready=ready)
    return 0


def cmd_serve_model(args: argparse.Namespace) -> int:
    from langgraph_pdr.local_model import DEFAULT_LOCAL_MODEL, ensure_model
    from langgraph_pdr.local_server import LocalServer, serve_registered

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: expected 0..65535, got {args.port}")
    path = ensure_model(args.local_model or DEFAULT_LOCAL_MODEL, progress=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    local = LocalServer(path, alias=path.stem, n_parallel=args.parallel, n_ctx=args.ctx, host=args.host,
                        port=args.port)
    with local as server:
        sys.stdout.write(f"{server.base_url}\n")
        sys.stdout.flush()
        sys.stderr.write(f"serving {path.stem} at {server.base_url} (model name {path.stem!r}); "
                         "stop with Ctrl-C\n")
        serve_registered(server, owner="serve-model", stop=stop)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from langgraph_pdr.evals.cli import cmd_eval

    return cmd_eval(args)


COMMANDS = {
    "run": cmd_run, "resume": cmd_resume, "runs": cmd_runs, "inspect": cmd_inspect,
    "graph": cmd_graph, "serve-model": cmd_serve_model, "eval": _cmd_eval, "serve": cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `pdr`; returns the exit code (2 bad usage, 1 failed run, 130 interrupted)."""
    parser = build_parser()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args)
    except SystemExit as exc:
        return int(exc.code or 0)
    except BaseException as exc:  # one clear line, never a traceback (unless --debug)
        if debug:
            raise
        return _report(exc)


def _report(exc: BaseException) -> int:
    from langgraph_pdr.checkpoints.ledger import DatabaseBusyError, RunLockedError
    from langgraph_pdr.models import ServerUnreachable

    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("pdr: interrupted\n")
        return EXIT_INTERRUPTED
    line = _error_line(exc)
    if isinstance(exc, (UsageError, ValueError)):  # pydantic's ValidationError is a ValueError
        code = EXIT_USAGE
    else:
        code = EXIT_FAILED
        if isinstance(exc, OSError) and exc.filename:  # a file that cannot be read or written
            line = f"{exc.strerror or exc}: {exc.filename}"
        elif not isinstance(exc, (RunFailed, RunLockedError, DatabaseBusyError, ServerUnreachable)):
            line = f"the run failed: {type(exc).__name__}: {line}"
    sys.stderr.write(f"pdr: error: {line}\n")
    return code


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    # run the imported module, not this `__main__` copy, so its exception classes are the ones
    # other modules raise
    from langgraph_pdr.cli import entry as _entry

    _entry()
