"""What acts: drafting, verification, distillation, critique, finalization (prompts beside each)."""

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
