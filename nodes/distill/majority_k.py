"""`majority_k`: the k drafts whose boxed answer most of the round's drafts reached, verbatim, shared.

No model call. A 1.5B model scored 224 of its 240 GSM8K drafts 10/10 (README, "Measured here"), so
`shared_top_k` ranked by its tie-break, answer agreement, while paying one verify call per draft; this
distiller keeps that ranking without the calls. Drafts without a `\\boxed{}` answer come last, equal
counts go to the lower index (see `by_agreement`).
"""

from __future__ import annotations

from langgraph_pdr.nodes.distill.base import BaseDistiller, DistillRequest, extractive_workspace
from langgraph_pdr.selection.answer_votes import by_agreement
from langgraph_pdr.state.records import Workspace


class MajorityK(BaseDistiller):
    name = "majority_k"
    uses_k = True

    def distill(self, request: DistillRequest) -> list[Workspace]:
        top = sorted(by_agreement(request.candidates)[: request.k], key=lambda d: d.index)
        return [extractive_workspace(request, top, index=0, distiller=self.name)]
