"""Wall time of a tournament: each bracket level's comparisons in parallel against one after another.

The `tournament` distiller (k=1) and the tournament as a PDR run's final selection, each over eight
drafts with different answers: three levels of 12, 6 and 3 comparisons. The model is scripted and
every call takes `DELAY` seconds (a served model's latency), so the machine's load hardly enters the
ratio. At most 8 calls at once (the widest round) a level of 12 takes two call times, the others one:
4 in all, against 21 one after another (`max_concurrency=1`, how the distiller made them before
2026-12-05). Prints both wall times and their ratio (goal: about 5x).

    python benchmarks/tournament.py
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes import ScriptedChatModel  # noqa: E402

from langgraph_pdr import DistillRequest, Draft, PDRConfig, Utf8TokenCounter, get_distiller, get_prompts  # noqa: E402
from langgraph_pdr.runtime.environment import NodeEnv  # noqa: E402
from langgraph_pdr.runtime.knockout import select_final  # noqa: E402

DELAY = 0.2
DRAFTS = [Draft(round=1, index=i, text=f"so \\boxed{{{i}}}", answer=str(i)) for i in range(8)]


def env(config: PDRConfig) -> NodeEnv:
    model = ScriptedChatModel(script=lambda call: "Better: 1", delay=DELAY)
    counter = Utf8TokenCounter()
    return NodeEnv(
        model=model,
        config=config,
        counter=counter,
        recorder=None,
        thread_id=uuid.uuid4().hex,
        prompts=get_prompts("card"),
    )


def distiller(config: PDRConfig) -> int:
    e = env(config)
    request = DistillRequest(
        question="Which is it?",
        gold=None,
        round=1,
        drafts=DRAFTS,
        next_width=1,
        config=config,
        counter=e.counter,
        env=e,
    )
    get_distiller("tournament").distill(request)
    return len(request.calls)


def final_selection(config: PDRConfig) -> int:
    drafts = [d.model_copy(update={"round": 2}) for d in DRAFTS]
    return len(select_final({"question": "Which is it?", "round": 2, "drafts": drafts}, env(config)).calls)


def main() -> None:
    cases = {
        "tournament distiller, PDR 8,1": (distiller, PDRConfig(schedule="8,1", distiller="tournament", k=1)),
        "final selection, PDR 4,8": (
            final_selection,
            PDRConfig(schedule="4,8", distiller="majority_k", k=1, selector="tournament"),
        ),
    }
    print(f"every call takes {DELAY} s\n")
    print("| case | comparisons | levels in parallel, s | one after another, s | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, (run, config) in cases.items():
        started = time.perf_counter()
        compared = run(config)
        fast = time.perf_counter() - started
        started = time.perf_counter()
        run(config.model_copy(update={"max_concurrency": 1}))
        slow = time.perf_counter() - started
        print(f"| {name} | {compared} | {fast:.2f} | {slow:.2f} | {slow / fast:.1f}x |")


if __name__ == "__main__":
    main()
