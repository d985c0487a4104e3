"""Serving the local model: llama.cpp's OpenAI-compatible server, one per machine and model, shared.

Two `pdr` processes that each started their own server on a 2-core machine decoded about 15 times slower
than one (each llama.cpp server spins its threads on every core). So the local model is served by a
**shared server**: a small background process of ours (`python -m
langgraph_pdr.local_model.shared_server`) that the first process needing a model starts, and that later
processes attach to, found through a port file in the cache directory (`servers/<model>.json`, written
and read under a file lock). Each attached process is listed in `servers/<model>.clients/`; the server
stops once its last client is gone (ended, or killed with SIGKILL: the server checks that its clients'
processes are alive) and it has been idle for `$PDR_SERVER_IDLE_S` seconds (default 30). Requests beyond
its slots wait in llama.cpp's queue, first come first served. `pdr serve-model` registers the server it
runs the same way, so runs attach to it while it runs. `$PDR_LOCAL_SERVER=private` gives a process a
server of its own, in-process, as before.

`LocalServer` is the server itself: embedded in the process (xllamacpp) or, with `$PDR_LLAMA_SERVER`, a
`llama-server` executable run as a child process (`$PDR_LLAMA_SERVER_ARGS` adds its options).

Example:
    ```python
    from langgraph_pdr.local_model import ensure_model
    from langgraph_pdr.local_model.shared_server import shared_server

    path = ensure_model("qwen2.5-coder-0.5b")
    with shared_server(path, alias="qwen2.5-coder-0.5b", n_parallel=2, n_ctx=8192) as server:
        print(server.base_url)   # http://127.0.0.1:PORT/v1, the same for every process on this machine
    ```
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph_pdr.local_model import DEFAULT_LOCAL_MODEL, LOCAL_MODELS, LocalModelError, cache_dir
from langgraph_pdr.local_model.prompt_sharing import sharing_enabled

#: Seconds a shared server with no client stays up (a next `pdr run` starts at once).
IDLE_ENV = "PDR_SERVER_IDLE_S"
DEFAULT_IDLE_S = 30.0
#: `private`: each process serves the model itself (no sharing).
MODE_ENV = "PDR_LOCAL_SERVER"
#: The smallest context a shared server gets: any one call of the model's own context fits.
SHARED_MIN_CTX = 32_768
#: CPU threads of the server (default: all cores).
THREADS_ENV = "PDR_LLAMA_THREADS"
#: Seconds a process waits for a shared server it started to answer.
START_WAIT_S = 180.0


def _url_host(host: str) -> str:
    """The address a client on this machine uses for a server bound to `host`."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


class LocalServer:
    """llama.cpp's OpenAI-compatible server in a child process of ours, stopped by its PID: xllamacpp's
    embedded server (`llama_child.py`), or the `llama-server` executable `$PDR_LLAMA_SERVER` names
    (options added from `$PDR_LLAMA_SERVER_ARGS`).

    The child process is what makes `stop` safe: an embedded server dropped with requests in flight
    never returns, a killed process always does (its requests end with a closed connection, its memory
    is freed). The server keeps idle slots' prompts in its KV cache and may copy a slot's prompt to
    others through files in `slot_dir` (see `prompt_sharing`).

    Args:
        model_path: the GGUF file.
        alias: the model name the server answers to.
        n_parallel: slots, i.e. requests decoded together.
        n_ctx: total context, shared by the slots (unified KV cache).
        threads: CPU threads (default: `$PDR_LLAMA_THREADS`, else all cores).
        slot_dir: where slots are saved to be copied (default: a temporary directory, removed on stop).
    """

    def __init__(
        self,
        model_path: Path,
        *,
        alias: str,
        n_parallel: int = 4,
        n_ctx: int = 16384,
        threads: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        slot_dir: Path | None = None,
    ) -> None:
        self.model_path, self.alias = Path(model_path), alias
        self.n_parallel, self.n_ctx = n_parallel, n_ctx
        self.threads = threads or _env_threads() or os.cpu_count() or 2
        self.host, self.port = host, port
        self.slot_dir: Path | None = slot_dir
        self._own_slot_dir = False
        self._process: subprocess.Popen | None = None
        self.base_url = ""

    def start(self) -> LocalServer:
        executable = os.environ.get("PDR_LLAMA_SERVER")
        if not executable and importlib.util.find_spec("xllamacpp") is None:
            raise LocalModelError(
                "local model: the llama.cpp runtime (xllamacpp) is not installed; install it with: "
                + LOCAL_MODELS[DEFAULT_LOCAL_MODEL].install_command
            )
        sharing = _is_loopback(self.host) and sharing_enabled()  # slot files: clients of this machine
        if sharing and self.slot_dir is None:
            self.slot_dir, self._own_slot_dir = Path(tempfile.mkdtemp(prefix="pdr-slots-")), True
        elif sharing:
            assert self.slot_dir is not None
            self.slot_dir.mkdir(parents=True, exist_ok=True)
        else:
            self.slot_dir = None
        port = self.port or _free_port(self.host)
        if executable:
            return self._start_process([executable, *self._llama_server_args(port)], executable, port)
        options = {
            "model": str(self.model_path),
            "alias": self.alias,
            "n_parallel": self.n_parallel,
            "n_ctx": self.n_ctx,
            "threads": self.threads,
            "host": self.host,
            "port": port,
            "params": self._sharing_params(),
        }
        child = Path(__file__).with_name("llama_child.py")
        return self._start_process([sys.executable, "-P", str(child), json.dumps(options)], None, port)

    def _sharing_params(self) -> dict[str, Any]:
        """llama.cpp settings for prompt sharing: idle slots keep their prompt in the KV cache (not
        moved to the host-memory cache, from which only one slot could take it back), and slots can be
        saved to files and restored into other slots."""
        if self.slot_dir is None:
            return {}
        return {"cache_idle_slots": False, "slot_save_path": str(self.slot_dir) + os.sep}

    def _llama_server_args(self, port: int) -> list[str]:
        sharing = ["--no-cache-idle-slots", "--slot-save-path", str(self.slot_dir) + os.sep]
        return [
            "-m",
            str(self.model_path),
            "-a",
            self.alias,
            "-np",
            str(self.n_parallel),
            "-c",
            str(self.n_ctx),
            "--kv-unified",
            "-t",
            str(self.threads),
            "-tb",
            str(self.threads),
            "--no-warmup",
            "--metrics",
            *(sharing if self.slot_dir is not None else []),
            "--host",
            self.host,
            "--port",
            str(port),
            *shlex.split(os.environ.get("PDR_LLAMA_SERVER_ARGS", "")),
        ]

    def _start_process(
        self, command: list[str], executable: str | None, port: int, wait: float = 120.0
    ) -> LocalServer:
        """Run `command` (a llama.cpp server listening on `port`) and wait until it answers."""
        what = f"PDR_LLAMA_SERVER: {executable}" if executable else "local model: the llama.cpp server"
        with tempfile.TemporaryFile() as log:  # its log, read only to say why it stopped while loading
            try:
                self._process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=_die_with_parent
                )
            except OSError as exc:
                who = "PDR_LLAMA_SERVER" if executable else "local model"
                raise LocalModelError(f"{who}: cannot run {command[0]!r}: {exc.strerror}") from None
            root, deadline = f"http://{_url_host(self.host)}:{port}", time.monotonic() + wait
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    self._process = None
                    self._remove_slot_dir()
                    log.seek(0)
                    tail = log.read().decode(errors="replace").strip().splitlines()
                    if executable is None and tail and tail[-1].startswith("local model:"):
                        raise LocalModelError(tail[-1])
                    raise LocalModelError(
                        f"{what} exited while loading {self.model_path}" + (f": {tail[-1]}" if tail else "")
                    )
                try:
                    with urllib.request.urlopen(root + "/health", timeout=2):
                        break
                except (urllib.error.URLError, OSError):
                    time.sleep(0.2)
            else:
                self.stop()
                raise LocalModelError(f"{what} did not answer within {wait:.0f} s")
        # the child keeps writing its log to the unlinked file, which nothing reads
        self.base_url = root + "/v1"
        return self

    @property
    def pid(self) -> int | None:
        """The server process's PID while it runs."""
        return self._process.pid if self._process is not None else None

    def stop(self, grace: float = 5.0) -> None:
        """Stop the server process (SIGTERM, then SIGKILL after `grace` seconds) and wait until it has
        ended: requests in flight end with a closed connection, its memory is freed."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(grace)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        self._remove_slot_dir()

    def _remove_slot_dir(self) -> None:
        if self._own_slot_dir and self.slot_dir is not None:
            shutil.rmtree(self.slot_dir, ignore_errors=True)
            self.slot_dir, self._own_slot_dir = None, False

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _env_threads() -> int | None:
    """`$PDR_LLAMA_THREADS`: the server's CPU threads (on a machine busy with other work, fewer threads
    than cores can decode several times faster: llama.cpp's threads wait for each other spinning)."""
    try:
        return max(1, int(os.environ.get(THREADS_ENV, "")))
    except ValueError:
        return None


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1")


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the process that started it dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's stop() is the only way
        pass


@dataclass(frozen=True)
class LlamaCppTokenCounter:
    """Exact token counts from a llama.cpp server's `/tokenize` endpoint."""

    base_url: str
    exact: bool = True
    name: str = "llama.cpp:/tokenize"

    def count(self, text: str) -> int:
        root = self.base_url.rstrip("/").removesuffix("/v1")
        body = json.dumps({"content": text, "add_special": False}).encode()
        request = urllib.request.Request(
            root + "/tokenize", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return len(json.load(response)["tokens"])


# -- one server per machine and model, shared ---------------------------------------------------------


@dataclass(frozen=True)
class ServerInfo:
    """What the port file says about a running shared server."""

    pid: int
    base_url: str
    alias: str
    model_path: str
    n_parallel: int
    n_ctx: int
    owner: str = "shared"  # `shared` (stops when idle) or `serve-model` (stops when stopped)
    slot_dir: str = ""  # where its slots are saved to be copied ("" when it does not share prompts)

    def fits(self, n_parallel: int, n_ctx: int) -> bool:
        return self.n_parallel >= n_parallel and self.n_ctx >= n_ctx


def _key(model_path: Path) -> str:
    """The server's name in the cache: the model file's stem and a digest of its full path."""
    digest = hashlib.blake2b(str(model_path.resolve()).encode(), digest_size=4).hexdigest()
    return f"{model_path.stem}-{digest}"


class _Registry:
    """The port file, its lock and the client list of one model's shared server."""

    def __init__(self, model_path: Path) -> None:
        root = cache_dir() / "servers"
        root.mkdir(parents=True, exist_ok=True)
        key = _key(model_path)
        self.port_file = root / f"{key}.json"
        self.lock_file = root / f"{key}.lock"
        self.clients = root / f"{key}.clients"
        self.clients.mkdir(exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with open(self.lock_file, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read(self) -> ServerInfo | None:
        """The running server, or None (no port file, or its process is gone or does not answer)."""
        try:
            fields = json.loads(self.port_file.read_text())
            info = ServerInfo(**{k: v for k, v in fields.items() if k in ServerInfo.__dataclass_fields__})
        except (OSError, ValueError, TypeError, AttributeError):
            return None
        if not _alive(info.pid) or not _healthy(info.base_url):
            return None
        return info

    def write(self, info: ServerInfo) -> None:
        partial = self.port_file.with_suffix(".partial")
        partial.write_text(json.dumps(info.__dict__))
        partial.replace(self.port_file)

    def remove(self, pid: int) -> None:
        """Remove the port file if it is `pid`'s."""
        try:
            if json.loads(self.port_file.read_text()).get("pid") == pid:
                self.port_file.unlink()
        except (OSError, ValueError):
            pass

    def attach(self) -> Path:
        """List this process as a client; returns its entry (remove it to detach)."""
        entry = self.clients / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        entry.touch()
        return entry

    def live_clients(self) -> int:
        """Clients whose process is alive; the entries of dead ones (killed, say) are removed."""
        live = 0
        for entry in self.clients.iterdir():
            pid = entry.name.split("-", 1)[0]
            if pid.isdigit() and _alive(int(pid)):
                live += 1
            else:
                entry.unlink(missing_ok=True)
        return live


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is gone
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _healthy(base_url: str) -> bool:
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        with urllib.request.urlopen(root + "/health", timeout=5):
            return True
    except urllib.error.HTTPError as exc:  # 503 while loading: it is there
        return exc.code == 503
    except (urllib.error.URLError, OSError):
        return False


def idle_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_S)))
    except ValueError:
        return DEFAULT_IDLE_S


def _start_daemon(model_path: Path, alias: str, n_parallel: int, n_ctx: int) -> None:
    """Start the shared server process (in a session of its own: it outlives the process that started
    it while others use it) and wait until its port file answers."""
    with tempfile.TemporaryFile() as log:
        command = [
            sys.executable,
            "-m",
            "langgraph_pdr.local_model.shared_server",
            "--model",
            str(model_path),
            "--alias",
            alias,
            "--parallel",
            str(n_parallel),
            "--ctx",
            str(n_ctx),
        ]
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        registry, deadline = _Registry(model_path), time.monotonic() + START_WAIT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                lines = log.read().decode(errors="replace").strip().splitlines()
                raise LocalModelError(lines[-1] if lines else f"local model: the server of {alias} exited")
            info = registry.read()
            if info is not None and info.pid == proc.pid:
                return
            time.sleep(0.1)
        proc.terminate()
        raise LocalModelError(f"local model: the server of {alias} did not start within {START_WAIT_S:.0f} s")


@dataclass
class SharedServer:
    """A process's attachment to the shared server of one model."""

    base_url: str
    info: ServerInfo
    entry: Path

    @property
    def slot_dir(self) -> Path | None:
        return Path(self.info.slot_dir) if self.info.slot_dir else None

    def detach(self) -> None:
        self.entry.unlink(missing_ok=True)


def attach(model_path: Path, *, alias: str, n_parallel: int, n_ctx: int) -> SharedServer:
    """Attach to the model's shared server, starting it when none runs (or when the one that runs is
    too small and nobody uses it)."""
    model_path = Path(model_path)
    registry = _Registry(model_path)
    with registry.locked():
        info = registry.read()
        if (
            info is not None
            and not info.fits(n_parallel, n_ctx)
            and info.owner == "shared"
            and registry.live_clients() == 0
        ):
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGTERM)
            _wait_gone(info.pid)
            info = None
        entry = registry.attach()  # listed before the server starts: it never sees itself unused
        if info is None:
            try:
                _start_daemon(model_path, alias, n_parallel, max(n_ctx, SHARED_MIN_CTX))
            except BaseException:
                entry.unlink(missing_ok=True)
                raise
            info = registry.read()
            assert info is not None
    return SharedServer(info.base_url, info, entry)


@contextlib.contextmanager
def shared_server(model_path: Path, *, alias: str, n_parallel: int, n_ctx: int) -> Iterator[Any]:
    """The model's server for the duration of the block: the machine's shared one, or (with
    `$PDR_LOCAL_SERVER=private`) one of this process's own."""
    if os.environ.get(MODE_ENV, "").lower() == "private":
        with LocalServer(model_path, alias=alias, n_parallel=n_parallel, n_ctx=n_ctx) as private:
            yield private
        return
    shared = attach(model_path, alias=alias, n_parallel=n_parallel, n_ctx=n_ctx)
    try:
        yield shared
    finally:
        shared.detach()


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def in_flight(base_url: str, timeout: float = 5.0) -> bool:
    """Whether a llama.cpp server is answering requests (`/slots`: a slot is processing; a server too
    busy to answer within `timeout` counts as busy, one that does not answer at all as idle)."""
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        with urllib.request.urlopen(root + "/slots", timeout=timeout) as response:
            slots = json.load(response)
    except TimeoutError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return isinstance(slots, list) and any(s.get("is_processing") for s in slots if isinstance(s, dict))


def serve_registered(
    server: LocalServer, *, owner: str, stop: threading.Event, idle: float | None = None
) -> None:
    """Run `server` as the shared server of its model until `stop` is set or, with `idle`, until it had
    no client and no request in flight for `idle` seconds; it is registered (port file) while it runs.
    The server is stopped (its process ended) before its port file goes, so no second server starts
    beside one still ending."""
    registry = _Registry(server.model_path)
    info = ServerInfo(
        pid=os.getpid(),
        base_url=server.base_url,
        alias=server.alias,
        model_path=str(server.model_path),
        n_parallel=server.n_parallel,
        n_ctx=server.n_ctx,
        owner=owner,
        slot_dir=str(server.slot_dir or ""),
    )
    if owner == "shared":  # started by `attach`, which holds the lock until this port file answers
        registry.write(info)
    else:
        with registry.locked():
            if registry.read() is None:
                registry.write(info)
    idle_since: float | None = None
    try:
        while not stop.wait(0.5):
            if idle is None:
                continue
            if registry.live_clients() or in_flight(server.base_url):
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= idle:
                with registry.locked():  # nobody attaches while the server decides to go
                    if registry.live_clients() == 0:
                        server.stop()
                        registry.remove(os.getpid())
                        return
                idle_since = None
    finally:
        server.stop()
        registry.remove(os.getpid())


def main(argv: list[str] | None = None) -> int:
    """The shared server process: serve until idle, or until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m langgraph_pdr.local_model.shared_server")
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--parallel", type=int, required=True)
    parser.add_argument("--ctx", type=int, required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        local = LocalServer(Path(args.model), alias=args.alias, n_parallel=args.parallel, n_ctx=args.ctx)
        with local as server:
            serve_registered(server, owner="shared", stop=stop, idle=idle_seconds())
    except LocalModelError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - the shared server process
    sys.exit(main())
