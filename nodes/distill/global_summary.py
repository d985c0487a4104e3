"""`global_summary`: one model call summarizes the round's drafts; every next draft gets the summary.

The workspace opens with the tally of the drafts' final answers, written by code (unfinished drafts
counted apart), and the summarizer is given the same tally: small models miscount answers (a 1.5B model
wrote "they all reach $70,000" over four different answers, and "the attempts agree on (3, 3π/2)"
right under a tally of three attempts against one) and then anchor the next round on a wrong one. So
code also checks the summary: a sentence that claims the attempts all agree, where the tally shows they
do not, is replaced by a note saying so, and a summary that starts repeating itself is cut at the
first repeat. The summary's `max_tokens` is κ less the tally's tokens, so the bound holds.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import BaseMessage

from langgraph_pdr.calls.image_input import question_message
from langgraph_pdr.calls.token_count import cut_to_tokens
from langgraph_pdr.nodes.distill.base import SEPARATOR, BaseDistiller, DistillRequest, attempt_text
from langgraph_pdr.prompting.prompt_catalog import tool_template
from langgraph_pdr.selection.answer_votes import agreement, answer_tally
from langgraph_pdr.state.records import CallRecord, Draft, Workspace
from langgraph_pdr.tooling.transcript import used_tools

#: What replaces a sentence of the summary that claims an agreement the tally does not show.
CORRECTION = "[Corrected by code: the attempts do not all agree; see the tally of final answers above.]"

_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")
_AGREES = re.compile(
    r"\b(agree\w*|consensus|unanimous\w*|consistent\w*|same (?:final )?(?:answer|result))\b", re.IGNORECASE
)
_ALL = re.compile(
    r"\b(all|every|each|both|the (?:attempts|solutions|approaches|candidates))\b", re.IGNORECASE
)
_NAMED = re.compile(r"\b(?:attempts?|solutions?|candidates?)\s*#?\d", re.IGNORECASE)
#: A repeated sentence this long (in characters) ends the summary.
MIN_REPEAT_CHARS = 24


def summary_messages(request: DistillRequest) -> list[BaseMessage]:
    prompts = request.prompts
    attempts = SEPARATOR.join(attempt_text(prompts, d) for d in request.drafts)
    # tool-using drafts: a structured summary of approach, verified results, failure modes, open goals
    template = tool_template(prompts, "summary_tools") if used_tools(request.drafts) else prompts.summary
    text = template.format(
        n=len(request.drafts),
        question=request.question,
        attempts=attempts,
        tally=answer_tally(request.drafts),
    )
    return [question_message(text, request.state.get("images"))]


def unanimous(drafts: list[Draft]) -> bool:
    """Whether every draft finished with the same boxed answer."""
    votes = agreement(drafts)
    return len(votes) == 1 and sum(votes.values()) == len(drafts)


def claims_agreement(sentence: str) -> bool:
    """A sentence that says all the attempts agree (not one that names which attempts agree)."""
    return bool(
        _AGREES.search(sentence)
        and _ALL.search(sentence)
        and not _NAMED.search(sentence)
        and not re.search(r"\b(not|n't|disagree|differ)\w*", sentence, re.IGNORECASE)
    )


def cut_repeats(text: str) -> str:
    """`text` up to the first sentence (or line) it repeats."""
    seen: set[str] = set()
    for match in _SENTENCE.finditer(text):
        key = " ".join(match.group().lower().split())
        if len(key) >= MIN_REPEAT_CHARS and key in seen:
            return text[: match.start()].rstrip()
        seen.add(key)
    return text


def checked_summary(text: str, drafts: list[Draft]) -> str:
    """The summary cut at its first repeat, with claims of agreement the tally contradicts corrected."""
    text = cut_repeats(text)
    if unanimous(drafts) or sum(agreement(drafts).values()) == 0:
        return text
    out, corrected = [], False
    for match in _SENTENCE.finditer(text):
        sentence = match.group()
        if claims_agreement(sentence):
            if not corrected:
                out.append(CORRECTION + ("\n" if sentence.endswith("\n") else ""))
            corrected = True
        else:
            out.append(sentence)
    return "".join(out).strip() if corrected else text


class GlobalSummary(BaseDistiller):
    name = "global_summary"

    def _header(self, request: DistillRequest) -> tuple[str, int]:
        """The workspace's tally and its tokens with the separator (the summary gets κ less them);
        no tally when it would take more than half of κ."""
        header = request.tally() + SEPARATOR
        used = request.counter.count(header)
        return (header, used) if used <= request.kappa // 2 else ("", 0)

    def _options(self, request: DistillRequest, used: int) -> dict[str, Any]:
        cfg = request.config
        return {
            "max_tokens": min(cfg.role_max_tokens("distill"), request.kappa - used),
            "temperature": cfg.temperature.distill,
        }

    def _workspace(
        self, request: DistillRequest, header: str, used: int, text: str, call: CallRecord
    ) -> list[Workspace]:
        counter, room = request.counter, request.kappa - used
        checked = checked_summary(text, request.drafts)
        tokens, counted_by = call.output_tokens, "usage"
        if checked != text or call.usage_source != "provider" or tokens > room:
            checked = cut_to_tokens(checked, room, counter)
            tokens, counted_by = counter.count(checked), counter.name
        if header:
            tokens += used
            counted_by = counter.name if counted_by == counter.name else f"usage+{counter.name}"
        return [
            Workspace(
                round=request.round,
                text=header + checked,
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
