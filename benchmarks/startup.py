"""Start-up time of the `pdr` command: each measured as the wall time of a fresh process, in this one run.

Printed: the median (and min, max) over `--repeat` runs of `pdr --help`, `pdr --version`, `pdr runs` on a
database of 20 runs, and, as references, a bare Python start and the import of the whole public API
(what every `pdr` command paid before the imports were made lazy). Goal: `pdr --help` and `pdr runs`
under 0.5 s. With `--before DIR` (a directory holding an older version of the package as
`DIR/langgraph_pdr`, e.g. `mkdir -p DIR/langgraph_pdr && git archive main | tar -x -C DIR/langgraph_pdr`),
the same two commands of that version too, in the same run (`python -m langgraph_pdr.cli`, with
`PYTHONPATH=DIR`).

    python benchmarks/startup.py [--repeat 9] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 0.5


def pdr_command() -> list[str]:
    """The installed `pdr` script beside this Python, else `python -m langgraph_pdr.cli`."""
    script = Path(sys.executable).with_name("pdr")
    if script.exists():
        return [str(script)]
    found = shutil.which("pdr")
    return [found] if found else [sys.executable, "-m", "langgraph_pdr.cli"]


def seconds(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def fill(db: Path, runs: int = 20) -> None:
    """`runs` finished runs in `db` (a scripted model: no server)."""
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from langgraph_pdr import PDRConfig, run_pdr

    model = GenericFakeChatModel(messages=iter([AIMessage("6 * 7 = \\boxed{42}")] * runs))
    for _ in range(runs):
        run_pdr("What is 6 * 7?", model=model, config=PDRConfig(method="single"), db=db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="fresh processes per command (default 9)")
    parser.add_argument("--before", type=Path, help="a directory holding an older langgraph_pdr to compare")
    options = parser.parse_args()
    repeat = options.repeat
    pdr = pdr_command()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "runs.sqlite"
        fill(db)
        cases: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "python -c pass (reference)": ([sys.executable, "-c", "pass"], None),
            "import the public API (reference)": (
                [
                    sys.executable,
                    "-c",
                    "import langgraph_pdr.runner, langgraph_pdr.integrations.langchain_chat, "
                    "langgraph_pdr.integrations.langchain_tool, langgraph_pdr.view",
                ],
                None,
            ),
            "pdr --help": ([*pdr, "--help"], None),
            "pdr --version": ([*pdr, "--version"], None),
            "pdr runs (20 runs)": ([*pdr, "runs", "--db", str(db)], None),
        }
        if options.before:
            old = {**os.environ, "PYTHONPATH": str(options.before.resolve())}
            module = [sys.executable, "-m", "langgraph_pdr.cli"]
            cases["before: pdr --help"] = ([*module, "--help"], old)
            cases["before: pdr runs (20 runs)"] = ([*module, "runs", "--db", str(db)], old)
        for argv, env in cases.values():  # warm the file caches (and write the bytecode) once
            seconds(argv, env)
        print(f"{'command':38} {'median':>8} {'min':>8} {'max':>8}   (seconds, {repeat} runs each)")
        for name, (argv, env) in cases.items():
            times = [seconds(argv, env) for _ in range(repeat)]
            goal = ""
            if name in ("pdr --help", "pdr runs (20 runs)"):
                goal = "  ok" if statistics.median(times) < GOAL_S else f"  over the {GOAL_S} s goal"
            print(f"{name:38} {statistics.median(times):8.3f} {min(times):8.3f} {max(times):8.3f}{goal}")


if __name__ == "__main__":
    main()
