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


#: Finish reasons that mean a reply was cut at its `max_tokens` (OpenAI, Anthropic, Gemini).
CUT_OFF = ("length", "max_tokens")


def is_cut(finish_reason: str | None) -> bool:
    """Whether a reply's finish reason says it was cut at its `max_tokens`."""
    return (finish_reason or "").lower() in CUT_OFF


def is_unfinished(text: str, finish_reason: str | None) -> bool:
    """A reply cut at its `max_tokens` before any `\\boxed{}` answer."""
    return is_cut(finish_reason) and last_boxed(text) is None


def finished(drafts: Sequence[Draft]) -> list[Draft]:
    """The drafts that count: successful and not cut off before their answer."""
    return [d for d in drafts if d.ok and not d.unfinished]


def vote(drafts: Sequence[Draft], *, previous: str | None = None) -> Draft | None:
    """The draft that stands for a round's vote: its answer has the most votes among the finished
    drafts with a boxed answer; equal counts go to the answer with the best verification score, then to
    `previous` (the answer of the round before), then to the answer reached first. Within the winning
    answer, the best-scored draft, then the lowest index.

    Drafts without a `\\boxed{}` vote only when none has one; unfinished drafts never vote. None when
    no draft counts.

    Example:
        ```python
        from langgraph_pdr.selection.answer_votes import vote
        from langgraph_pdr.state.records import Draft

        drafts = [Draft(round=1, index=i, text=f"\\\\boxed{{{a}}}", answer=a) for i, a in enumerate("8788")]
        assert vote(drafts).answer == "8"
        assert vote(drafts[:2], previous="7").answer == "7"
        ```
    """
    ok = finished(drafts)
    boxed = [d for d in ok if last_boxed(d.text) is not None] or ok
    if not boxed:
        return None
    groups: dict[str, list[Draft]] = {}
    for d in sorted(boxed, key=lambda d: d.index):
        groups.setdefault(normalize(d.answer), []).append(d)
    prev = normalize(previous) if previous is not None else None

    def best_score(members: list[Draft]) -> float:
        return max((d.score for d in members if d.score is not None), default=-1.0)

    order = sorted(
        groups, key=lambda k: (-len(groups[k]), -best_score(groups[k]), k != prev, groups[k][0].index)
    )
    members = groups[order[0]]
    return max(members, key=lambda d: (d.score if d.score is not None else -1.0, -d.index))


def majority(drafts: Sequence[Draft]) -> Draft | None:
    """The vote of `drafts` with no score or earlier answer to break ties (see `vote`)."""
    return vote([d.model_copy(update={"score": None}) for d in drafts])


def answer_tally(drafts: Sequence[Draft]) -> str:
    """The code-written tally of a round: `391 (attempts 2, 4); 401 (attempt 1); no final answer
    (attempt 3); unfinished, cut off before an answer (attempt 5)`, most common answer first.
    Attempts are numbered by the draft's index in its round, from 1."""
    groups: dict[str, list[int]] = {}
    shown: dict[str, str] = {}
    for d in sorted(drafts, key=lambda d: d.index):
        if d.unfinished:
            key, label = "\x00unfinished", "unfinished, cut off before an answer"
        else:
            boxed = last_boxed(d.text)
            key = normalize(boxed) if boxed is not None else "\x00none"
            label = boxed if boxed is not None else "no final answer"
        groups.setdefault(key, []).append(d.index + 1)
        shown.setdefault(key, label)
    order = sorted(
        groups, key=lambda k: (k.startswith("\x00"), k == "\x00unfinished", -len(groups[k]), groups[k][0])
    )
    return "; ".join(
        f"{shown[k]} (attempt{'s' if len(groups[k]) > 1 else ''} {', '.join(map(str, groups[k]))})"
        for k in order
    )


def agreement_share(drafts: Sequence[Draft]) -> tuple[str | None, int, int]:
    """(the most common boxed answer, how many finished drafts reached it, how many finished drafts
    there are): what `early_stop` reads."""
    votes = agreement(drafts)
    total = len(finished(drafts))
    if not votes:
        return None, 0, total
    answer, count = votes.most_common(1)[0]
    return answer, count, total


def answer_key(draft: Draft) -> str | None:
    """The normalized last `\\boxed{}` answer of a draft; None when it has none, failed or is
    unfinished."""
    boxed = last_boxed(draft.text)
    return None if boxed is None or not draft.ok or draft.unfinished else normalize(boxed)


def by_score(drafts: Sequence[Draft], *, round_drafts: Sequence[Draft] | None = None) -> list[Draft]:
    """Drafts best first: higher score, known before unknown; among equal scores, the draft whose
    boxed answer more drafts of the round (`round_drafts`, default `drafts`) reached, then the lower
    index.

    Small models score nearly every draft of theirs 10/10, so the tie-break often decides the
    selection: agreement carries the self-consistency signal there, where the index carries none.
    """
    votes = agreement(drafts if round_drafts is None else round_drafts)
    return sorted(
        drafts,
        key=lambda d: (d.score is None, -(d.score or 0.0), -votes.get(answer_key(d) or "", 0), d.index),
    )


def agreement(drafts: Sequence[Draft]) -> Counter[str]:
    """How many of `drafts` reached each normalized boxed answer (drafts without one are not counted)."""
    return Counter(key for d in drafts if (key := answer_key(d)) is not None)


def by_agreement(drafts: Sequence[Draft]) -> list[Draft]:
    """Drafts best first by how many of `drafts` reached their boxed answer, then the lower index;
    drafts without a boxed answer come last. Scores play no part."""
    votes = agreement(drafts)
    return sorted(drafts, key=lambda d: (-votes.get(answer_key(d) or "", 0), d.index))


def best_scored(drafts: Sequence[Draft]) -> Draft | None:
    """The first of the successful drafts by `by_score`; None when none succeeded."""
    ranked = by_score([d for d in drafts if d.ok])
    return ranked[0] if ranked else None
