"""Does the model judge the solutions or their order? The tournament's first two votes on a pair are
greedy, one in each order; a judge that names the same position in both orders decided nothing, and
the sampled third vote then picks the winner.

For pairs of first-round drafts of `sc:8` in the main evaluation (one right, one wrong, both finished),
this asks the model the tournament's own comparison (`judge_messages`, `max_tokens.verify`, greedy) in
both orders and counts: verdicts naming solution 1, pairs whose two verdicts name the same position,
and pairs judged the same way in both orders with the right draft preferred. Needs the model: the
embedded one by default (one llama.cpp server; run nothing else that serves a model).

    gunzip -c docs/eval/second/main.sqlite.gz > main.sqlite
    python docs/eval/second/judge_bias.py main.sqlite --pairs 24
"""

from __future__ import annotations

import argparse
import json
import sqlite3

from langgraph_pdr import PDRConfig, get_prompts
from langgraph_pdr.models import open_model
from langgraph_pdr.nodes.grading import is_correct
from langgraph_pdr.nodes.llm import call_models
from langgraph_pdr.nodes.tokens import DEFAULT_COUNTER
from langgraph_pdr.nodes.tournament import Comparison, judge_messages, verdict
from langgraph_pdr.state.records import Draft


def pairs(path: str, dataset: str, limit: int) -> list[tuple[str, Draft, Draft]]:
    """(question, right draft, wrong draft): one pair per problem whose sc:8 drafts split, in order."""
    db = sqlite3.connect(path)
    rows = db.execute(
        "SELECT e.problem_id, e.thread_id, e.gold, r.question FROM eval_items e JOIN runs r "
        "ON r.thread_id = e.thread_id WHERE e.eval = 'main' AND e.dataset = ? AND e.method = 'sc:8' "
        "AND r.status = 'completed' ORDER BY e.position",
        (dataset,),
    ).fetchall()
    out = []
    for _, thread, gold, question in rows:
        drafts = db.execute(
            "SELECT idx, text, answer FROM drafts WHERE thread_id = ? AND round = 1 AND unfinished = 0 "
            "AND answer IS NOT NULL ORDER BY idx",
            (thread,),
        ).fetchall()
        right = [d for d in drafts if is_correct(d[1], gold)]
        wrong = [d for d in drafts if not is_correct(d[1], gold)]
        if right and wrong:
            a, b = right[0], wrong[0]
            out.append(
                (
                    question,
                    Draft(round=1, index=a[0], text=a[1], answer=a[2]),
                    Draft(round=1, index=b[0], text=b[1], answer=b[2]),
                )
            )
        if len(out) == limit:
            break
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("store")
    p.add_argument("--dataset", default="gsm8k")
    p.add_argument("--pairs", type=int, default=24)
    p.add_argument("--model", default="local")
    args = p.parse_args()
    chosen = pairs(args.store, args.dataset, args.pairs)
    config, prompts = PDRConfig(), get_prompts("card")
    jobs = []
    for n, (question, right, wrong) in enumerate(chosen):
        for order, (first, second) in enumerate(((right, wrong), (wrong, right))):
            messages = judge_messages(question, Comparison(0, order, first, second), prompts)
            options = {"max_tokens": config.max_tokens.verify, "temperature": 0.0}
            fields = {"role": "distill", "round": 1, "index": 2 * n + order, "stage": "bias"}
            jobs.append((messages, {"options": options, "counter": DEFAULT_COUNTER, **fields}))
    with open_model(args.model, config=PDRConfig(schedule=(4, 1))) as opened:
        outcomes = call_models(opened.model, jobs, concurrency=4)
    verdicts = [None if isinstance(o, BaseException) else verdict(o[0]) for o in outcomes]
    shown_first = sum(v == 1 for v in verdicts)
    same_position = right_both = wrong_both = void = 0
    for n in range(len(chosen)):
        v_right_first, v_wrong_first = verdicts[2 * n], verdicts[2 * n + 1]
        if v_right_first is None or v_wrong_first is None:
            void += 1
        elif v_right_first == v_wrong_first:
            same_position += 1
        elif v_right_first == 1:
            right_both += 1
        else:
            wrong_both += 1
    report = {
        "dataset": args.dataset,
        "pairs": len(chosen),
        "verdicts": len(verdicts),
        "naming_solution_1": shown_first,
        "pairs_same_position_both_orders": same_position,
        "pairs_right_preferred_in_both_orders": right_both,
        "pairs_wrong_preferred_in_both_orders": wrong_both,
        "pairs_with_a_void_vote": void,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
