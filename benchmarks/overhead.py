"""Orchestration overhead and fan-out, against a local fake OpenAI-compatible server.

The server answers every request after a fixed delay with a fixed number of tokens. Printed, each
measured in this one run:

- overhead: wall time of `run_pdr` (schedule 16,8,4,1, global summary, SQLite checkpoints and ledger
  on) against a bare `asyncio.gather` of the same calls in the same stage order (goal: <= 3% more);
- fan-out: a round of N drafts (from `round_started` to `round_finished`) against the slowest single
  call of that round, N = 1, 4, 16, 64 (goal: <= 1.1x), for `run_pdr` and `arun_pdr`; and the whole
  run against one bare call.

    python benchmarks/overhead.py [--delay 1.0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_process import served  # noqa: E402

from langgraph_pdr import PDRConfig, arun_pdr, run_pdr  # noqa: E402
from langgraph_pdr.models import build_model  # noqa: E402
from langgraph_pdr.state.spec import ModelSpec  # noqa: E402

SCHEDULE = (16, 8, 4, 1)


def bare(base_url: str, stages: list[int]) -> float:
    """The same calls, stage by stage, with asyncio.gather and nothing else."""

    async def main() -> None:
        model = build_model(ModelSpec(id="fake-model", base_url=base_url))  # its loop's HTTP client
        for width in stages:
            await asyncio.gather(*(model.ainvoke(f"call {i}", max_tokens=64) for i in range(width)))

    started = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - started


def orchestrated(base_url: str, config: PDRConfig, db: Path) -> float:
    started = time.perf_counter()
    result = run_pdr("What is 6 * 7?", model="fake-model", base_url=base_url, config=config, db=db)
    elapsed = time.perf_counter() - started
    assert result.stop_reason == "completed", result.stop_reason
    return elapsed


def round_span(base_url: str, width: int, db: Path, use_async: bool) -> tuple[float, float, float]:
    """(round span, slowest call of the round, whole run) of a one-round run of `width` drafts."""
    marks: dict[str, float] = {}

    def on_event(event: dict) -> None:
        if event.get("event") in ("round_started", "round_finished"):
            marks[event["event"]] = time.perf_counter()

    cfg = PDRConfig(method="self_consistency", schedule=width, max_tokens=64)
    started = time.perf_counter()
    kwargs = {"model": "fake-model", "base_url": base_url, "config": cfg, "db": db, "on_event": on_event}
    if use_async:
        result = asyncio.run(arun_pdr("What is 6 * 7?", **kwargs))
    else:
        result = run_pdr("What is 6 * 7?", **kwargs)
    whole = time.perf_counter() - started
    slowest = max(c.latency_s for c in result.calls if c.role == "draft")
    return marks["round_finished"] - marks["round_started"], slowest, whole


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=1.0, help="seconds per server answer")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-keep-alive", action="store_true", help="the upstream closes each connection (HTTP/1.0)"
    )
    args = parser.parse_args()
    config = PDRConfig(schedule=SCHEDULE, distiller="global_summary", max_tokens=64, kappa=256)
    stages = [w for r, w in enumerate(SCHEDULE) for w in ([w, 1] if r < len(SCHEDULE) - 1 else [w])]
    keep_alive = not args.no_keep_alive
    with served(args.delay, keep_alive=keep_alive) as base_url, tempfile.TemporaryDirectory() as tmp:
        orchestrated(base_url, PDRConfig(method="single"), Path(tmp) / "warm.sqlite")
        pdr_times, bare_times = [], []
        for n in range(args.repeat):
            pdr_times.append(orchestrated(base_url, config, Path(tmp) / f"r{n}.sqlite"))
            bare_times.append(bare(base_url, stages))
        t_pdr, t_bare = statistics.median(pdr_times), statistics.median(bare_times)
        print(
            f"server delay {args.delay:.2f} s; schedule {','.join(map(str, SCHEDULE))} with global "
            f"summary = {len(stages)} stages, {sum(stages)} calls"
        )
        print(
            f"overhead: run_pdr {t_pdr:.3f} s vs bare asyncio.gather {t_bare:.3f} s "
            f"-> {100 * (t_pdr / t_bare - 1):+.1f}% (goal <= 3%)"
        )
        one = statistics.median(bare(base_url, [1]) for _ in range(args.repeat))
        for use_async in (False, True):
            name = "arun_pdr" if use_async else "run_pdr"
            for width in (1, 4, 16, 64):
                runs = [
                    round_span(base_url, width, Path(tmp) / f"{name}{width}-{n}.sqlite", use_async)
                    for n in range(args.repeat)
                ]
                span, slowest, whole = (statistics.median(x) for x in zip(*runs, strict=True))
                print(
                    f"fan-out {name:>8} N={width:>2}: round {span:.3f} s vs its slowest call "
                    f"{slowest:.3f} s -> {span / slowest:.2f}x (goal <= 1.1x); whole run {whole:.3f} s "
                    f"vs one bare call {one:.3f} s -> {whole / one:.2f}x"
                )


if __name__ == "__main__":
    main()
