"""Orchestration overhead and fan-out, against a local fake OpenAI-compatible server.

The server answers every request after a fixed delay with a fixed number of tokens. Printed, each
measured in this one run:

- overhead: wall time of `run_pdr` (schedule 16,8,4,1, global summary, SQLite checkpoints and ledger
  on) against a bare `asyncio.gather` of the same calls in the same stage order (goal: <= 3% more);
- fan-out: a round of N drafts against one call, N = 1, 4, 16, 64 (goal: <= 1.1x).

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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_openai import FakeOpenAIServer  # noqa: E402

from langgraph_pdr import PDRConfig, run_pdr  # noqa: E402
from langgraph_pdr.models import build_model  # noqa: E402
from langgraph_pdr.state.spec import ModelSpec  # noqa: E402

SCHEDULE = (16, 8, 4, 1)


def reply(req) -> str:
    return "step " * 40 + "\\boxed{42}"


def bare(base_url: str, stages: list[int]) -> float:
    """The same calls, stage by stage, with asyncio.gather and nothing else."""
    model = build_model(ModelSpec(id="fake-model", base_url=base_url))

    async def main() -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=1.0, help="seconds per server answer")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = PDRConfig(schedule=SCHEDULE, distiller="global_summary", max_tokens=64, kappa=256)
    stages = [w for r, w in enumerate(SCHEDULE) for w in ([w, 1] if r < len(SCHEDULE) - 1 else [w])]
    with FakeOpenAIServer(reply=reply, delay=lambda req: args.delay) as server, \
            tempfile.TemporaryDirectory() as tmp:
        orchestrated(server.base_url, PDRConfig(method="single"), Path(tmp) / "warm.sqlite")
        pdr_times, bare_times = [], []
        for n in range(args.repeat):
            pdr_times.append(orchestrated(server.base_url, config, Path(tmp) / f"r{n}.sqlite"))
            bare_times.append(bare(server.base_url, stages))
        t_pdr, t_bare = statistics.median(pdr_times), statistics.median(bare_times)
        print(f"server delay {args.delay:.2f} s; schedule {','.join(map(str, SCHEDULE))} with global "
              f"summary = {len(stages)} stages, {sum(stages)} calls")
        print(f"overhead: run_pdr {t_pdr:.3f} s vs bare asyncio.gather {t_bare:.3f} s "
              f"-> {100 * (t_pdr / t_bare - 1):+.1f}% (goal <= 3%)")
        one = statistics.median(bare(server.base_url, [1]) for _ in range(args.repeat))
        for width in (1, 4, 16, 64):
            cfg = PDRConfig(method="self_consistency", schedule=width, max_tokens=64)
            times = [orchestrated(server.base_url, cfg, Path(tmp) / f"f{width}-{n}.sqlite")
                     for n in range(args.repeat)]
            print(f"fan-out N={width:>2}: round {statistics.median(times):.3f} s vs one call "
                  f"{one:.3f} s -> {statistics.median(times) / one:.2f}x (goal <= 1.1x)")


if __name__ == "__main__":
    main()
