"""`pdr eval`: run methods on a dataset, resumably, and report accuracy against budget."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from langgraph_pdr.checkpoints.snapshot import Snapshot, check_snapshot, snapshot
from langgraph_pdr.checkpoints.store import db_exists, resolve_db
from langgraph_pdr.cli.common import (
    UsageError,
    add_command,
    console,
    interruptible,
    model_arg,
    model_options,
    positive,
    prepare_local,
    print_json,
    probe,
    store_options,
    temperature,
)
from langgraph_pdr.evals.compare import BASELINE, compare
from langgraph_pdr.evals.datasets import load_dataset, select
from langgraph_pdr.evals.harness import Evaluation, eval_store
from langgraph_pdr.evals.report import (
    code_stats,
    early_stops,
    paired,
    render,
    report_title,
    summarize,
    write_report,
)
from langgraph_pdr.state.methods import parse_methods

DEFAULT_METHODS = (
    "single,sr:3,sr_error:3,pdr:4-2-1:global_summary,pdr:4-2-1:per_sample_top_k,pdr:4-2-1:random_k"
)


def add_parsers(sub: Any) -> None:
    p = add_command(
        sub,
        "eval",
        description="Run every method on every problem (one durable run each; run the "
        "same command again to resume), then print and write the report.",
    )
    p.add_argument(
        "--dataset",
        help="aime2024, aime2025, gsm8k, math500, humanevalplus, mbppplus, or a .jsonl (.jsonl.gz) file with "
        "id, problem, answer, or with code tasks in EvalPlus's format",
    )
    p.add_argument(
        "--methods",
        default=DEFAULT_METHODS,
        help="comma-separated: single, sc:N (or in windows: sc:4-4:early_stop=1), bon:N, sr:R, sr_error:R, "
        "pdr:4-2-1:DISTILLER, "
        "each with :key=value options (e.g. single:max_tokens=2048, or single:tools=python:"
        "tool_format=fenced for drafts that run code: the local model makes no native tool call); "
        "default: " + DEFAULT_METHODS,
    )
    p.add_argument("--offset", type=int, default=0, help="skip the first N problems")
    p.add_argument("--limit", type=positive, help="at most N problems")
    p.add_argument("--sample", type=positive, help="N problems drawn at random (seeded by --seed)")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample")
    p.add_argument(
        "--concurrency",
        type=positive,
        default=2,
        help="problems at a time, each one's runs one after another (default 2)",
    )
    p.add_argument("--name", help="the evaluation's name in the store (default: the dataset's name)")
    p.add_argument(
        "--out", help="directory for the report: CSV, JSONL, Markdown and plot (default: ./pdr-eval-NAME)"
    )
    p.add_argument(
        "--no-share-drafts",
        dest="share_drafts",
        action="store_false",
        help="do not answer identical requests of different methods once (by default a "
        "single pass, SR's first draft and PDR's first round share their samples)",
    )
    p.add_argument(
        "--matched",
        action="store_true",
        help="also run a single pass allowed each iterative method's mean B_seq",
    )
    p.add_argument(
        "--report",
        metavar="DIR",
        help="write the report into DIR; without --dataset, run nothing and redraw the report of "
        "--name (or of the store's only evaluation) from the store",
    )
    p.add_argument(
        "--paired",
        action="store_true",
        help="report only the problems every method has finished (or failed), so that "
        "methods are compared on the same problems while the evaluation is still running",
    )
    p.add_argument(
        "--baseline",
        metavar="METHOD",
        help="the method the paired table sets every other method against, problem by problem "
        "(default: single)",
    )
    p.add_argument(
        "--snapshot",
        metavar="FILE",
        help="also write the store's finished runs, without checkpoints, to FILE (gzipped if it ends "
        "in .gz): a compact copy to keep or commit, read back like the store itself",
    )
    g = p.add_argument_group("run configuration, under each method's own options")
    g.add_argument("--max-tokens", type=positive, help="max tokens of each draft")
    g.add_argument("--verify-tokens", type=positive, help="max tokens of each self-verification")
    g.add_argument("--kappa", type=positive, help="workspace bound, in tokens")
    g.add_argument("--k", type=positive, help="drafts an extractive distiller keeps")
    g.add_argument("--temperature", type=temperature, help="temperature of the drafts")
    g.add_argument("--run-seed", type=int, help="seed of the runs (default 0)")
    model_options(p)
    store_options(p)
    p.set_defaults(handler=cmd_eval)


def _base(args: argparse.Namespace) -> dict[str, Any]:
    max_tokens: Any = args.max_tokens
    if args.verify_tokens:
        max_tokens = {"verify": args.verify_tokens, **({"draft": args.max_tokens} if args.max_tokens else {})}
    fields = {
        "max_tokens": max_tokens,
        "kappa": args.kappa,
        "k": args.k,
        "temperature": args.temperature,
        "seed": args.run_seed,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _progress(total: int, methods: int, enabled: bool) -> Any:
    """A bar over problems on a terminal; a line per finished problem otherwise."""
    err = console(stderr=True)
    bar = Progress(
        TextColumn("problems"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", markup=False),
        console=err,
        transient=True,
        disable=not (enabled and err.is_terminal),
    )
    task = bar.add_task("", total=total)
    done = [0]

    def update(problem_id: str, method: str, finished: int) -> None:
        bar.update(task, description=f"{problem_id} · {method}")
        if finished == methods:
            done[0] += 1
            bar.advance(task)
            if enabled and not err.is_terminal:
                err.print(f"[{done[0]}/{total}] {problem_id}: {methods} method(s) done")

    return bar, update


def _report(store: Any, name: str, out: str, args: argparse.Namespace, items: list | None = None) -> int:
    kept = snapshot(args.db, args.snapshot) if args.snapshot else None
    items = store.items(name) if items is None else items
    if not items:
        raise ValueError(f"--name: no evaluation {name!r} in the store")
    if args.paired:
        items = paired(items)
        if not items:
            raise ValueError(f"--paired: no problem of {name!r} is finished by every method yet")
    baseline = args.baseline or BASELINE
    if args.baseline and all(i.method != baseline for i in items):
        methods = ", ".join(dict.fromkeys(i.method for i in items))
        raise ValueError(f"--baseline: no method {baseline!r} in evaluation {name!r}; its methods: {methods}")
    title = report_title(name, sorted({i.dataset for i in items}), paired=args.paired)
    paths = write_report(items, out, title=title, baseline=baseline, ledger=store.ledger)
    stats, comparisons, adaptive = summarize(items), compare(items, baseline=baseline), early_stops(items)
    if args.json:
        print_json(
            {
                "eval": name,
                "paired": args.paired,
                "stats": [asdict(s) for s in stats],
                "comparisons": [asdict(c) for c in comparisons],
                "early_stops": [{**asdict(e), "saved": e.saved} for e in adaptive],
                "code": [asdict(c) for c in code_stats(items)],
                "files": {k: str(v) for k, v in paths.items()},
                **({"snapshot": _snapshot_json(kept)} if kept else {}),
            }
        )
    else:
        render(
            stats,
            console(),
            title=f"evaluation {name!r}" + (" (paired)" if args.paired else ""),
            comparisons=comparisons,
            adaptive=adaptive,
            code=code_stats(items),
        )
        console().print(f"written: {', '.join(str(p) for p in paths.values())}")
        if kept:
            console().print(
                f"snapshot: {kept.path} ({kept.size:,} bytes, {kept.runs} finished runs"
                + (f"; {kept.left_out} unfinished left out)" if kept.left_out else ")"),
                markup=False,
            )
    return 0


def _snapshot_json(kept: Snapshot) -> dict[str, Any]:
    return {"path": str(kept.path), "bytes": kept.size, "runs": kept.runs, "left_out": kept.left_out}


def check_out_dir(path: str, flag: str) -> None:
    """Refuse, before any run, a report directory that cannot be written (a file, a missing parent
    that cannot be made, no write permission): the report comes after hours of runs."""
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise UsageError(f"{flag}: {path} is a file, not a directory")
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"{flag}: cannot make {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}: cannot write in {existing} (permission denied)")


def _eval_name(args: argparse.Namespace, store: Any = None) -> str:
    """--name, else the dataset's name, else the store's only evaluation (the store is read only then)."""
    if args.name:
        return args.name
    if args.dataset:
        return Path(args.dataset).stem if args.dataset.endswith(".jsonl") else args.dataset
    names = store.names()
    if len(names) == 1:
        return names[0]
    if not names:
        raise ValueError("--report: the store holds no evaluation")
    raise ValueError(f"--name: the store holds several evaluations ({', '.join(names)}); pick one")


def cmd_eval(args: argparse.Namespace) -> int:
    if not args.dataset and not args.report:
        raise UsageError("--dataset is required (or --report DIR to redraw a stored evaluation)")
    db = resolve_db(args.db)
    if args.report and not args.dataset:
        if not db_exists(db):
            raise ValueError(f"--db: there is no database at {db}")
        check_out_dir(args.report, "--report")
        if args.snapshot:
            check_snapshot(db, args.snapshot)
        store = eval_store(db)
        return _report(store, _eval_name(args, store), args.report, args)
    if args.offset < 0:
        raise UsageError(f"--offset: must be 0 or more, got {args.offset}")
    base = _base(args)
    methods = parse_methods(args.methods, base)
    if args.baseline and all(m.label != args.baseline for m in methods):
        raise UsageError(
            f"--baseline: {args.baseline!r} is not one of --methods: " + ", ".join(m.label for m in methods)
        )
    problems = select(
        load_dataset(args.dataset), offset=args.offset, limit=args.limit, sample=args.sample, seed=args.seed
    )
    model, base_url = model_arg(args)
    name = _eval_name(args)
    out = args.report or args.out or f"pdr-eval-{name}"
    check_out_dir(out, "--report" if args.report else "--out")
    if args.snapshot:
        check_snapshot(db, args.snapshot)
    store = eval_store(db)  # opened (and created) once the input is known to be good
    if base_url:
        probe(base_url)
    prepare_local(model, [m.config for m in methods], [p.problem for p in problems])
    bar, update = _progress(len(problems), len(methods), enabled=not args.json)
    evaluation = Evaluation(
        problems,
        methods,
        model=model,
        base_url=base_url,
        db=db,
        name=name,
        concurrency=args.concurrency,
        share_drafts=args.share_drafts,
        timeout=args.timeout,
        on_progress=update,
    )

    def run() -> list:
        with bar:
            evaluation.run()
        if args.matched:
            evaluation.on_progress = None
            evaluation.run_matched(base)
        return evaluation.items()

    command = " ".join(sys.argv[1:]) if sys.argv[1:2] == ["eval"] else "eval ..."
    items = interruptible(run, hint=f"run `pdr {command}` again to resume")
    return _report(store, name, out, args, items)
