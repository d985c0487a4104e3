"""The graph's nodes: `draft` (with `begin_round`), `collect` (with `checked`), `check`, `verify`,
`distill` (one module per distiller, and their registry), `critique`, `finalize`.

What they use lives in packages named for it (`calls`, `budgets`, `prompting`, `selection`, `tooling`,
`checking`, `runtime`). `prompts`, `python_tool`, `verifiers`, `tokens`, `tools`, `mcp_tools` and
`trajectory` here only re-export from their new homes, so imports written before the move still work.
"""

from langgraph_pdr.calls.token_count import Utf8TokenCounter
from langgraph_pdr.nodes.distill import (
    BaseDistiller,
    Distiller,
    DistillRequest,
    get_distiller,
    register_distiller,
)
from langgraph_pdr.nodes.verify import parse_score
from langgraph_pdr.selection.answer_votes import final_answer, last_boxed

__all__ = [
    "BaseDistiller",
    "DistillRequest",
    "Distiller",
    "Utf8TokenCounter",
    "final_answer",
    "get_distiller",
    "last_boxed",
    "parse_score",
    "register_distiller",
]
