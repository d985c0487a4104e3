"""Reading answers out of drafts: the last `\\boxed{}`, normalisation, majority vote."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from langgraph_pdr.state.records import Draft


# The prompts ask for the final answer "written as \boxed{ANSWER}"; small models echo that line
PLACEHOLDER = "ANSWER"


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` (or `\\fbox{...}`) in `text`, braces balanced; else None.

    Empty boxes and the prompts' own `\\boxed{ANSWER}` (echoed back by a model) are not answers.
    """
    for marker in ("\\boxed", "\\fbox"):
        start = text.rfind(marker)
        while start != -1:
            content = _braced(text, start + len(marker))
            if content is not None and content not in ("", PLACEHOLDER):
                return content
            start = text.rfind(marker, 0, start)
    return None


def _braced(text: str, i: int) -> str | None:
    """The stripped content of the balanced `{...}` at `i` (after spaces); None when there is none."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text) or text[i] != "{":
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j].strip()
    return None


def final_answer(text: str) -> str | None:
    """The answer of a draft: its last `\\boxed{}`, or the whole text when there is none."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    stripped = text.strip()
    return stripped or None


def normalize(answer: str | None) -> str:
    """A key under which equal-looking answers vote together."""
    if answer is None:
        return ""
    a = answer.strip().strip("$").strip()
    for prefix in ("\\text{", "\\mathrm{"):
        if a.startswith(prefix) and a.endswith("}"):
            a = a[len(prefix) : -1]
    a = "".join(a.split()).rstrip(".").replace("\\!", "").replace("{,}", ",")
    return _THOUSANDS.sub("", a)


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def majority(drafts: Sequence[Draft]) -> Draft | None:
    """The first draft whose answer has the most votes among drafts with a boxed answer.

    Drafts without a `\\boxed{}` vote only when none has one.
    """
    ok = [d for d in drafts if d.ok]
    boxed = [d for d in ok if last_boxed(d.text) is not None] or ok
    if not boxed:
        return None
    votes = Counter(normalize(d.answer) for d in boxed)
    top = max(votes.values())
    return next(d for d in boxed if votes[normalize(d.answer)] == top)


def answer_key(draft: Draft) -> str | None:
    """The normalized last `\\boxed{}` answer of a draft; None when it has none or failed."""
    boxed = last_boxed(draft.text)
    return None if boxed is None or not draft.ok else normalize(boxed)


def by_score(drafts: Sequence[Draft], *, round_drafts: Sequence[Draft] | None = None) -> list[Draft]:
    """Drafts best first: higher score, known before unknown; among equal scores, the draft whose
    boxed answer more drafts of the round (`round_drafts`, default `drafts`) reached, then the lower
    index.

    Small models score nearly every draft of theirs 10/10, so the tie-break often decides the
    selection: agreement carries the self-consistency signal there, where the index carries none.
    """
    votes = agreement(drafts if round_drafts is None else round_drafts)
    return sorted(drafts, key=lambda d: (d.score is None, -(d.score or 0.0),
                                         -votes.get(answer_key(d), 0), d.index))


def agreement(drafts: Sequence[Draft]) -> Counter[str]:
    """How many of `drafts` reached each normalized boxed answer (drafts without one are not counted)."""
    votes = Counter(answer_key(d) for d in drafts)
    votes.pop(None, None)
    return votes


def by_agreement(drafts: Sequence[Draft]) -> list[Draft]:
    """Drafts best first by how many of `drafts` reached their boxed answer, then the lower index;
    drafts without a boxed answer come last. Scores play no part."""
    votes = agreement(drafts)
    return sorted(drafts, key=lambda d: (-votes.get(answer_key(d), 0), d.index))


def best_scored(drafts: Sequence[Draft]) -> Draft | None:
    """The first of the successful drafts by `by_score`; None when none succeeded."""
    ranked = by_score([d for d in drafts if d.ok])
    return ranked[0] if ranked else None
