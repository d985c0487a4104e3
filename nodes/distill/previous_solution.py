"""SR's workspace: the previous solution itself, cut to κ (used by `sr` and `sr_error`)."""

from __future__ import annotations

from langgraph_pdr.nodes.distill.base import BaseDistiller, DistillRequest
from langgraph_pdr.nodes.tokens import cut_to_tokens
from langgraph_pdr.nodes.trajectory import draft_body
from langgraph_pdr.state.records import Workspace


class PreviousSolution(BaseDistiller):
    name = "previous_solution"

    def distill(self, request: DistillRequest) -> list[Workspace]:
        d = request.drafts[0]
        text = cut_to_tokens(draft_body(d), request.kappa, request.counter)
        return [
            Workspace(
                round=request.round,
                text=text,
                tokens=request.counter.count(text),
                counted_by=request.counter.name,
                distiller=self.name,
                sources=[d.index],
            )
        ]
