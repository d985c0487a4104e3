"""`pdr eval`: datasets, the `--methods` syntax, the resumable harness and its report.

Example:
    ```python
    from langgraph_pdr.evals import load_dataset, parse_methods, select

    problems = select(load_dataset("math500"), sample=40, seed=0)
    methods = parse_methods("single,sr:3,pdr:4-2-1:global_summary")
    assert len(problems) == 40 and [m.label for m in methods][1] == "sr:3"
    ```
"""

from langgraph_pdr.evals.compare import Comparison, compare, sign_test
from langgraph_pdr.evals.datasets import DATASETS, DatasetError, Problem, load_dataset, select
from langgraph_pdr.evals.eval_store import EvalStore, Item
from langgraph_pdr.evals.harness import Evaluation, run_eval, thread_id
from langgraph_pdr.evals.report import (
    MethodStats,
    matched_pairs,
    paired,
    render,
    summarize,
    wilson_interval,
    write_report,
)
from langgraph_pdr.state.methods import EvalMethod, MethodError, parse_method, parse_methods

__all__ = [
    "Comparison",
    "DATASETS",
    "DatasetError",
    "EvalMethod",
    "EvalStore",
    "Evaluation",
    "Item",
    "MethodError",
    "MethodStats",
    "Problem",
    "compare",
    "load_dataset",
    "matched_pairs",
    "paired",
    "parse_method",
    "parse_methods",
    "render",
    "run_eval",
    "select",
    "sign_test",
    "summarize",
    "thread_id",
    "wilson_interval",
    "write_report",
]
