"""64 concurrent PDR 4,1 requests through `pdr serve` against a fake upstream that answers each call
after 0.5 s, and the CPU the server spends per upstream call.

PDR 4,1 with its default global summary is 6 upstream calls in 3 sequential stages (4 drafts, the
summary, the final draft). Printed, each measured in this one run:

- wall time of N concurrent requests (default 64), over the upstream's own 1.5 s (3 stages of
  0.5 s) and over the same calls made directly stage by stage in this process (measured here);
- the server process's CPU time (user + system, from /proc) over the upstream calls it made: CPU ms
  per upstream call (what serving, orchestration, checkpoints and the ledger cost each call);
- how many answers were right (42);
- how much of the time the machine's cores were idle: a load that kept them busy is bound by CPU, one
  that left them idle by its stages' waits (all requests in step, every core waiting on the upstream).

`--profile FILE` records the server with py-spy while the load runs (collapsed stacks in FILE;
`--top` prints the functions where most samples fall). The server and the upstream run in processes
of their own; on a shared machine, run it under `nice` and compare the ratios, not the seconds.

    python benchmarks/serve_load.py [--clients 64] [--delay 0.5] [--workers 2] [--no-summary]
        [--profile stacks.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_process import served  # noqa: E402

from langgraph_pdr.models import build_model  # noqa: E402
from langgraph_pdr.state.spec import ModelSpec  # noqa: E402

STAGES = [4, 1, 1]  # PDR 4,1 with a global summary: drafts, summary, final draft
BODY: dict[str, Any] = {"model": "pdr", "max_tokens": 64, "pdr": {"schedule": "4,1"}}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its workers (`--workers`) so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_seconds(int(child)) for child in children)


def machine_idle() -> tuple[int, int]:
    """(idle, total) clock ticks of all the machine's cores so far (Linux `/proc/stat`)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return ticks[3] + ticks[4], sum(ticks)


def direct(base_url: str, clients: int) -> float:
    """Wall time of `clients` requests, each the same calls made directly, stage by stage."""

    async def request(model: Any) -> None:
        for width in STAGES:
            await asyncio.gather(*(model.ainvoke(f"call {i}", max_tokens=64) for i in range(width)))

    async def main() -> float:
        model = build_model(ModelSpec(id="fake-model", base_url=base_url))  # its loop's HTTP client
        await request(model)  # warm
        started = time.perf_counter()
        await asyncio.gather(*(request(model) for _ in range(clients)))
        return time.perf_counter() - started

    return asyncio.run(main())


def complete(url: str, n: int) -> bool:
    """One request; whether it answered 42."""
    body = {**BODY, "messages": [{"role": "user", "content": f"What is 6 * 7? (#{n})"}]}
    request = urllib.request.Request(
        url + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        data = json.load(response)
    return bool((data.get("pdr") or {}).get("answer") == "42")


def top(stacks: Path, count: int = 25) -> str:
    """The functions where most of py-spy's samples fall (self and inclusive), from collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        frames, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        n = int(samples)
        total += n
        names = [f.split(" (")[0] + " " + f.split("/")[-1].rstrip(")") for f in frames.split(";")]
        own[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
    lines = [f"{total} samples; self:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(count)]
    lines.append("inclusive:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(count)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds per upstream answer")
    parser.add_argument("--profile", type=Path, help="record the server with py-spy into this file")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--workers", type=int, default=1, help="pdr serve --workers N (N processes)")
    parser.add_argument(
        "--no-summary",
        action="store_true",
        help="distil with random_k (no model call): 5 calls in 2 stages instead of 6 in 3",
    )
    parser.add_argument(
        "--no-keep-alive", action="store_true", help="the upstream closes each connection (HTTP/1.0)"
    )
    args = parser.parse_args()
    if args.no_summary:
        STAGES[:] = [4, 1]
        BODY["pdr"] = {"schedule": "4,1", "distiller": "random_k"}
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    keep_alive = not args.no_keep_alive
    with served(args.delay, keep_alive=keep_alive) as base_url, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PDR_DB": str(Path(tmp) / "serve.sqlite")}
        command = ["serve", "--model", "fake-model", "--base-url", base_url, "--port", "0"]
        command += ["--workers", str(args.workers)] if args.workers > 1 else []
        proc = subprocess.Popen(
            [sys.executable, "-m", "langgraph_pdr.cli", *command], stdout=subprocess.PIPE, text=True, env=env
        )
        spy = None
        try:
            url = (proc.stdout.readline() if proc.stdout else "").strip()
            complete(url, -1)  # warm: the store exists, the imports are done
            if args.profile:
                spy = subprocess.Popen(
                    [
                        "py-spy",
                        "record",
                        "-p",
                        str(proc.pid),
                        "-f",
                        "raw",
                        "-o",
                        str(args.profile),
                        "-r",
                        "100",
                        "--gil",
                        "--nonblocking",
                        "--subprocesses",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1.0)  # py-spy attaches
            idle_before = machine_idle()
            cpu_before = cpu_seconds(proc.pid)
            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                answers = list(pool.map(lambda n: complete(url, n), range(args.clients)))
            wall = time.perf_counter() - started
            cpu = cpu_seconds(proc.pid) - cpu_before
            idle = [after - before for after, before in zip(machine_idle(), idle_before, strict=True)]
        finally:
            if spy is not None:
                spy.send_signal(2)  # py-spy writes its file on SIGINT
                spy.wait(timeout=60)
            proc.terminate()
            proc.wait(timeout=30)
        upstream = direct(base_url, args.clients)
    right = sum(answers)
    calls = args.clients * sum(STAGES)  # the fake upstream never fails: no retries
    print(
        f"{args.clients} concurrent PDR 4,1 requests through pdr serve; upstream answers each call after "
        f"{args.delay:.2f} s ({len(STAGES)} stages, {sum(STAGES)} calls per request)"
    )
    floor = len(STAGES) * args.delay  # the upstream alone: its stages one after another
    print(
        f"wall {wall:.2f} s -> {wall / floor:.2f}x the upstream's {floor:.1f} s, "
        f"{wall / upstream:.2f}x the same calls made directly ({upstream:.2f} s); "
        f"{right}/{args.clients} right"
    )
    print(f"server CPU {cpu:.2f} s over {calls} upstream calls -> {1000 * cpu / calls:.1f} ms per call")
    print(
        f"the machine's cores idle {100 * idle[0] / idle[1]:.0f}% of the time "
        "(the server, the upstream and the clients share them)"
    )
    if args.profile and args.profile.exists():
        print(top(args.profile, args.top))


if __name__ == "__main__":
    main()
