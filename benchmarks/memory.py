"""Peak memory (RSS) of runs against a local fake OpenAI-compatible server, each in a fresh process.

Printed, measured in this one run: the peak RSS of a PDR (16, 8, 4, 1) run, and of one round of N
drafts for N = 1, 4, 16, 64, each beside the process's RSS after imports, so the run's own share and
its growth per draft show.

    python benchmarks/memory.py [--delay 0.2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_process import served  # noqa: E402

CHILD = """
import json, resource, sys
import langgraph_pdr, langchain_openai, langgraph_pdr.checkpoints.store  # everything a run imports
from langgraph_pdr import PDRConfig, run_pdr
url, db, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = run_pdr("What is 6 * 7?", model="fake-model", base_url=url, db=db, config=config)
assert result.stop_reason == "completed"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kib": base, "peak_kib": peak, "calls": len(result.calls)}))
"""


def measure(url: str, db: Path, config: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(db), json.dumps(config)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.2, help="seconds per server answer")
    args = parser.parse_args()
    with served(args.delay, words=200) as url, tempfile.TemporaryDirectory() as tmp:
        pdr = measure(
            url,
            Path(tmp) / "pdr.sqlite",
            {"schedule": [16, 8, 4, 1], "distiller": "global_summary", "max_tokens": 256},
        )
        base, peak = pdr["base_kib"] / 1024, pdr["peak_kib"] / 1024
        print(
            f"PDR 16,8,4,1 ({pdr['calls']} calls): peak RSS {peak:.1f} MiB, {peak - base:.1f} MiB above "
            f"the {base:.1f} MiB after imports"
        )
        first = None
        for n in (1, 4, 16, 64):
            m = measure(
                url,
                Path(tmp) / f"sc{n}.sqlite",
                {"method": "self_consistency", "schedule": [n], "max_tokens": 256},
            )
            run = (m["peak_kib"] - m["base_kib"]) / 1024
            first = run if first is None else first
            per = "" if n == 1 else f", {(run - first) / (n - 1) * 1024:.0f} KiB per extra draft"
            print(
                f"one round of N={n:>2}: peak RSS {m['peak_kib'] / 1024:.1f} MiB, run's share "
                f"{run:.1f} MiB{per}"
            )


if __name__ == "__main__":
    main()
