"""The process that serves the embedded local model: xllamacpp's llama.cpp server, alone in a child
process that `LocalServer` starts and stops by its PID.

Dropping an embedded xllamacpp server while requests are in flight never returns (its HTTP threads wait
for results its stopped loop will not send), so the server lives in a process of its own: killing it
ends every request at once and frees its memory. Run as a script (`python -P llama_child.py OPTIONS`,
OPTIONS a JSON object), it imports nothing of langgraph_pdr, so it starts as fast as xllamacpp loads.
SIGINT is ignored (a Ctrl-C in the terminal reaches the whole process group: the parent decides);
SIGTERM, and the death of the parent, end it at once.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any


def serve(options: dict[str, Any]) -> None:
    """Serve until killed."""
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = options["model"]
    p.model_alias = {options["alias"]}  # a set of names: a plain string would be split into characters
    p.n_parallel = options["n_parallel"]
    p.n_ctx = options["n_ctx"]
    p.kv_unified = True
    p.cpuparams.n_threads = options["threads"]
    p.cpuparams_batch.n_threads = options["threads"]
    p.warmup = False
    p.hostnames = [options["host"]]
    p.port = options["port"]
    p.verbosity = 0  # llama.cpp logs nothing; the parent's progress owns stderr
    p.endpoint_metrics = True  # /metrics: prompt tokens processed, requests in flight
    for name, value in options.get("params", {}).items():  # prompt sharing (see shared_server.LocalServer)
        setattr(p, name, value)
    try:
        server = xlc.Server(p)
    except Exception as exc:
        print(f"local model: llama.cpp could not load {options['model']}: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    print(server.listening_address, flush=True)
    while True:  # never returns: the server is never dropped, only killed with its process
        signal.pause()


if __name__ == "__main__":  # pragma: no cover - runs in the child process
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(json.loads(sys.argv[1]))
