"""`global_summary`: one model call summarizes the round's drafts; every next draft gets the summary.

κ is the call's `max_tokens`, so the bound is exact in the provider's own tokens. The summarizer is
also given the tally of the drafts' final answers, read by code from their last `\\boxed{}`: small
models miscount answers and then anchor the next round on a wrong one.
"""

from __future__ import annotations

from langchain_core.messages import BaseMessage, HumanMessage

from langgraph_pdr.nodes.answers import last_boxed, normalize
from langgraph_pdr.nodes.distill.base import BaseDistiller, DistillRequest
from langgraph_pdr.nodes.tokens import cut_to_tokens
from langgraph_pdr.state.records import CallRecord, Draft, Workspace

SUMMARY_PROMPT = """Below are {n} attempted solutions to the same problem. Write a short summary for \
someone who will solve the problem again from scratch. State: the final answers the attempts reached \
and how many reached each; where the attempts agree and where they contradict each other; \
intermediate results that look correct; mistakes to avoid; what is still open. Where the attempts \
disagree, check the disputed steps yourself and say which answer they support: the most common \
answer can be wrong. Do not write a new full solution.

Problem:
{question}

{attempts}

Final answers, as read from the attempts: {tally}."""


def answer_tally(drafts: list[Draft]) -> str:
    """`391 (attempts 2, 4); 401 (attempt 1); no final answer (attempt 3)`, most common first."""
    groups: dict[str, list[int]] = {}
    shown: dict[str, str] = {}
    for n, d in enumerate(drafts, start=1):
        boxed = last_boxed(d.text)
        key = normalize(boxed) if boxed is not None else ""
        groups.setdefault(key, []).append(n)
        shown.setdefault(key, boxed if boxed is not None else "no final answer")
    order = sorted(groups, key=lambda k: (k == "", -len(groups[k]), groups[k][0]))
    return "; ".join(
        f"{shown[k]} (attempt{'s' if len(groups[k]) > 1 else ''} {', '.join(map(str, groups[k]))})"
        for k in order
    )


def summary_messages(request: DistillRequest) -> list[BaseMessage]:
    attempts = "\n\n".join(f"Attempt {n + 1}:\n{d.text}" for n, d in enumerate(request.drafts))
    text = SUMMARY_PROMPT.format(n=len(request.drafts), question=request.question,
                                 attempts=attempts, tally=answer_tally(request.drafts))
    return [HumanMessage(text)]


class GlobalSummary(BaseDistiller):
    name = "global_summary"

    def _options(self, request: DistillRequest) -> dict:
        cfg = request.config
        return {"max_tokens": cfg.role_max_tokens("distill"), "temperature": cfg.temperature.distill}

    def _workspace(self, request: DistillRequest, text: str, call: CallRecord) -> list[Workspace]:
        tokens, counted_by = call.output_tokens, "usage"
        if call.usage_source != "provider" or tokens > request.kappa:
            text = cut_to_tokens(text, request.kappa, request.counter)
            tokens, counted_by = request.counter.count(text), request.counter.name
        return [
            Workspace(
                round=request.round,
                text=text,
                tokens=tokens,
                counted_by=counted_by,
                distiller=self.name,
                sources=[d.index for d in request.drafts],
                call=call,
            )
        ]

    def distill(self, request: DistillRequest) -> list[Workspace]:
        text, call = request.generate(summary_messages(request), **self._options(request))
        return self._workspace(request, text, call)

    async def adistill(self, request: DistillRequest) -> list[Workspace]:
        text, call = await request.agenerate(summary_messages(request), **self._options(request))
        return self._workspace(request, text, call)
