"""The graph state, the Send payloads, and their reducers.

The state is lean on purpose: it holds the current round only (drafts and verifications are reset with
`Overwrite` when a round starts, workspaces are replaced), plus running totals. The per-round history of
a run goes to the run ledger as each node finishes.
"""

from __future__ import annotations

import operator
from typing import Annotated, NotRequired

from typing_extensions import TypedDict

from langgraph_pdr.state.image_ref import ImageRef
from langgraph_pdr.state.records import Check, Draft, Verification, Workspace


def merge_max(left: dict[str, int], right: dict[str, int]) -> dict[str, int]:
    """Merge per-stage maxima: B_seq adds the largest call of each stage."""
    merged = dict(left or {})
    for stage, tokens in (right or {}).items():
        merged[stage] = max(merged.get(stage, 0), tokens)
    return merged


def merge_sum(left: dict[str, int], right: dict[str, int]) -> dict[str, int]:
    """Add per-key counts: the tokens of failed attempts each call booked into B_total."""
    merged = dict(left or {})
    for key, value in (right or {}).items():
        merged[key] = merged.get(key, 0) + value
    return merged


class Turn(TypedDict):
    """One earlier message of a conversation: `role` is `system`, `user` or `assistant`."""

    role: str
    content: str


class PDRInput(TypedDict):
    """What a run is given: the question and its images (references; see `ImageRef`); earlier turns of
    a conversation (a system message, past exchanges), which every draft sees before the question; the
    visible tests its verifier checks drafts against (`tests`, never shown to the model by the run);
    and, for the oracle distillers only, the gold answer."""

    question: str
    images: NotRequired[list[ImageRef]]
    history: NotRequired[list[Turn]]
    gold: NotRequired[str | None]
    tests: NotRequired[str | None]


class PDROutput(TypedDict, total=False):
    """What a run returns."""

    answer: str | None
    text: str
    b_seq: int
    b_total: int
    stop_reason: str


class PDRState(PDRInput, total=False):
    """The state of a run."""

    round: int
    drafts: Annotated[list[Draft], operator.add]
    verifications: Annotated[list[Verification], operator.add]
    checks: Annotated[list[Check], operator.add]  # the current round's checks (all windows' for sc)
    verifier: str | None  # the verifier the run checks drafts with, decided when it starts
    workspaces: list[Workspace]
    critique: str | None
    best: Draft | None  # the vote of the last finished round: what a run stopped before its end answers
    b_total: Annotated[int, operator.add]
    stage_max: Annotated[dict[str, int], merge_max]
    billed: Annotated[dict[str, int], merge_sum]  # failed attempts' tokens booked, by call (`draft:2:0`)
    # turns of tool-using drafts that failed for good, booked into the budgets, by draft (`draft:2:0`):
    # a round sent again goes on from them without booking them twice
    turns_booked: Annotated[dict[str, int], merge_max]
    committed: int | None  # B_total spent + the worst case of the stage in flight (failed attempts' bound)
    stop_reason: str | None
    answer: str | None
    text: str
    b_seq: int


class DraftTask(TypedDict):
    """The payload of one `draft` call."""

    question: str
    round: int
    index: int
    workspace: Workspace | None
    critique: str | None
    history: NotRequired[list[Turn]]
    committed: NotRequired[int | None]
    images: NotRequired[list[ImageRef]]
    turns_booked: NotRequired[int]  # turns of this draft already booked (see `PDRState.turns_booked`)
    verifier: NotRequired[str | None]  # the run's verifier: what the draft is asked for and answers with


class CheckTask(TypedDict):
    """The payload of one `check` call: a draft, and what its verifier checks it against."""

    question: str
    draft: Draft
    verifier: str
    tests: NotRequired[str | None]


class VerifyTask(TypedDict):
    """The payload of one `verify` call."""

    question: str
    draft: Draft
    committed: NotRequired[int | None]
    images: NotRequired[list[ImageRef]]
