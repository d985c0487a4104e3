"""A real `pdr serve` process for tests: started in front of an upstream, stopped by its own PID."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

PDR = [sys.executable, "-m", "langgraph_pdr.cli"]


@contextmanager
def pdr_serve(upstream_url: str, *args: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`pdr serve --model fake-model` against `upstream_url` (more options in `args`, more
    environment in `env`, e.g. `PDR_DB` for its default store); yields its base URL."""
    proc = subprocess.Popen(
        [*PDR, "serve", "--model", "fake-model", "--base-url", upstream_url, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENAI_API_KEY": "sk-test", **(env or {})},
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
