"""`global_summary`: one model call summarizes the round's drafts; every next draft gets the summary.

κ is the call's `max_tokens`, so the bound is exact in the provider's own tokens.
"""

from __future__ import annotations

from langchain_core.messages import BaseMessage, HumanMessage

from langgraph_pdr.nodes.distill.base import BaseDistiller, DistillRequest
from langgraph_pdr.nodes.tokens import cut_to_tokens
from langgraph_pdr.state.records import CallRecord, Workspace

SUMMARY_PROMPT = """Below are {n} attempted solutions to the same problem. Write a short summary for \
someone who will solve the problem again from scratch. State: the final answers the attempts reached \
and how many reached each; where the attempts agree and where they contradict each other; \
intermediate results that look correct; mistakes to avoid; what is still open. Do not write a new \
full solution.

Problem:
{question}

{attempts}"""


def summary_messages(request: DistillRequest) -> list[BaseMessage]:
    attempts = "\n\n".join(f"Attempt {n + 1}:\n{d.text}" for n, d in enumerate(request.drafts))
    text = SUMMARY_PROMPT.format(n=len(request.drafts), question=request.question, attempts=attempts)
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
