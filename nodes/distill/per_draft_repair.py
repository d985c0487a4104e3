"""`per_draft_repair`: each next-round draft repairs one draft of this round, from its own checks' feedback,
and sees k - 1 others besides (default k = 2: one other).

No model call. Next-round draft j gets draft j of this round (its parent, by index, cycling when the next
round is wider) with its feedback, then the best others by `by_check` that fail differently from it (a
passing one first, when there is one). Each next-round draft works on its own draft: the round keeps
its diversity instead of converging on one workspace, which is what pays for repair (Olausson et al.,
ICLR 2024: first-round diversity beats repeated repairs of one draft).
"""

from __future__ import annotations

from langgraph_pdr.nodes.distill.base import BaseDistiller, DistillRequest, extractive_workspace
from langgraph_pdr.selection.check_rank import by_check, failure
from langgraph_pdr.state.records import Draft, Workspace


class PerDraftRepair(BaseDistiller):
    name = "per_draft_repair"
    uses_k = True
    needs_checks = True

    def distill(self, request: DistillRequest) -> list[Workspace]:
        parents = sorted(request.candidates, key=lambda d: d.index)
        ranked = by_check(parents)
        out = []
        for j in range(request.next_width):
            parent = parents[j % len(parents)]
            others = [d for d in ranked if d.index != parent.index]
            different = [d for d in others if failure(d) != failure(parent)]
            chosen: list[Draft] = [parent, *(different + [d for d in others if d not in different])]
            out.append(extractive_workspace(request, chosen[: request.k], index=j, distiller=self.name))
        return out
