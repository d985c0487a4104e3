"""`per_sample_top_k`: each next draft gets the top k of its own random pool of this round's drafts.

Pools hold `max(k + 1, ceil(M / 2))` of the M drafts (all of them when M is that small), drawn with the
run's seed and ranked by the same self-verification scores (ties go to the answer more of the round's drafts
reached, see `by_score`), so next-round drafts see different but
high-quality evidence; a pool whose top k repeats another draft's selection is redrawn (see
`distinct_selections`).
"""

from __future__ import annotations

import math

from langgraph_pdr.nodes.distill.base import (
    BaseDistiller,
    DistillRequest,
    distinct_selections,
    extractive_workspace,
)
from langgraph_pdr.selection.answer_votes import by_score
from langgraph_pdr.state.records import Workspace


class PerSampleTopK(BaseDistiller):
    name = "per_sample_top_k"
    uses_k = True
    needs_scores = True

    def distill(self, request: DistillRequest) -> list[Workspace]:
        drafts = request.candidates
        k = min(request.k, len(drafts))
        pool_size = min(len(drafts), max(k + 1, math.ceil(len(drafts) / 2)))
        picks = distinct_selections(
            request, self.name, lambda rng: by_score(rng.sample(drafts, pool_size), round_drafts=drafts)[:k]
        )
        return [
            extractive_workspace(request, chosen, index=j, distiller=self.name)
            for j, chosen in enumerate(picks)
        ]
