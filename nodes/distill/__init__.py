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

from langgraph_pdr.nodes.distill.base import (
    BaseDistiller,
    BudgetStop,
    Distiller,
    DistillRequest,
    Generation,
    extractive_workspace,
)
from langgraph_pdr.nodes.distill.global_summary import GlobalSummary
from langgraph_pdr.nodes.distill.majority_k import MajorityK
from langgraph_pdr.nodes.distill.oracle import OracleCorrect, OracleIncorrect
from langgraph_pdr.nodes.distill.per_draft_repair import PerDraftRepair
from langgraph_pdr.nodes.distill.per_sample_top_k import PerSampleTopK
from langgraph_pdr.nodes.distill.previous_solution import PreviousSolution
from langgraph_pdr.nodes.distill.random_k import RandomK
from langgraph_pdr.nodes.distill.shared_top_k import SharedTopK
from langgraph_pdr.nodes.distill.tournament import TournamentDistiller
from langgraph_pdr.nodes.distill.verified_top_k import VerifiedTopK
from langgraph_pdr.selection.answer_votes import by_agreement, by_score
from langgraph_pdr.state.registry import DISTILLERS

D = TypeVar("D", bound=type)


def register_distiller(cls: D, *, replace: bool = False) -> D:
    """Register a distiller class under its `name` (usable as a decorator).

    Args:
        cls: a class with the `Distiller` members (subclass `BaseDistiller` for the defaults).
        replace: replace a distiller already registered under that name (else that is a ValueError).

    Returns:
        `cls`, unchanged.

    Raises:
        TypeError: `cls` lacks a class attribute of the Protocol or a `distill` method.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import BaseDistiller, PDRConfig, register_distiller, run_pdr
        from langgraph_pdr.nodes.distill import extractive_workspace

        @register_distiller
        class LastK(BaseDistiller):  # the round's last k drafts, verbatim, shared
            name, uses_k = "last_k", True

            def distill(self, request):
                last = request.drafts[-request.k :]
                return [extractive_workspace(request, last, index=0, distiller=self.name)]

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 4))
        config = PDRConfig(schedule="3,1", distiller="last_k", k=2)
        result = run_pdr("What is 17 * 23?", model=model, config=config, db=":memory:")
        assert [(w.distiller, w.sources) for w in result.workspaces] == [("last_k", [1, 2])]
        ```
    """
    for attr in ("name", "uses_k", "needs_scores", "needs_gold"):
        if not hasattr(cls, attr):
            raise TypeError(f"a distiller needs the class attribute {attr!r}; subclass BaseDistiller")
    if not callable(getattr(cls, "distill", None)):
        raise TypeError("a distiller needs a distill(request) method")
    DISTILLERS.register(str(getattr(cls, "name")), cls, replace=replace)  # noqa: B009 - checked above
    return cls


def get_distiller(name: str) -> Distiller:
    """A new instance of the distiller registered as `name` (ValueError lists the allowed names).

    The built-ins are `global_summary`, `shared_top_k`, `per_sample_top_k`, `majority_k`, `random_k`,
    `tournament`, `verified_top_k` and `per_draft_repair` (for runs that check their drafts),
    `oracle_correct` and `oracle_incorrect`; `register_distiller` adds others.

    Example:
        ```python
        from langgraph_pdr import Distiller, get_distiller

        distiller = get_distiller("per_sample_top_k")
        assert isinstance(distiller, Distiller) and distiller.name == "per_sample_top_k"
        assert (distiller.uses_k, distiller.needs_scores, distiller.needs_gold) == (True, True, False)
        try:
            get_distiller("magic")
        except ValueError as exc:
            error = str(exc)
        assert "unknown distiller 'magic'" in error and "majority_k" in error
        ```
    """
    distiller: Distiller = DISTILLERS.get(name)()
    return distiller


for _builtin in (
    GlobalSummary,
    SharedTopK,
    PerSampleTopK,
    MajorityK,
    RandomK,
    TournamentDistiller,
    VerifiedTopK,
    PerDraftRepair,
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
    "Generation",
    "GlobalSummary",
    "MajorityK",
    "OracleCorrect",
    "OracleIncorrect",
    "PerDraftRepair",
    "PerSampleTopK",
    "PreviousSolution",
    "RandomK",
    "SharedTopK",
    "TournamentDistiller",
    "VerifiedTopK",
    "by_agreement",
    "by_score",
    "extractive_workspace",
    "get_distiller",
    "register_distiller",
]
