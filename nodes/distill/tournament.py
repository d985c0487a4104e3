"""`tournament`: the k drafts that win a knockout of pairwise comparisons the model judges, verbatim,
shared by every next draft.

The selection of agentic PDR (arXiv 2604.16529): the round's finished drafts are paired (a seeded
shuffle), the model judges each pair `VOTES` times (which of the two solutions is correct, the order
of the two swapped on alternate votes), the majority advances, until k remain; a pair of drafts with
the same final answer advances its lower-indexed draft without a call. The bracket is
`langgraph_pdr.runtime.knockout.knockout`, shared with the final selection
(`PDRConfig(selector="tournament")`). Each bracket level's comparisons are made together, in parallel,
with `DistillRequest.generate_many`: role `distill`, one stage per level (B_seq adds its largest call),
reserved against the caps first; `max_tokens.verify`, greedy for the first two votes (one per order) and
at the drafts' temperature after (see `Comparison.temperature`).
"""

from __future__ import annotations

from langgraph_pdr.nodes.distill.base import BaseDistiller, DistillRequest, Generation, extractive_workspace
from langgraph_pdr.runtime.knockout import (
    VOTES,
    Bracket,
    Comparison,
    Knockout,
    Verdicts,
    aplay,
    judge_messages,
    judgments,
    knockout,
    play,
)
from langgraph_pdr.state.records import Workspace

__all__ = ["VOTES", "TournamentDistiller"]


class TournamentDistiller(BaseDistiller):
    """The k winners of a knockout judged by the model, in one shared workspace.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr

        # round 1: two drafts that agree; the pair costs no comparison
        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 3))
        config = PDRConfig(schedule="2,1", distiller="tournament", k=1)
        result = run_pdr("What is 17 * 23?", model=model, config=config, db=":memory:")
        [workspace] = result.workspaces
        assert (workspace.distiller, workspace.sources) == ("tournament", [0])
        assert [c.role for c in result.calls] == ["draft"] * 3 and result.answer == "391"
        ```
    """

    name = "tournament"
    uses_k = True

    def _bracket(self, request: DistillRequest) -> Knockout:
        return knockout(
            request.candidates, keep=request.k, rng=request.rng(self.name), round_drafts=request.drafts
        )

    def _calls(self, request: DistillRequest, comparisons: list[Comparison]) -> list[Generation]:
        images, cfg = request.state.get("images"), request.config
        return [
            Generation(
                judge_messages(request.question, c, request.prompts, images),
                max_tokens=cfg.max_tokens.verify,
                temperature=c.temperature(cfg),
            )
            for c in comparisons
        ]

    def _workspaces(self, request: DistillRequest, bracket: Bracket) -> list[Workspace]:
        if request.env is not None:
            bracket.announce(request.env, round=request.round, selects="workspace", calls=request.calls)
        return [extractive_workspace(request, bracket.winners, index=0, distiller=self.name)]

    @staticmethod
    def _judged(request: DistillRequest, comparisons: list[Comparison], texts: list[str]) -> Verdicts:
        """Keep the level's judgments with the request (the node stores them); their verdicts."""
        indices = [c.index for c in request.calls[-len(texts) :]]
        made = judgments(comparisons, texts, role="distill", round=request.round, indices=indices)
        request.judgments += made
        return [j.verdict for j in made]

    def distill(self, request: DistillRequest) -> list[Workspace]:
        def judge(comparisons: list[Comparison]) -> Verdicts:
            texts = request.generate_many(self._calls(request, comparisons))
            return self._judged(request, comparisons, texts)

        return self._workspaces(request, play(self._bracket(request), judge))

    async def adistill(self, request: DistillRequest) -> list[Workspace]:
        async def judge(comparisons: list[Comparison]) -> Verdicts:
            texts = await request.agenerate_many(self._calls(request, comparisons))
            return self._judged(request, comparisons, texts)

        return self._workspaces(request, await aplay(self._bracket(request), judge))
