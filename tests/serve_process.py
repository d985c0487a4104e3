"""A real `pdr serve` process for tests: started in front of an upstream, stopped by its own PID."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

PDR = [sys.executable, "-m", "langgraph_pdr.cli"]


@contextmanager
def pdr_serve_process(
    upstream_url: str, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen, str]]:
    """`pdr serve --model fake-model` against `upstream_url` (more options in `args`, more
    environment in `env`, e.g. `PDR_DB` for its default store); yields the process and its base URL,
    and stops it by its PID (unless it was killed)."""
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
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=60)


@contextmanager
def pdr_serve(upstream_url: str, *args: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """`pdr_serve_process`, yielding its base URL alone."""
    with pdr_serve_process(upstream_url, *args, env=env) as (_, url):
        yield url
