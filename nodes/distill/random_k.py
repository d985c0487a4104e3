"""`random_k`: each next draft gets k of this round's drafts chosen uniformly at random (seeded).

Draws repeat another next-round draft's selection only when every other choice was tried (see
`distinct_selections`), so the drafts of a round see different evidence.
"""

from __future__ import annotations

from langgraph_pdr.nodes.distill.base import (
    BaseDistiller,
    DistillRequest,
    distinct_selections,
    extractive_workspace,
)
from langgraph_pdr.state.records import Workspace


class RandomK(BaseDistiller):
    name = "random_k"
    uses_k = True

    def distill(self, request: DistillRequest) -> list[Workspace]:
        pool = request.candidates
        k = min(request.k, len(pool))
        picks = distinct_selections(request, self.name, lambda rng: rng.sample(pool, k))
        return [
            extractive_workspace(request, chosen, index=j, distiller=self.name)
            for j, chosen in enumerate(picks)
        ]
