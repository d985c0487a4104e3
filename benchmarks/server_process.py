"""The fake OpenAI-compatible server in a process of its own, so its threads do not share the
benchmark's GIL (a real provider is another machine). It keeps connections alive (HTTP/1.1), as
providers do, so a client's connection pool is used as it would be.

    with served(delay=1.0, words=40) as base_url: ...
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"

CHILD = f"""
import sys, threading
sys.path.insert(0, {str(TESTS)!r})
from fake_openai import FakeOpenAIServer
delay, words, keep_alive = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
reply = "step " * words + "\\\\boxed{{42}}"
with FakeOpenAIServer(reply=lambda req: reply, delay=lambda req: delay) as server:
    if keep_alive:
        server.httpd.RequestHandlerClass.protocol_version = "HTTP/1.1"
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
"""


@contextmanager
def served(delay: float, words: int = 40, keep_alive: bool = True) -> Iterator[str]:
    """A fake server answering every request after `delay` seconds with `words` words; its base URL.
    Without `keep_alive` it closes each connection after its answer (HTTP/1.0)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(delay), str(words), "1" if keep_alive else "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
