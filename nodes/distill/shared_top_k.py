"""`shared_top_k`: the k best drafts by self-verification score, verbatim, shared by every next draft."""

from __future__ import annotations

from langgraph_pdr.nodes.distill.base import BaseDistiller, DistillRequest, extractive_workspace
from langgraph_pdr.selection.answer_votes import by_score
from langgraph_pdr.state.records import Workspace


class SharedTopK(BaseDistiller):
    name = "shared_top_k"
    uses_k = True
    needs_scores = True

    def distill(self, request: DistillRequest) -> list[Workspace]:
        top = sorted(
            by_score(request.candidates, round_drafts=request.drafts)[: request.k], key=lambda d: d.index
        )
        return [extractive_workspace(request, top, index=0, distiller=self.name)]
