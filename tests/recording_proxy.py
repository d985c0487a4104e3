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
                if path.startswith("/chat/completions"):
                    usage = json.loads(data).get("usage") or {}
                    with proxy.lock:
                        proxy.usage.append(usage)
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
