"""SR's workspace: the previous solution itself, cut to κ (used by `sr` and `sr_error`); with a verifier,
the solution (its program, for a run that answers with programs) and its check's feedback."""

from __future__ import annotations

from langgraph_pdr.calls.token_count import cut_to_tokens
from langgraph_pdr.nodes.distill.base import BaseDistiller, DistillRequest, extractive_workspace
from langgraph_pdr.state.records import Workspace
from langgraph_pdr.tooling.transcript import draft_body


class PreviousSolution(BaseDistiller):
    name = "previous_solution"

    def distill(self, request: DistillRequest) -> list[Workspace]:
        d = request.drafts[0]
        if d.check is not None:  # self-repair: the solution with what its check found
            return [extractive_workspace(request, [d], index=0, distiller=self.name)]
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
