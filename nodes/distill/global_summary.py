"""`global_summary`: one model call summarizes the round's drafts; every next draft gets the summary.

The summarizer is given the tally of the drafts' final answers, read by code from their last
`\\boxed{}`, and the workspace opens with that tally: small models miscount answers (a 1.5B model
wrote "they all reach $70,000" over four different answers) and then anchor the next round on a
wrong one. The summary's `max_tokens` is κ less the tally's tokens, so the bound holds.
"""

from __future__ import annotations

from langchain_core.messages import BaseMessage, HumanMessage

from langgraph_pdr.nodes.answers import last_boxed, normalize
from langgraph_pdr.nodes.distill.base import BaseDistiller, DistillRequest
from langgraph_pdr.nodes.tokens import cut_to_tokens
from langgraph_pdr.state.records import CallRecord, Draft, Workspace

SUMMARY_PROMPT = """Below are {n} attempted solutions to the same problem, and the final answers \
read from them by code. Write a short summary for someone who will solve the problem again from \
scratch. State: where the attempts agree and where they contradict each other, and at which step \
they part; intermediate results that look correct; mistakes to avoid; what is still open. Where the \
attempts disagree, check the disputed steps yourself and say which answer they support: the most \
common answer can be wrong. Take the count of each answer from the tally below and never claim an \
agreement it does not show. Do not write a new full solution.

Problem:
{question}

Final answers, as read from the attempts: {tally}.

{attempts}"""

#: The workspace opens with the tally, written by code, so the next round reads the true count even
#: when the summary misstates it. Dropped when it would take more than half of κ.
TALLY_HEADER = "Final answers of the earlier attempts: {tally}.\n\n"


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

    def _header(self, request: DistillRequest) -> tuple[str, int]:
        """The workspace's tally header and its tokens (the summary gets κ less them); no header
        when it would take more than half of κ."""
        header = TALLY_HEADER.format(tally=answer_tally(request.drafts))
        used = request.counter.count(header)
        return (header, used) if used <= request.kappa // 2 else ("", 0)

    def _options(self, request: DistillRequest, used: int) -> dict:
        cfg = request.config
        return {"max_tokens": min(cfg.role_max_tokens("distill"), request.kappa - used),
                "temperature": cfg.temperature.distill}

    def _workspace(self, request: DistillRequest, header: str, used: int, text: str,
                   call: CallRecord) -> list[Workspace]:
        counter, room = request.counter, request.kappa - used
        tokens, counted_by = call.output_tokens, "usage"
        if call.usage_source != "provider" or tokens > room:
            text = cut_to_tokens(text, room, counter)
            tokens, counted_by = counter.count(text), counter.name
        if header:
            tokens += used
            counted_by = counter.name if counted_by == counter.name else f"usage+{counter.name}"
        return [
            Workspace(
                round=request.round,
                text=header + text,
                tokens=tokens,
                counted_by=counted_by,
                distiller=self.name,
                sources=[d.index for d in request.drafts],
                call=call,
            )
        ]

    def distill(self, request: DistillRequest) -> list[Workspace]:
        header, used = self._header(request)
        text, call = request.generate(summary_messages(request), **self._options(request, used))
        return self._workspace(request, header, used, text, call)

    async def adistill(self, request: DistillRequest) -> list[Workspace]:
        header, used = self._header(request)
        text, call = await request.agenerate(summary_messages(request), **self._options(request, used))
        return self._workspace(request, header, used, text, call)
