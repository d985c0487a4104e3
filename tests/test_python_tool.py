"""The sandboxed `python` tool: real processes, real limits. Each escape below is contained and comes
back as the tool's result, never as an error of the caller."""

from __future__ import annotations

import os
import socket
import sys
import threading
import uuid
from pathlib import Path

import pytest

from langgraph_pdr import python_tool, run_python

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
    assert run.confinement["filesystem"].startswith("landlock")
    assert run.confinement["system calls"].startswith("seccomp")


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
    assert tool.invoke({"code": "print(17 * 23)"}) == "stdout:\n391\n"
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
