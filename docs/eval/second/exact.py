"""`pdr eval` with one more prompt set, `exact`: the `card` set whose fenced-tool prompt asks for exact
arithmetic (integers, fractions, SymPy) instead of floats. Does it fix the python tool's MATH-500 losses?

The `tools` evaluation found the model's programs computing in floats where MATH wants exact answers
(README, "The second evaluation"). `exact` changes only the `fenced` template; every other template is
`card`'s. The arguments are `pdr eval`'s, e.g.

    T=":tools=python:tool_format=fenced"
    python docs/eval/second/exact.py --dataset math500 --limit 40 --name exact --db main.sqlite \\
      --methods "single,single$T,single$T:prompts=exact" --max-tokens 1024 --concurrency 2 --paired

The set is registered in this process, and each run's spec stores it, so `pdr inspect` and a resume read
it back anywhere.
"""

from __future__ import annotations

import sys

from langgraph_pdr import get_prompts, register_prompts
from langgraph_pdr.cli import main

EXACT_FENCED = (
    "Solve it with Python: first write a program that computes the answer exactly and prints it, in one "
    "```python block, and end your reply right after the block. Compute exactly: use integers, "
    "fractions.Fraction or SymPy (Rational, sqrt, pi, symbols, solve, simplify), never floats, so that "
    "fractions, roots and pi stay exact in what it prints. You will be shown what it prints; then check "
    "it against the problem and put your final answer, in exact form, within \\boxed{{}}."
)

register_prompts(get_prompts("card").model_copy(update={"name": "exact", "fenced": EXACT_FENCED}))

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
