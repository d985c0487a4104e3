"""What the `pdr` commands share: the table of commands, exit codes and errors, option types and
groups, the console, JSON output, the model options, the local model's preparation, and Ctrl-C handling.

It imports only what building the parser needs: `pdr --help` and `pdr runs` start fast. What a command
needs to run (models, the local model, the ledger) is imported in the function that uses it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from rich.console import Console

if TYPE_CHECKING:
    from langgraph_pdr.state.config import PDRConfig

__all__ = [
    "COMMANDS",
    "Command",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "Parser",
    "RunFailed",
    "UsageError",
    "add_command",
    "console",
    "interruptible",
    "is_local",
    "model_arg",
    "model_options",
    "positive",
    "prepare_local",
    "print_json",
    "probe",
    "report",
    "result_json",
    "seconds",
    "shorten",
    "store_options",
]


class Command(NamedTuple):
    """A `pdr` sub-command: the module of `langgraph_pdr.cli` that adds its parser and runs it, and
    its one-line help."""

    module: str
    help: str


#: Every sub-command, in the order `pdr --help` lists them. `pdr` imports only the module of the command
#: it runs; the others are listed by name and help.
COMMANDS: dict[str, Command] = {
    "run": Command("run", "answer a question"),
    "resume": Command("run", "finish an interrupted run"),
    "runs": Command("runs", "list stored runs"),
    "inspect": Command("inspect", "show what a run did"),
    "view": Command("view_page", "write a run as an HTML page (rounds, drafts, workspaces, budgets)"),
    "graph": Command("graph", "draw a method's graph (offline)"),
    "serve": Command("serve_openai", "an OpenAI-compatible /v1/chat/completions answering through PDR"),
    "mcp": Command("mcp", "an MCP server whose tools answer through PDR (stdio or streamable HTTP)"),
    "eval": Command("eval", "evaluate methods on a dataset (resumable) and report"),
    "serve-model": Command(
        "serve_model",
        "serve the local model (OpenAI-compatible) until stopped; "
        "pdr runs on this machine use it while it runs",
    ),
}


def add_command(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """Add the parser of sub-command `name`, with its help from `COMMANDS`."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=COMMANDS[name].help, **kwargs)
    return parser


EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad usage: exit 2."""


class RunFailed(Exception):
    """The run failed: exit 1."""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as one `UsageError` line (exit 2) instead of usage text."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see: {self.prog} --help)")


def positive(text: str) -> int:
    """An option type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def temperature(text: str) -> float:
    """An option type: a sampling temperature, 0 to 2."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 2, got {text!r}") from None
    if not 0 <= value <= 2:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 2, got {text}")
    return value


def seconds(text: str) -> float:
    """An option type: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


#: Seconds in a unit of `age`.
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def age(text: str) -> float:
    """An option type: an age in seconds, written `90`, `90s`, `10m`, `2h` or `1d`.

    Example:
        ```python
        from langgraph_pdr.cli.common import age

        assert (age("90"), age("10m"), age("1.5h"), age("1d")) == (90, 600, 5400, 86400)
        ```
    """
    number, unit = (text[:-1], text[-1]) if text[-1:] in AGE_UNITS else (text, "s")
    try:
        value = float(number) * AGE_UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an age such as 90s, 10m, 2h or 1d: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an age of 0 or more, got {text!r}")
    return value


def model_options(p: argparse.ArgumentParser) -> None:
    """--model, --base-url, --local-model, --timeout."""
    g = p.add_argument_group("model (default: the embedded local model)")
    g.add_argument(
        "--model",
        help="init_chat_model id, e.g. openai:gpt-4.1-mini, "
        "google_genai:gemini-2.5-flash; with --base-url, the served model's name",
    )
    g.add_argument("--base-url", help="an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    g.add_argument("--local-model", help="qwen2.5-coder-1.5b (default), qwen2.5-coder-0.5b, or a .gguf path")
    g.add_argument(
        "--timeout",
        type=seconds,
        help="seconds a model call may take before it is abandoned "
        "and retried (default: the provider's own; 600 for the local model)",
    )


def store_options(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    """--db, --json, --debug."""
    p.add_argument(
        "--db", help="SQLite file or postgresql:// URL of the runs (default: $PDR_DB, else the user data dir)"
    )
    if json_flag:
        p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def model_arg(args: argparse.Namespace, *, required: bool = True) -> tuple[str | None, str | None]:
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


def is_local(model: str | None) -> bool:
    """Whether `model` (as `model_arg` returns it) is the embedded local model: `local` or `local:...`."""
    from langgraph_pdr.models import is_local_model

    return is_local_model(model)


def probe(base_url: str) -> None:
    """Fail fast, before any run is stored, when an OpenAI-compatible server does not answer."""
    from langgraph_pdr.models import ServerUnreachable, check_reachable

    try:
        check_reachable(base_url)
    except ServerUnreachable as exc:
        raise RunFailed(str(exc)) from None


def prepare_local(
    model: str | None, configs: Sequence[PDRConfig] = (), questions: Sequence[str] = ()
) -> None:
    """For the local model: check that the longest question fits its context under every config
    (before anything is assembled or loaded), then assemble it, with a progress bar the first time."""
    if model and is_local(model):
        from langgraph_pdr.calls.token_count import DEFAULT_COUNTER
        from langgraph_pdr.local_model import DEFAULT_LOCAL_MODEL, check_fits, ensure_model

        name = model.partition(":")[2] or DEFAULT_LOCAL_MODEL
        longest = max((DEFAULT_COUNTER.count(q) for q in questions), default=0)
        for config in configs:
            check_fits(name, config, longest)
        ensure_model(name, progress=True)


def serving(args: argparse.Namespace) -> tuple[str | None, str | None, str]:
    """What `pdr serve` and `pdr mcp` check before they listen, as (model, base_url, db): the model the
    options name, the database (opened once: a bad one is an error now, not at the first request), the
    OpenAI-compatible server (it answers), the local model (assembled; progress on stderr, as stdout
    may be the stdio transport)."""
    from langgraph_pdr.checkpoints.store import open_store, resolve_db

    model, base_url = model_arg(args)
    db = resolve_db(args.db)
    with open_store(db):
        pass
    if base_url:
        probe(base_url)
    prepare_local(model)
    return model, base_url, db


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def result_json(result: Any) -> dict:
    """A `PDRResult` as `--json` prints it: its fields, and every workspace."""
    data: dict = result.model_dump(mode="json")
    data["workspaces"] = [w.model_dump(mode="json") for w in result.workspaces]
    return data


#: Width of tables written to a file or a pipe (rich's default of 80 cuts the method names).
PIPE_WIDTH = 160


def console(stderr: bool = False) -> Console:
    """A rich console that prints text as written: no markup (model text such as `\\[ x \\]` or `[/]`
    is not read as markup), no highlighting; lines longer than the width wrap, never get cut."""
    out = Console(stderr=stderr, highlight=False, markup=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = PIPE_WIDTH
    return out


def shorten(text: str | None, width: int) -> str:
    """`text` on one line, at most `width` characters; a cut is marked with `…`."""
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def interruptible(
    run: Callable[[], Any],
    thread_id: str | None = None,
    db: str | None = None,
    *,
    hint: str | None = None,
    progress: Any = None,
) -> Any:
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
        from langgraph_pdr.checkpoints.store import open_ledger

        try:
            ledger = open_ledger(db)
            if ledger.run_row(thread_id):
                ledger.set_status(thread_id, "interrupted", error="interrupted")
            ledger.dispose()
        except Exception:  # the hint matters more than the status
            pass

    marker = threading.Thread(target=mark, name="pdr-mark-interrupted", daemon=True)
    marker.start()
    marker.join(MARK_WAIT)


def plain_errors() -> tuple[type[BaseException], ...]:
    """Errors whose own line says it all (no "the run failed: Type:" before it)."""
    from langgraph_pdr.checkpoints.errors import DatabaseBusyError, LeaseLostError, RunLockedError
    from langgraph_pdr.integrations.asgi import CannotListen
    from langgraph_pdr.models import ServerUnreachable

    return (RunFailed, RunLockedError, LeaseLostError, DatabaseBusyError, ServerUnreachable, CannotListen)


def report(exc: BaseException) -> int:
    """Print `exc` as one line on stderr; return the exit code (2 bad usage, 1 failed, 130 interrupted)."""
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("pdr: interrupted\n")
        return EXIT_INTERRUPTED
    from langgraph_pdr.state.config import error_line

    line = error_line(exc)
    if isinstance(exc, (UsageError, ValueError)):  # pydantic's ValidationError is a ValueError
        code = EXIT_USAGE
    else:
        code = EXIT_FAILED
        if isinstance(exc, OSError) and exc.filename:  # a file that cannot be read or written
            line = f"{exc.strerror or exc}: {exc.filename}"
        elif not isinstance(exc, plain_errors()):
            line = f"the run failed: {type(exc).__name__}: {line}"
    sys.stderr.write(f"pdr: error: {line}\n")
    return code
