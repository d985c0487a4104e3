"""`verified_top_k`: the k best drafts by their checks, verbatim, each with its check's feedback, shared.

No model call. Drafts are ranked by `by_check`: passing first, then by score; among equal scores, drafts
that fail differently come before repeats of a failure already shown, so the workspace carries diverse
evidence rather than the majority (the 1.5B refine drafts copy the leading answer of a workspace; a
workspace of k copies of one bug teaches nothing). The workspace's first line is the round's checks,
counted by code; for a run whose answers are programs, each draft is shown as its program.
"""

from __future__ import annotations

from langgraph_pdr.nodes.distill.base import BaseDistiller, DistillRequest, extractive_workspace
from langgraph_pdr.selection.check_rank import by_check
from langgraph_pdr.state.records import Workspace


class VerifiedTopK(BaseDistiller):
    name = "verified_top_k"
    uses_k = True
    needs_checks = True

    def distill(self, request: DistillRequest) -> list[Workspace]:
        top = by_check(request.candidates)[: request.k]
        return [extractive_workspace(request, top, index=0, distiller=self.name)]
