"""Many requests at once: `pdr serve` (a real process, its default SQLite store) and `arun_pdr` against
the same model calls made directly, with a fake OpenAI-compatible upstream in a process of its own.

Printed, each measured in this one run: throughput (completions per second) and p50 / p95 latency of
N concurrent requests (default 64), and their ratio to the same calls made directly:

- `single` through `pdr serve` against N direct upstream calls (one call per request: what serving,
  checkpointing and the ledger add to one call);
- PDR 4,2,1 with a global summary (9 calls in 5 stages per request) through `pdr serve` and through
  `arun_pdr` on one SQLite file, against the same calls made directly stage by stage.

    python benchmarks/concurrency.py [--clients 64] [--delay 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_process import served  # noqa: E402

from langgraph_pdr import PDRConfig, arun_pdr  # noqa: E402
from langgraph_pdr.models import build_model  # noqa: E402
from langgraph_pdr.state.spec import ModelSpec  # noqa: E402

PDR_STAGES = [4, 1, 2, 1, 1]  # drafts, summary, drafts, summary, final draft


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, wall: float, latencies: list[float], base: tuple[float, list[float]] | None) -> str:
    n = len(latencies)
    text = (
        f"{name:<34} {n / wall:6.2f} req/s   p50 {percentile(latencies, 0.5):6.3f} s   "
        f"p95 {percentile(latencies, 0.95):6.3f} s"
    )
    if base is not None:
        base_wall, base_lat = base
        text += (
            f"   vs direct: throughput {(n / wall) / (n / base_wall):.2f}x, p50 "
            f"{percentile(latencies, 0.5) / percentile(base_lat, 0.5):.2f}x, p95 "
            f"{percentile(latencies, 0.95) / percentile(base_lat, 0.95):.2f}x"
        )
    return text


async def timed_all(jobs: list[Callable[[], Awaitable[object]]]) -> tuple[float, list[float]]:
    """Run the jobs together; (wall time, each job's latency)."""

    async def one(job: Callable[[], Awaitable[object]]) -> float:
        started = time.perf_counter()
        await job()
        return time.perf_counter() - started

    started = time.perf_counter()
    latencies = await asyncio.gather(*(one(j) for j in jobs))
    return time.perf_counter() - started, list(latencies)


def direct(base_url: str, clients: int, stages: list[int]) -> tuple[float, list[float]]:
    """`clients` requests, each the same calls made directly, stage by stage."""

    async def main() -> tuple[float, list[float]]:
        model = build_model(ModelSpec(id="fake-model", base_url=base_url))  # its loop's HTTP client

        async def request() -> None:
            for width in stages:
                await asyncio.gather(*(model.ainvoke(f"call {i}", max_tokens=64) for i in range(width)))

        return await timed_all([request for _ in range(clients)])

    return asyncio.run(main())


def through_serve(base_url: str, clients: int, method: str, tmp: Path) -> tuple[float, list[float]]:
    env = {**os.environ, "PDR_DB": str(tmp / f"serve-{method}.sqlite"), "OPENAI_API_KEY": "sk-bench"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langgraph_pdr.cli",
            "serve",
            "--model",
            "fake-model",
            "--base-url",
            base_url,
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = proc.stdout.readline().strip()

        def complete(n: int) -> float:
            body = json.dumps(
                {
                    "model": method,
                    "max_tokens": 64,
                    "messages": [{"role": "user", "content": f"What is 6 * 7? (#{n})"}],
                }
            )
            request = urllib.request.Request(
                url + "/chat/completions", data=body.encode(), headers={"Content-Type": "application/json"}
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=600) as response:
                assert response.status == 200 and json.load(response)["pdr"]["answer"] == "42"
            return time.perf_counter() - started

        complete(-1)  # warm: the store exists, the imports are done
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            latencies = list(pool.map(complete, range(clients)))
        return time.perf_counter() - started, latencies
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def through_arun(base_url: str, clients: int, tmp: Path) -> tuple[float, list[float]]:
    db = tmp / "arun.sqlite"
    config = PDRConfig(schedule="4,2,1", distiller="global_summary", max_tokens=64, kappa=256)

    async def main() -> tuple[float, list[float]]:
        await arun_pdr("warm", model="fake-model", base_url=base_url, db=db, config=config)
        return await timed_all(
            [
                (
                    lambda n=n: arun_pdr(
                        f"What is 6 * 7? (#{n})", model="fake-model", base_url=base_url, db=db, config=config
                    )
                )
                for n in range(clients)
            ]
        )

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds per upstream answer")
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    with served(args.delay) as base_url, tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        print(f"{args.clients} concurrent requests; upstream answers each call after {args.delay:.2f} s")
        one = direct(base_url, args.clients, [1])
        print(line("direct, 1 call", *one, None))
        print(line("pdr serve, single", *through_serve(base_url, args.clients, "single", tmp), one))
        nine = direct(base_url, args.clients, PDR_STAGES)
        print(line("direct, PDR 4,2,1's 9 calls", *nine, None))
        print(
            line("pdr serve, pdr (4,2,1 summary)", *through_serve(base_url, args.clients, "pdr", tmp), nine)
        )
        print(line("arun_pdr, 4,2,1 summary", *through_arun(base_url, args.clients, tmp), nine))
        print(f"(median of the direct 9-call latencies: {statistics.median(nine[1]):.3f} s)")


if __name__ == "__main__":
    main()
