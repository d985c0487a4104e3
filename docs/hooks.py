"""MkDocs hooks: pages show what the code says today, generated at build time (offline).

`<!-- pdr help: run -->` becomes the output of `pdr run --help`, and `<!-- pdr graph: sr -->` the mermaid
graph `pdr graph --method sr --format mermaid` draws.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

_MARKER = re.compile(r"<!-- pdr (help|graph): ?([a-z_-]*) -->")


def _pdr(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "100"}
    proc = subprocess.run(
        [sys.executable, "-m", "langgraph_pdr.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pdr {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.rstrip()


def _expand(match: re.Match[str]) -> str:
    kind, name = match.group(1), match.group(2)
    if kind == "help":
        return "```text\n" + _pdr(*([name] if name else []), "--help") + "\n```"
    return "```mermaid\n" + _pdr("graph", "--method", name or "pdr", "--format", "mermaid") + "\n```"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return _MARKER.sub(_expand, markdown)
