"""Start-up cost of the sandboxed `python` tool, measured in one run on this machine.

Printed: the median wall time of `run_python("print(1)")` over N calls beside the median of a bare
`python -I -c pass` (the same interpreter, no sandbox) over N runs, and their ratio; with `--before
CHECKOUT`, also the `run_python` of another checkout (e.g. main's, `git worktree add /tmp/main main`),
each call of the three taking turns so that a busy machine slows them alike; then code that imports
NumPy and SymPy, when they are installed. Goal (issue 39): at most twice the cost before bubblewrap
(about 0.1 s here).

    python benchmarks/sandbox_startup.py [--repeat 20] [--before /tmp/main]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from langgraph_pdr import run_python


def load_run_python(checkout: Path) -> Callable[..., object]:
    """`run_python` of another checkout's sandboxed python tool (`tooling/sandboxed_python.py`, or
    `nodes/python_tool.py` before the package's restructuring), loaded as a module of its own."""
    found = [p for p in ("tooling/sandboxed_python.py", "nodes/python_tool.py") if (checkout / p).exists()]
    assert found, f"no sandboxed python tool in {checkout}"
    spec = importlib.util.spec_from_file_location("before_python_tool", checkout / found[0])
    assert spec and spec.loader, checkout
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.run_python


def medians(calls: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median seconds of each call, the calls taking turns `repeat` times."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="calls per median (default 20)")
    parser.add_argument("--before", type=Path, help="another checkout whose run_python to measure beside")
    args = parser.parse_args()

    def checked(run: Callable[..., object], code: str) -> Callable[[], object]:
        def call() -> object:
            result = run(code)
            assert result.exception is None, result.exception  # type: ignore[attr-defined]
            return result

        return call

    print(f"confinement: {run_python('print(1)').confinement}")
    calls: dict[str, Callable[[], object]] = {
        "python -I -c pass": lambda: subprocess.run([sys.executable, "-I", "-c", "pass"], check=True),
        'run_python("print(1)")': checked(run_python, "print(1)"),
    }
    before = load_run_python(args.before) if args.before else None
    if before is not None:
        calls[f'run_python("print(1)") of {args.before}'] = checked(before, "print(1)")
    found = medians(calls, args.repeat)
    bare = found["python -I -c pass"]
    for name, seconds in found.items():
        print(f"{name:>50}: {seconds * 1000:7.1f} ms, {seconds / bare:5.2f}x bare (median of {args.repeat})")
    if before is not None:
        now, then = list(found.values())[1:]
        print(f"{'now / before':>50}: {now / then:.2f}")
    if all(importlib.util.find_spec(name) for name in ("numpy", "sympy")):
        heavy = {"with numpy and sympy": checked(run_python, "import numpy, sympy\nprint(1)")}
        if before is not None:
            heavy["with numpy and sympy, before"] = checked(before, "import numpy, sympy\nprint(1)")
        for name, seconds in medians(heavy, max(3, args.repeat // 4)).items():
            print(f"{name:>50}: {seconds * 1000:7.1f} ms, {seconds / bare:5.2f}x bare")


if __name__ == "__main__":
    main()
