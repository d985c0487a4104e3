"""`python`, the sandboxed tool a draft can call: one argument, `code`; stdout, stderr and the exception
come back, each cut to a bound.

Each call runs in a new process (this interpreter, `-I`) in a fresh temporary working directory that
is removed afterwards, with an environment of its own (none of the caller's variables: no API key),
a wall-time limit (the process is killed), and the confinement `sandbox_boot.py` applies before the
code runs: CPU, memory and file-size limits; a read-only file system but for its directory, no
`/proc`; no new process, no socket, no signal to or tracing of another process. The layers it could
not apply on this platform are named in `PythonRun.confinement`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

BOOT = Path(__file__).with_name("sandbox_boot.py")
ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class PythonRun:
    """What one sandboxed run of Python code gave.

    Attributes:
        stdout: what it printed, cut to the bound (the cut says how much is missing).
        stderr: its standard error (tracebacks), cut likewise.
        exception: `Type: message` of an exception the code raised, or why the process ended
            (`killed: wall time over 10 s`, `killed: CPU time over 10 s`, a signal), else None.
        exit_code: the process's exit status (negative: the signal that ended it).
        seconds: wall time.
        confinement: each layer and what it achieved here (`unavailable: ...` where it could not).

    Example:
        ```python
        from langgraph_pdr import PythonRun, run_python

        run = run_python("print(sum(range(10)))")
        assert isinstance(run, PythonRun) and run.text() == "stdout:\\n45\\n"
        ```
    """

    stdout: str
    stderr: str
    exception: str | None
    exit_code: int
    seconds: float
    confinement: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """The result as the model reads it: stdout, then stderr and the exception when there are any."""
        parts = [f"stdout:\n{self.stdout}" if self.stdout else "stdout: (nothing printed)"]
        if self.stderr:
            parts.append(f"stderr:\n{self.stderr}")
        if self.exception:
            parts.append(f"exception: {self.exception}")
        return "\n".join(parts)


def _cut(data: bytes, bound: int) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(text) <= bound:
        return text
    return text[:bound] + f"\n[cut: {len(text) - bound} more characters]"


def run_python(
    code: str,
    *,
    wall_s: float = 10.0,
    cpu_s: int = 10,
    memory_mib: int = 1024,
    file_mib: int = 16,
    output_chars: int = 4000,
) -> PythonRun:
    """Run `code` in a confined Python process and return what it printed and raised.

    Args:
        code: Python source, run as `__main__`.
        wall_s: wall-time limit; the process is killed when it is over.
        cpu_s: CPU-time limit (the kernel ends the process).
        memory_mib: address-space limit (an allocation over it raises `MemoryError`).
        file_mib: the largest file the code may write (its output included).
        output_chars: stdout and stderr are each cut to this many characters.

    Returns:
        A `PythonRun`; a failure of the code is in it, never raised.

    Example:
        ```python
        from langgraph_pdr import run_python

        run = run_python("import math\\nprint(math.comb(10, 3))")
        assert run.stdout == "120\\n" and run.exception is None
        assert run_python("1 / 0").exception == "ZeroDivisionError: division by zero"
        ```
    """
    limits: dict[str, int] = {"cpu_s": int(cpu_s), "memory_mib": int(memory_mib), "file_mib": int(file_mib)}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pdr-python-") as outside:
        work = Path(outside) / "work"
        work.mkdir()
        out_path, err_path = Path(outside) / "stdout", Path(outside) / "stderr"
        report_read, report_write = os.pipe()
        limits["report_fd"] = report_write
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", str(BOOT), json.dumps(limits)],
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=err,
                    cwd=work,
                    env={**ENVIRONMENT, "HOME": str(work), "TMPDIR": str(work), "MPLCONFIGDIR": str(work)},
                    pass_fds=(report_write,),
                    start_new_session=True,
                )
            finally:
                os.close(report_write)
            with os.fdopen(report_read, "rb") as report:
                killed = None
                try:
                    proc.communicate(code.encode(), timeout=wall_s)
                except subprocess.TimeoutExpired:
                    killed = f"killed: wall time over {wall_s:g} s"
                    _kill_group(proc)
                except BaseException:
                    _kill_group(proc)
                    raise
                lines = _reported(report.read())
        confinement = lines[0] if lines else {}
        raised = next((x["exception"] for x in lines[1:] if "exception" in x), None)
        exception = killed or raised or _signal_reason(proc.returncode, cpu_s)
        if not lines and exception is None:  # it ended before running the code
            exception = f"the sandbox did not start (exit status {proc.returncode})"
        return PythonRun(
            stdout=_cut(out_path.read_bytes(), output_chars),
            stderr=_cut(err_path.read_bytes(), output_chars),
            exception=exception,
            exit_code=proc.returncode,
            seconds=time.monotonic() - started,
            confinement={str(k): str(v) for k, v in confinement.items()},
        )


def _reported(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects the report pipe carried, one a line, each parsed once (other lines skipped)."""
    found = []
    for line in data.decode(errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _signal_reason(returncode: int, cpu_s: float) -> str | None:
    if returncode >= 0:
        return None
    if -returncode == signal.SIGXCPU:
        return f"killed: CPU time over {cpu_s:g} s"
    return f"killed by {signal.Signals(-returncode).name}"


class PythonInput(BaseModel):
    """The `python` tool's one argument."""

    code: str = Field(description="Python 3 source to run; print() what you want to see.")


def python_tool(
    *,
    wall_s: float = 10.0,
    cpu_s: int = 10,
    memory_mib: int = 1024,
    output_chars: int = 4000,
) -> BaseTool:
    """The built-in `python` tool: runs code with `run_python` and returns its output as text.

    Args:
        wall_s: wall-time limit of one call.
        cpu_s: CPU-time limit of one call.
        memory_mib: address-space limit of one call.
        output_chars: stdout and stderr are each cut to this many characters.

    Returns:
        A LangChain tool named `python` with one argument, `code`; a failure of the code is its result
        (stderr and the exception), never an error of the caller.

    Example:
        ```python
        from langgraph_pdr import python_tool

        tool = python_tool()
        assert tool.name == "python"
        assert "391" in tool.invoke({"code": "print(17 * 23)"})
        ```
    """

    def run(code: str) -> str:
        return run_python(
            code, wall_s=wall_s, cpu_s=cpu_s, memory_mib=memory_mib, output_chars=output_chars
        ).text()

    return StructuredTool.from_function(
        func=run,
        name="python",
        description=(
            "Run Python 3 code in a sandbox (no network, no files outside its own directory, "
            f"{wall_s:g} s). Returns stdout, stderr and any exception. Use print() to see results."
        ),
        args_schema=PythonInput,
    )
