"""Serving the local model: `$PDR_LLAMA_SERVER` (a `llama-server` executable run as a child process)
and the shared server, one per machine and model, that every `pdr` process attaches to.

A stand-in executable (a Python script answering `/health`, `/tokenize` and chat completions) takes the
place of a real build, so the tests check what pdr asks of it: its options, its start, its stop by PID,
its errors, and that two processes share one.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from langgraph_pdr.local_model import LocalModelError
from langgraph_pdr.local_model.shared_server import LlamaCppTokenCounter, LocalServer

FAKE_SERVER = textwrap.dedent(f"""\
    #!{sys.executable}
    import json, os, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer as HTTPServer

    argv = sys.argv[1:]
    with open(os.environ["FAKE_LLAMA_ARGV"], "w") as f:
        json.dump(argv, f)
    if os.environ.get("FAKE_LLAMA_STARTS"):
        with open(os.environ["FAKE_LLAMA_STARTS"], "a") as f:
            f.write(str(os.getpid()) + "\\n")
    if os.environ.get("FAKE_LLAMA_FAIL"):
        print("loading model", file=sys.stderr)
        print(os.environ["FAKE_LLAMA_FAIL"], file=sys.stderr)
        sys.exit(1)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, payload):
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send({{"status": "ok"}})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/tokenize":
                self._send({{"tokens": list(range(len(body["content"].split())))}})
                return
            if os.environ.get("FAKE_LLAMA_HANG"):
                open(os.environ["FAKE_LLAMA_HANG"], "a").close()  # the test sees the request arrive
                time.sleep(3600)
            text = "6 * 7 = 42, so \\\\boxed{{42}}"
            usage = {{"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18}}
            if body.get("stream"):  # as llama-server streams: chunks, then the usage, then [DONE]
                base = {{"model": body.get("model"), "object": "chat.completion.chunk"}}
                base |= {{"id": "x", "created": 0}}
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i, word in enumerate(text.split(" ")):
                    delta = {{"content": (" " if i else "") + word}}
                    chunk = {{**base, "choices": [{{"index": 0, "delta": delta, "finish_reason": None}}]}}
                    self.wfile.write(("data: " + json.dumps(chunk) + "\\n\\n").encode())
                end = {{**base, "choices": [{{"index": 0, "delta": {{}}, "finish_reason": "stop"}}]}}
                self.wfile.write(("data: " + json.dumps(end) + "\\n\\n").encode())
                last = {{**base, "choices": [], "usage": usage}}
                self.wfile.write(("data: " + json.dumps(last) + "\\n\\n").encode())
                self.wfile.write(b"data: [DONE]\\n\\n")
                self.wfile.flush()
                self.close_connection = True
                return
            self._send({{"choices": [{{"index": 0, "finish_reason": "stop",
                                      "message": {{"role": "assistant", "content": text}}}}],
                        "usage": usage,
                        "model": body.get("model"), "object": "chat.completion", "id": "x", "created": 0}})

    HTTPServer(("127.0.0.1", int(argv[argv.index("--port") + 1])), Handler).serve_forever()
    """)


@pytest.fixture
def fake_server(tmp_path, monkeypatch) -> Path:
    exe = tmp_path / "llama-server"
    exe.write_text(FAKE_SERVER)
    exe.chmod(0o755)
    monkeypatch.setenv("PDR_LLAMA_SERVER", str(exe))
    monkeypatch.setenv("FAKE_LLAMA_ARGV", str(tmp_path / "argv.json"))
    return tmp_path / "argv.json"


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return True


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return gone(pid)


def test_the_executable_gets_the_same_settings_and_is_stopped_by_its_pid(fake_server, monkeypatch):
    monkeypatch.setenv("PDR_LLAMA_SERVER_ARGS", "--no-repack -fa on")
    with LocalServer(Path("/models/m.gguf"), alias="m", n_parallel=6, n_ctx=12288, threads=2) as server:
        pid = server._process.pid
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        assert LlamaCppTokenCounter(server.base_url).count("three short words") == 3
        argv = json.loads(fake_server.read_text())
    assert wait_gone(pid)
    assert argv[-3:] == ["--no-repack", "-fa", "on"]  # $PDR_LLAMA_SERVER_ARGS last, so they win
    assert {k: argv[argv.index(k) + 1] for k in ("-m", "-a", "-np", "-c", "-t", "-tb")} == {
        "-m": "/models/m.gguf",
        "-a": "m",
        "-np": "6",
        "-c": "12288",
        "-t": "2",
        "-tb": "2",
    }
    assert "--kv-unified" in argv and "--no-warmup" in argv and argv[argv.index("--host") + 1] == "127.0.0.1"
    # prompt sharing: idle slots keep their prompt, slots can be saved and restored (in a directory
    # of the server's own, gone with it), /metrics counts the prompt tokens it processed
    slots = Path(argv[argv.index("--slot-save-path") + 1])
    assert "--no-cache-idle-slots" in argv and "--metrics" in argv and not slots.exists()


def test_without_prompt_sharing_the_server_keeps_llama_cpps_defaults(fake_server, monkeypatch):
    monkeypatch.setenv("PDR_SHARE_PROMPTS", "0")
    with LocalServer(Path("/models/m.gguf"), alias="m") as server:
        argv = json.loads(fake_server.read_text())
        assert server.slot_dir is None
    assert "--slot-save-path" not in argv and "--no-cache-idle-slots" not in argv


def test_an_executable_that_exits_while_loading_is_one_clear_error(fake_server, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_FAIL", "error: unknown model architecture: 'mamba9'")
    with pytest.raises(LocalModelError, match="exited while loading .*unknown model architecture"):
        LocalServer(Path("/models/m.gguf"), alias="m").start()


def test_a_missing_executable_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PDR_LLAMA_SERVER", str(tmp_path / "no-such-llama-server"))
    with pytest.raises(LocalModelError, match="PDR_LLAMA_SERVER: cannot run .*no-such-llama-server"):
        LocalServer(Path("/models/m.gguf"), alias="m").start()


def test_the_server_goes_when_its_parent_is_killed(fake_server):
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\n"
            "from langgraph_pdr.local_model.shared_server import LocalServer\n"
            "s = LocalServer(Path('/models/m.gguf'), alias='m').start()\n"
            "print(s._process.pid, flush=True)\ntime.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    child = int(parent.stdout.readline())
    assert not gone(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert wait_gone(child)


# -- the shared server ------------------------------------------------------------------------------


@pytest.fixture
def shared(tmp_path, fake_server, monkeypatch):
    """A cache directory of the test's own, a stand-in model file, and a record of server starts."""
    monkeypatch.setenv("PDR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_LLAMA_STARTS", str(tmp_path / "starts"))
    monkeypatch.setenv("PDR_SERVER_IDLE_S", "1")
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + bytes(64))
    return model


def starts(tmp_path: Path) -> list[int]:
    path = tmp_path / "starts"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def port_file(tmp_path: Path) -> Path | None:
    found = list((tmp_path / "cache" / "servers").glob("*.json"))
    return found[0] if found else None


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def pdr_run(model: Path, db: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langgraph_pdr.cli",
            "run",
            "What is 6 * 7?",
            "--local-model",
            str(model),
            "--schedule",
            "2,1",
            "--distiller",
            "random_k",
            "--k",
            "1",
            "--db",
            str(db),
            "--json",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def test_two_pdr_processes_share_one_server_which_stops_after_the_last(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("PDR_SERVER_IDLE_S", "5")
    runs = [pdr_run(shared, tmp_path / f"runs{n}.sqlite") for n in range(2)]
    outs = [p.communicate(timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], [err for _, err in outs]
    assert [json.loads(out)["answer"] for out, _ in outs] == ["42", "42"]
    (server,) = starts(tmp_path)  # one llama server for both
    info = json.loads(port_file(tmp_path).read_text())
    assert info["owner"] == "shared" and info["base_url"].startswith("http://127.0.0.1:")
    assert wait_gone(info["pid"], 60) and wait_gone(server, 30)  # idle with no client: it stopped
    assert port_file(tmp_path) is None


def test_a_client_killed_with_sigkill_leaves_nothing_running(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_HANG", str(tmp_path / "asked"))
    client = pdr_run(shared, tmp_path / "runs.sqlite")
    wait_for(lambda: (tmp_path / "asked").exists())  # attached, and its drafts are in flight
    info = json.loads(port_file(tmp_path).read_text())
    (server,) = starts(tmp_path)
    client.send_signal(signal.SIGKILL)
    client.wait()
    assert wait_gone(info["pid"], 60) and wait_gone(server, 30)
    assert port_file(tmp_path) is None


def test_runs_attach_to_a_running_pdr_serve_model(shared, tmp_path):
    served = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langgraph_pdr.cli",
            "serve-model",
            "--local-model",
            str(shared),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        url = served.stdout.readline().strip()
        wait_for(lambda: port_file(tmp_path) is not None)
        assert json.loads(port_file(tmp_path).read_text())["base_url"] == url
        run = pdr_run(shared, tmp_path / "runs.sqlite")
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        assert json.loads(out)["answer"] == "42" and len(starts(tmp_path)) == 1  # no second server
    finally:
        served.send_signal(signal.SIGTERM)
        served.wait(timeout=30)
    assert port_file(tmp_path) is None


def test_serve_model_listens_where_it_is_told(fake_server, tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("PDR_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + bytes(64))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    served = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langgraph_pdr.cli",
            "serve-model",
            "--local-model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert served.stdout.readline().strip() == f"http://127.0.0.1:{port}/v1"
        argv = json.loads(fake_server.read_text())
        assert argv[argv.index("--port") + 1] == str(port) and argv[argv.index("-a") + 1] == "tiny"
    finally:
        served.send_signal(signal.SIGTERM)
        served.wait(timeout=30)


# -- stopping with requests in flight (the real embedded server) ------------------------------------

IN_FLIGHT = textwrap.dedent("""\
    import json, sys, threading, time, urllib.error, urllib.request
    from langgraph_pdr.local_model import ensure_model
    from langgraph_pdr.local_model.shared_server import LocalServer

    server = LocalServer(ensure_model("qwen2.5-coder-0.5b"), alias="m", n_parallel=2, n_ctx=4096).start()
    root = server.base_url.removesuffix("/v1")
    body = {"model": "m", "messages": [{"role": "user", "content": "Count from 1 to 2000, one per line."}],
            "max_tokens": 3000, "temperature": 0}
    ended = []

    def ask():
        request = urllib.request.Request(server.base_url + "/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=600).read()
            ended.append("answered")
        except Exception as exc:
            ended.append(type(exc).__name__)

    def decoding():
        with urllib.request.urlopen(root + "/slots", timeout=60) as reply:
            return sum(bool(slot["is_processing"]) for slot in json.load(reply))

    askers = [threading.Thread(target=ask, daemon=True) for _ in range(2)]
    for t in askers:
        t.start()
    while decoding() < 2:
        time.sleep(0.05)
    print("stopping", flush=True)
    server.stop()
    for t in askers:
        t.join(30)
    try:
        urllib.request.urlopen(root + "/health", timeout=5)
        gone = False
    except (urllib.error.URLError, OSError):
        gone = True
    print("stopped", json.dumps({"ended": ended, "gone": gone}), flush=True)
    """)


@pytest.mark.real_model
def test_a_server_stopped_with_requests_in_flight_ends_them_and_stops_within_seconds():
    """A private server stopped (Ctrl-C, SIGTERM, the end of a run) while two requests are decoding:
    the requests end (a closed connection) and the server is gone within 10 s. Dropping the embedded
    xllamacpp server in-process, as before, blocked forever here."""
    proc = subprocess.Popen([sys.executable, "-c", IN_FLIGHT], stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=300).startswith("stopping")
        asked = time.monotonic()
        try:
            done = lines.get(timeout=10)
        except queue.Empty:
            pytest.fail("the server did not stop within 10 s of being asked, with requests in flight")
        assert time.monotonic() - asked < 10 and done.startswith("stopped")
        report = json.loads(done.split(" ", 1)[1])
        assert report == {"ended": report["ended"], "gone": True}
        assert len(report["ended"]) == 2 and "answered" not in report["ended"]  # cut, never finished
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _ask_in_background(base_url: str, max_tokens: int, n: int = 2) -> tuple[list[threading.Thread], list]:
    """`n` chat requests to `base_url` in threads; each appends its reply (or the error's name)."""
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "Count from 1 to 2000, one per line."}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    ended: list = []

    def ask() -> None:
        request = urllib.request.Request(
            base_url + "/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=180) as reply:
                ended.append(json.load(reply))
        except Exception as exc:
            ended.append(type(exc).__name__)

    threads = [threading.Thread(target=ask, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, ended


def _decoding(base_url: str) -> int:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/slots", timeout=60) as reply:
        return sum(bool(slot["is_processing"]) for slot in json.load(reply))


@pytest.fixture
def small_shared(tmp_path, monkeypatch):
    """The real 0.5B model's shared server in a cache of the test's own, idle after 1 s."""
    from langgraph_pdr.local_model import ensure_model

    model = ensure_model("qwen2.5-coder-0.5b")
    monkeypatch.setenv("PDR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PDR_SERVER_IDLE_S", "1")
    monkeypatch.delenv("PDR_LLAMA_SERVER", raising=False)
    return model


@pytest.mark.real_model
def test_requests_in_flight_keep_the_shared_server_from_its_idle_stop(small_shared, tmp_path):
    """A client that talks to the shared server's URL directly is not registered: with its requests in
    flight and no registered client, the server waits for them, then stops. (It used to stop for
    idleness with them in flight and hang for ever, its port file gone.)"""
    from langgraph_pdr.local_model.shared_server import attach

    shared = attach(small_shared, alias="m", n_parallel=2, n_ctx=4096)
    threads, ended = _ask_in_background(shared.base_url, max_tokens=120)
    wait_for(lambda: _decoding(shared.base_url) == 2)
    shared.detach()  # no registered client from here on
    for t in threads:
        t.join(180)
    assert [type(e).__name__ for e in ended] == ["dict", "dict"], ended
    assert all(e["choices"][0]["finish_reason"] == "length" for e in ended)
    assert wait_gone(shared.info.pid, 60) and port_file(tmp_path) is None  # then it stopped


@pytest.mark.real_model
def test_sigterm_stops_the_shared_server_within_seconds_with_requests_in_flight(small_shared, tmp_path):
    from langgraph_pdr.local_model.shared_server import attach

    shared = attach(small_shared, alias="m", n_parallel=2, n_ctx=4096)
    threads, ended = _ask_in_background(shared.base_url, max_tokens=3000)
    wait_for(lambda: _decoding(shared.base_url) == 2)
    os.kill(shared.info.pid, signal.SIGTERM)
    assert wait_gone(shared.info.pid, 10), "the shared server did not stop within 10 s of SIGTERM"
    assert port_file(tmp_path) is None
    for t in threads:
        t.join(30)
    assert len(ended) == 2 and not any(isinstance(e, dict) for e in ended)  # cut, never finished
    shared.detach()
