"""A test-owned HTTP proxy on 127.0.0.1 that forwards OpenAI-compatible requests to a real server
and records the usage each response reports."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any

from fake_openai import LoopbackServer, send_json


class RecordingProxy(LoopbackServer):
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.usage: list[dict[str, int]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))) or None
                path = self.path.removeprefix("/v1")
                req = urllib.request.Request(
                    proxy.upstream + path,
                    data=body,
                    method=method,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(req, timeout=600) as resp:
                    data, status = resp.read(), resp.status
                    streamed = resp.headers.get("Content-Type", "").startswith("text/event-stream")
                if path.startswith("/chat/completions"):
                    with proxy.lock:
                        proxy.usage.append(_usage(data, streamed))
                if streamed:  # passed on whole: the client reads the same events, later
                    self.send_response(status)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                send_json(self, status, data)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

        self._serve(Handler)

    @property
    def billed(self) -> int:
        with self.lock:
            return sum(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) for u in self.usage)


def _usage(data: bytes, streamed: bool) -> dict[str, int]:
    """The usage a response reports: the JSON body's, or a streamed response's last usage event."""
    if not streamed:
        return json.loads(data).get("usage") or {}
    usage: dict[str, int] = {}
    for line in data.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            usage = json.loads(line[6:]).get("usage") or usage
    return usage
