"""Oracle workspaces (analysis only): keep only the correct, or only the incorrect, drafts.

Correctness is judged against the gold answer given to the run beside the question, which the model
never sees. Each next draft gets up to k of the kept drafts, chosen at random (seeded) as in `random_k`,
so the comparison with `random_k` isolates what correctness adds. With no draft kept, the next draft
starts from the question alone.
"""

from __future__ import annotations

from typing import ClassVar

from langgraph_pdr.nodes.distill.base import (
    BaseDistiller,
    DistillRequest,
    distinct_selections,
    extractive_workspace,
)
from langgraph_pdr.selection.answer_grading import is_correct
from langgraph_pdr.state.records import Workspace


class _Oracle(BaseDistiller):
    uses_k = True
    needs_gold = True
    keep_correct: ClassVar[bool]

    def distill(self, request: DistillRequest) -> list[Workspace]:
        if request.gold is None:
            raise ValueError(f"gold: distiller {self.name!r} needs the gold answer of the question")
        kept = [d for d in request.candidates if is_correct(d.text, request.gold) == self.keep_correct]
        k = min(request.k, len(kept))
        picks = distinct_selections(request, self.name, lambda rng: rng.sample(kept, k))
        return [
            extractive_workspace(request, chosen, index=j, distiller=self.name)
            for j, chosen in enumerate(picks)
        ]


class OracleCorrect(_Oracle):
    name = "oracle_correct"
    keep_correct = True


class OracleIncorrect(_Oracle):
    name = "oracle_incorrect"
    keep_correct = False
