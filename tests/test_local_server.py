"""`$PDR_LLAMA_SERVER`: the local model served by a `llama-server` executable run as a child process.

A stand-in executable (a Python script answering `/health` and `/tokenize`) takes the place of a real
build, so the tests check what pdr asks of it: its options, its start, its stop by PID, its errors.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from langgraph_pdr.local_model import LlamaCppTokenCounter, LocalModelError, LocalServer

FAKE_SERVER = textwrap.dedent(f"""\
    #!{sys.executable}
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    argv = sys.argv[1:]
    with open(os.environ["FAKE_LLAMA_ARGV"], "w") as f:
        json.dump(argv, f)
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
            self._send({{"tokens": list(range(len(body["content"].split())))}})

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
        "-m": "/models/m.gguf", "-a": "m", "-np": "6", "-c": "12288", "-t": "2", "-tb": "2"}
    assert "--kv-unified" in argv and "--no-warmup" in argv and argv[argv.index("--host") + 1] == "127.0.0.1"


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
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from langgraph_pdr.local_model import LocalServer\n"
         "s = LocalServer(Path('/models/m.gguf'), alias='m').start()\n"
         "print(s._process.pid, flush=True)\ntime.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    child = int(parent.stdout.readline())
    assert not gone(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    assert wait_gone(child)
