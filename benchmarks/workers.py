"""Many `pdr serve` workers on one store: requests per second and p95 latency of N concurrent PDR
requests (default 64, PDR 4,2,1 with a global summary: 9 calls in 5 stages each) sent round-robin to
1 and to 2 worker processes, on one PostgreSQL database and on one SQLite file, against a fake
OpenAI-compatible upstream in a process of its own (each call answered after `--delay` seconds).

Printed, each measured in this one run: requests/s, p50 and p95 latency per configuration, and the
ratio of 2 workers' throughput to 1's on the same store. A PostgreSQL server is started in a temporary
directory (Debian's `postgresql` package) unless `--postgres URL` names one (a database is made per
configuration).

    python benchmarks/workers.py [--clients 64] [--delay 0.5] [--postgres postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from postgres_process import new_database, temporary_postgres  # noqa: E402
from serve_process import pdr_serve_process  # noqa: E402
from server_process import served  # noqa: E402

PDR = [sys.executable, "-m", "langgraph_pdr.cli"]
BODY = {
    "model": "pdr-4-2-1-global_summary",
    "messages": [{"role": "user", "content": "What is 6 * 7?"}],
    "max_tokens": 200,
}


def worker(upstream: str, db: str) -> Any:
    """One `pdr serve` process on `db`, stopped by its own PID: (process, base URL)."""
    return pdr_serve_process(upstream, "--db", db, env={"OPENAI_API_KEY": "sk-bench"})


def request(url: str) -> float:
    """One completion; its latency in seconds."""
    data = json.dumps(BODY).encode()
    req = urllib.request.Request(
        f"{url}/chat/completions", data=data, headers={"Content-Type": "application/json"}
    )
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as reply:
        answer = json.load(reply)
    if answer["pdr"]["answer"] != "42":
        raise RuntimeError(f"a wrong answer: {answer['pdr']['answer']!r}")
    return time.perf_counter() - start


def batch(urls: list[str], clients: int) -> tuple[float, float, float]:
    """`clients` requests at once, round-robin over `urls`: (requests/s, p50 s, p95 s)."""
    request(urls[0])  # warm up: the store's tables, the first connections
    with ThreadPoolExecutor(max_workers=clients) as pool:
        start = time.perf_counter()
        latencies = list(pool.map(request, [urls[n % len(urls)] for n in range(clients)]))
        wall = time.perf_counter() - start
    latencies.sort()
    p95 = latencies[max(0, int(round(0.95 * len(latencies))) - 1)]
    return clients / wall, statistics.median(latencies), p95


def measure(upstream: str, db: str, workers: int, clients: int) -> tuple[float, float, float]:
    with ExitStack() as stack:
        urls = [stack.enter_context(worker(upstream, db))[1] for _ in range(workers)]
        return batch(urls, clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds the upstream takes per call")
    parser.add_argument("--postgres", help="a PostgreSQL server's base URL (default: a temporary one)")
    args = parser.parse_args()
    rows: list[tuple[str, int, float, float, float]] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        upstream = stack.enter_context(served(delay=args.delay))
        pg = args.postgres or stack.enter_context(temporary_postgres())
        for workers in (1, 2):
            rows.append(("postgresql", workers, *measure(upstream, new_database(pg), workers, args.clients)))
        for workers in (1, 2):
            db = str(Path(tmp) / f"runs-{workers}.sqlite")
            rows.append(("sqlite", workers, *measure(upstream, db, workers, args.clients)))
    print(f"{args.clients} concurrent PDR 4,2,1 requests, upstream delay {args.delay:g} s per call")
    print(f"{'store':<12}{'workers':>8}{'req/s':>9}{'p50 s':>8}{'p95 s':>8}")
    for store, workers, rate, p50, p95 in rows:
        print(f"{store:<12}{workers:>8}{rate:>9.2f}{p50:>8.2f}{p95:>8.2f}")
    for store in ("postgresql", "sqlite"):
        one, two = (r[2] for r in rows if r[0] == store)
        print(f"{store}: 2 workers / 1 worker throughput = {two / one:.2f}x")


if __name__ == "__main__":
    main()
