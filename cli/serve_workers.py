"""`pdr serve --workers N`: N server processes of this host on one port and one store.

One process runs the event loop of every request it serves, and at high load that loop is where the
time goes (CPU per upstream call: `benchmarks/serve_load.py`). Workers spread the load over the
machine's cores: they accept the connections of one listening socket that this process opens and
hands down (a connection goes to a worker whose event loop is free; `SO_REUSEPORT` would deal them out
by a hash of their addresses, and leave a stuck worker's share waiting), each run is leased to the
worker that started it, and a worker that dies leaves its runs to the others'
recovery. This process only starts the workers, prints the URL once they all listen, and stops them
(Ctrl-C or SIGTERM: each finishes its requests in flight); when one exits on its own, it stops the
others and exits with its code.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from langgraph_pdr.integrations.asgi import listening

#: The environment variable that tells a worker its number (from 1), for its log lines.
WORKER_ENV = "PDR_SERVE_WORKER"
#: The environment variable that gives a worker the descriptor of the listening socket it inherits.
SOCKET_ENV = "PDR_SERVE_SOCKET"
#: Connections the shared socket queues until a worker accepts them (the kernel caps it at somaxconn).
BACKLOG = 2048
#: Seconds a worker may take to finish its requests in flight once told to stop.
STOP_GRACE_S = 60.0


def worker_argv(argv: Sequence[str]) -> list[str]:
    """A worker's `pdr` arguments: the command's own, without `--workers`, `--port` and `--reuse-port`
    (a worker serves on the socket it inherits, see `SOCKET_ENV`).

    Example:
        ```python
        from langgraph_pdr.cli.serve_workers import worker_argv

        argv = ["serve", "--workers", "2", "--port=0", "--db", "runs.sqlite"]
        assert worker_argv(argv) == ["serve", "--db", "runs.sqlite"]
        ```
    """
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--workers", "--port"):
            skip = True
            continue
        if arg.startswith(("--workers=", "--port=")) or arg == "--reuse-port":
            continue
        out.append(arg)
    return out


def run_workers(argv: Sequence[str], *, workers: int, host: str, port: int, reuse_port: bool = False) -> int:
    """Start `workers` processes of `pdr serve` on one port, print its URL once every one listens,
    and wait; return the exit code (0 after Ctrl-C or SIGTERM). With `reuse_port`, the port may be
    shared with other servers of this host (`SO_REUSEPORT`) too."""
    # connections that come before the workers are up wait in the socket's queue
    with listening(host, port, reuse_port=reuse_port) as sock:
        sock.listen(BACKLOG)
        command = [sys.executable, "-m", "langgraph_pdr.cli", *worker_argv(argv)]
        fd = sock.fileno()
        procs = [
            subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, WORKER_ENV: str(n), SOCKET_ENV: str(fd)},
                pass_fds=(fd,),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            for n in range(1, workers + 1)
        ]
        urls = [(p.stdout.readline() if p.stdout else "").strip() for p in procs]
    if not all(urls):  # a worker could not start: it said why on stderr
        codes = _stop(procs)
        return next((c for c in codes if c not in (0, None)), 1)
    sys.stdout.write(urls[0] + "\n")
    sys.stdout.flush()
    pids = ", ".join(str(p.pid) for p in procs)
    sys.stderr.write(f"pdr serve: {workers} workers on one port (PIDs {pids})\n")
    return _supervise(procs)


def _die_with_parent() -> None:
    """In a worker, before it starts: SIGTERM when this process dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: stopping the workers is left to `_stop`
        pass


def _supervise(procs: list[subprocess.Popen[str]]) -> int:
    """Wait until we are told to stop (0) or a worker exits on its own (its code, or 1)."""
    ended = threading.Event()
    stopping = False
    first_exit: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        ended.set()

    def watch(proc: subprocess.Popen[str]) -> None:
        code = proc.wait()
        first_exit.append(code)
        ended.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for proc in procs:
            threading.Thread(target=watch, args=(proc,), daemon=True).start()
        ended.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _stop(procs)
    if stopping:
        return 0
    code = first_exit[0] if first_exit else 1
    sys.stderr.write(f"pdr serve: a worker exited (code {code}); the others were stopped\n")
    return code or 1


def _stop(procs: list[subprocess.Popen[str]]) -> list[int | None]:
    """Stop the workers by their PIDs (SIGTERM: they finish their requests in flight; SIGKILL after
    `STOP_GRACE_S`); their exit codes."""
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S  # one grace period for all of them, not one each
    codes: list[int | None] = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            codes.append(proc.wait())
        if proc.stdout is not None:
            proc.stdout.close()
    return codes
