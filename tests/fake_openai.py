"""A real OpenAI-compatible HTTP server on 127.0.0.1, owned by a test: scripted replies with usage,
per-request delays, and a log of every request."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langgraph_pdr.calls.model_call import derive_seed


def role_of(prompt: str) -> str:
    if prompt.startswith("Check the proposed solution"):
        return "verify"
    if "attempted solutions to the same problem" in prompt:
        return "distill"
    if prompt.startswith("Review the solution"):
        return "critique"
    return "draft"


def draft_identity(seed: int | None, run_seed: int = 0, rounds: int = 8, width: int = 64):
    """(round, index) of a draft call, recovered from the per-call seed PDR sends."""
    for r in range(1, rounds + 1):
        for i in range(width):
            if derive_seed(run_seed, "draft", r, i) == seed:
                return r, i
    return None


@dataclass
class Request:
    role: str
    prompt: str
    body: dict[str, Any]
    draft: tuple[int, int] | None
    reply: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    answered: bool = False
    fault: str | None = None
    started: float = field(default_factory=time.monotonic)
    images: list[str] = field(default_factory=list)  # the image URLs (data: or http) the request carried
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # the tool calls the reply made

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def tools(self) -> list[str]:
        """The names of the tools the request offered."""
        return [t["function"]["name"] for t in self.body.get("tools") or []]

    def tool_results(self) -> list[str]:
        """The contents of the request's tool messages, in order."""
        return [text_of(m.get("content", "")) for m in self.messages if m.get("role") == "tool"]


def text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")


def images_of(content: Any) -> list[str]:
    """The image URLs of a message's content parts (OpenAI's `image_url` format)."""
    if isinstance(content, str):
        return []
    return [p["image_url"]["url"] for p in content if isinstance(p, dict) and p.get("type") == "image_url"]


def default_reply(req: Request) -> str:
    if req.role == "verify":
        return "Checked. Score: 7"
    if req.role == "distill":
        return "Summary: the attempts agree on 42."
    if req.role == "critique":
        return "No mistakes."
    r, i = req.draft or (0, 0)
    return f"Draft of round {r}, number {i}: 6 * 7 = 42, so \\boxed{{42}}"


#: The faults `FakeOpenAIServer(fault=...)` injects: HTTP errors (429 with `Retry-After`), a reset
#: connection, a reply that never comes, an empty completion, a draft without `\boxed{}`, a reply cut by
#: `finish_reason: length`, a verification without a score, a body that is not JSON, and a 400 refusing
#: image input (a text-only model).
FAULTS = (
    "429",
    "500",
    "503",
    "reset",
    "hang",
    "empty",
    "no_boxed",
    "length",
    "unparseable",
    "malformed",
    "no_images",
)


@dataclass
class ToolCalls:
    """A reply that calls tools: `calls` are (name, arguments) pairs; `content` any text beside them."""

    calls: list[tuple[str, dict[str, Any]]]
    content: str = ""


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # bursts of parallel drafts connect at once
    daemon_threads = True


class LoopbackServer:
    """An HTTP server on 127.0.0.1 (a free port) running in a thread while the `with` block lasts."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send_json(handler: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class FakeOpenAIServer(LoopbackServer):
    """`base_url` serves `/v1/chat/completions` and `/v1/models`.

    Args:
        reply: the completion text of a request, or a `ToolCalls` to call tools.
        delay: seconds to wait before answering a request (interrupted by `stop`).
        fault: the fault to inject for a request, or None to answer it (see `FAULTS`).
        retry_after: the `Retry-After` seconds of a 429.
        between: called before each word of a streamed reply (`"stream": true`), e.g. to hold a
            stream until the test has seen its first words.
        context: the context window `/v1/models` reports, as llama.cpp does (`meta.n_ctx_train`);
            None reports none.
    """

    def __init__(
        self,
        reply: Callable[[Request], str] = default_reply,
        delay: Callable[[Request], float] | None = None,
        fault: Callable[[Request], str | None] | None = None,
        retry_after: float = 1,
        between: Callable[[Request], None] | None = None,
        context: int | None = None,
    ) -> None:
        self.context = context
        self.reply = reply
        self.delay = delay or (lambda req: 0.0)
        self.between = between or (lambda req: None)  # called before each streamed word
        self.fault = fault or (lambda req: None)
        self.retry_after = retry_after
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                entry: dict[str, Any] = {"id": "fake-model", "object": "model"}
                if server.context is not None:
                    entry |= {"owned_by": "llamacpp", "meta": {"n_ctx_train": server.context}}
                self._send(200, {"object": "list", "data": [entry]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                messages = body.get("messages", [])
                prompt = "\n".join(text_of(m.get("content") or "") for m in messages)
                req = Request(role_of(prompt), prompt, body, draft_identity(body.get("seed")))
                req.images = [url for m in messages for url in images_of(m.get("content") or "")]
                with server.lock:
                    server.requests.append(req)
                req.fault = server.fault(req)
                server.stopping.wait(server.delay(req))
                if server.stopping.is_set() or self._inject(req):
                    return
                out: Any = server.reply(req)
                calls: list[dict[str, Any]] = []
                if isinstance(out, ToolCalls):
                    calls = [
                        {
                            "id": f"call_{len(server.requests)}_{n}",
                            "type": "function",
                            "function": {
                                "name": name,
                                "arguments": args if isinstance(args, str) else json.dumps(args),
                            },
                        }
                        for n, (name, args) in enumerate(out.calls)
                    ]
                    out = out.content
                req.tool_calls = calls
                text = out
                if req.fault == "empty":
                    text = ""
                elif req.fault == "no_boxed":
                    text = "I think the answer is forty-two."
                elif req.fault == "unparseable":
                    text = "The solution looks plausible but I cannot say more."
                limit = body.get("max_completion_tokens") or body.get("max_tokens") or 10**9
                if req.fault == "length":
                    limit = 3
                for stop in body.get("stop") or []:  # as OpenAI does: the stop sequence is left out
                    text = text.split(stop)[0]
                words = text.split()
                finish = "length" if len(words) > limit else ("tool_calls" if calls else "stop")
                text = " ".join(words[:limit]) if finish == "length" else text
                req.reply = text
                req.prompt_tokens = len(prompt.split())
                req.completion_tokens = len(text.split()) + sum(
                    len(c["function"]["arguments"].split()) + 1 for c in calls
                )
                message: dict[str, Any] = {"role": "assistant", "content": text}
                if calls:
                    message["tool_calls"] = calls
                payload = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "fake-model"),
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": finish,
                            "message": message,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": req.prompt_tokens,
                        "completion_tokens": req.completion_tokens,
                        "total_tokens": req.prompt_tokens + req.completion_tokens,
                    },
                }
                try:
                    if body.get("stream"):
                        self._stream(req, payload, body)
                    else:
                        self._send(200, payload)
                    req.answered = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _stream(self, req: Request, payload: dict, body: dict) -> None:
                """Server-sent events: the reply a word at a time (each after `server.between(req)`),
                then the finish reason, then the usage when the client asked for it."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")  # the stream ends with the connection
                self.end_headers()
                base = {k: payload[k] for k in ("id", "created", "model")} | {
                    "object": "chat.completion.chunk"
                }

                def event(choices: list, **extra: Any) -> None:
                    self.wfile.write(
                        f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n".encode()
                    )
                    self.wfile.flush()

                choice = payload["choices"][0]
                words = choice["message"]["content"].split(" ")
                for n, word in enumerate(words):
                    server.between(req)
                    piece = word if n == len(words) - 1 else word + " "
                    delta = {"role": "assistant", "content": piece} if n == 0 else {"content": piece}
                    event([{"index": 0, "delta": delta, "finish_reason": None}])
                calls = choice["message"].get("tool_calls") or []
                if calls:
                    deltas = [{**c, "index": n} for n, c in enumerate(calls)]
                    event([{"index": 0, "delta": {"tool_calls": deltas}, "finish_reason": None}])
                event([{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}])
                if (body.get("stream_options") or {}).get("include_usage"):
                    event([], usage=payload["usage"])
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _send(self, status: int, payload: dict) -> None:
                send_json(self, status, json.dumps(payload).encode())

            def _inject(self, req: Request) -> bool:
                """Inject `req.fault`; True when the request got no normal reply."""
                fault = req.fault
                if fault is not None and fault.isdigit():  # FAULTS' statuses, or any other (e.g. "400")
                    self.send_response(int(fault))
                    if fault == "429":
                        self.send_header("Retry-After", str(server.retry_after))
                    data = json.dumps({"error": {"message": f"injected {fault}", "type": "fault"}}).encode()
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif fault == "no_images":  # a text-only model, as vLLM and llama.cpp answer
                    data = json.dumps(
                        {
                            "error": {
                                "message": "image input is not supported by this model",
                                "type": "invalid_request_error",
                            }
                        }
                    ).encode()
                    send_json(self, 400, data)
                elif fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                elif fault == "hang":
                    server.stopping.wait(3600)
                elif fault == "malformed":
                    send_json(self, 200, b'{"id": "chatcmpl-fake", "choices": [{"index": 0, "mess')
                else:
                    return False
                return True

        self._serve(Handler)

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        super().__exit__(*exc)

    def answered(self, role: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.answered and (role is None or r.role == role)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the fake server did not see the expected requests")
            time.sleep(0.01)
