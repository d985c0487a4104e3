"""Distillers: how a round's drafts become the next round's workspaces (DESIGN.md §1).

Each built-in lives in its own module; all sit behind the `Distiller` Protocol and in a registry that
`PDRConfig(distiller=...)` reads. Add your own with `register_distiller`:

```python
from langgraph_pdr import BaseDistiller, DistillRequest, PDRConfig, Workspace, register_distiller
from langgraph_pdr.nodes.distill import extractive_workspace


@register_distiller
class LongestK(BaseDistiller):
    name = "longest_k"
    uses_k = True

    def distill(self, request: DistillRequest) -> list[Workspace]:
        longest = sorted(request.drafts, key=lambda d: len(d.text))[-request.k :]
        return [extractive_workspace(request, longest, index=0, distiller=self.name)]


config = PDRConfig(distiller="longest_k", k=1)
```
"""

from __future__ import annotations

from typing import TypeVar

from langgraph_pdr.nodes.answers import by_agreement, by_score
from langgraph_pdr.nodes.distill.base import (
    BaseDistiller,
    BudgetStop,
    Distiller,
    DistillRequest,
    extractive_workspace,
)
from langgraph_pdr.nodes.distill.global_summary import GlobalSummary
from langgraph_pdr.nodes.distill.majority_k import MajorityK
from langgraph_pdr.nodes.distill.oracle import OracleCorrect, OracleIncorrect
from langgraph_pdr.nodes.distill.per_sample_top_k import PerSampleTopK
from langgraph_pdr.nodes.distill.previous_solution import PreviousSolution
from langgraph_pdr.nodes.distill.random_k import RandomK
from langgraph_pdr.nodes.distill.shared_top_k import SharedTopK
from langgraph_pdr.state.registry import DISTILLERS

D = TypeVar("D", bound=type)


def register_distiller(cls: D, *, replace: bool = False) -> D:
    """Register a distiller class under its `name` (usable as a decorator)."""
    for attr in ("name", "uses_k", "needs_scores", "needs_gold"):
        if not hasattr(cls, attr):
            raise TypeError(f"a distiller needs the class attribute {attr!r}; subclass BaseDistiller")
    if not callable(getattr(cls, "distill", None)):
        raise TypeError("a distiller needs a distill(request) method")
    DISTILLERS.register(cls.name, cls, replace=replace)
    return cls


def get_distiller(name: str) -> Distiller:
    """A new instance of the distiller registered as `name` (ValueError lists the allowed names)."""
    return DISTILLERS.get(name)()


for _builtin in (
    GlobalSummary,
    SharedTopK,
    PerSampleTopK,
    MajorityK,
    RandomK,
    OracleCorrect,
    OracleIncorrect,
):
    if _builtin.name not in DISTILLERS:
        register_distiller(_builtin)

__all__ = [
    "BaseDistiller",
    "BudgetStop",
    "DistillRequest",
    "Distiller",
    "GlobalSummary",
    "MajorityK",
    "OracleCorrect",
    "OracleIncorrect",
    "PerSampleTopK",
    "PreviousSolution",
    "RandomK",
    "SharedTopK",
    "by_agreement",
    "by_score",
    "extractive_workspace",
    "get_distiller",
    "register_distiller",
]
