"""Records of what a run did: calls, drafts, verifications, workspaces, rounds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["draft", "verify", "distill", "critique"]
ROLES: tuple[str, ...] = ("draft", "verify", "distill", "critique")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallRecord(_Record):
    """One model call and the tokens the provider billed for it.

    `stage` names the sequential stage the call belongs to (e.g. `r2.draft`); B_seq adds the largest
    call of each stage. `usage_source` is `provider` when the provider reported usage, `estimated` when
    it did not and the tokens were counted locally.
    """

    role: Role
    round: int
    index: int
    stage: str
    input_tokens: int = 0
    output_tokens: int = 0
    usage_source: Literal["provider", "estimated", "none"] = "provider"
    latency_s: float = 0.0
    finish_reason: str | None = None
    model: str | None = None
    error: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Draft(_Record):
    """A draft of round `round`: its text, the answer in its last `\\boxed{}`, and how it was made.

    `unfinished` marks a draft cut at `max_tokens` before any final answer: it has no answer, and it
    never counts in a tally or a vote.
    """

    round: int
    index: int
    ok: bool = True
    unfinished: bool = False
    text: str = ""
    answer: str | None = None
    score: float | None = None
    workspace_index: int | None = None
    error: str | None = None
    call: CallRecord | None = None


class Verification(_Record):
    """A self-verification of draft (`round`, `index`): a 0-10 score, or None when unparseable."""

    round: int
    index: int
    score: float | None = None
    text: str = ""
    error: str | None = None
    call: CallRecord | None = None


class Workspace(_Record):
    """A workspace built from round `round`'s drafts for the next round's draft `index`.

    A shared workspace has `index` 0 and serves every next-round draft. `tokens` is its size as
    `counted_by` measured it (`usage` when the provider counted the summary it wrote).
    """

    round: int
    index: int = 0
    text: str = ""
    tokens: int = 0
    counted_by: str = ""
    distiller: str = ""
    sources: list[int] = Field(default_factory=list)
    call: CallRecord | None = None


class RoundRecord(_Record):
    """Everything round `round` produced."""

    round: int
    width: int
    drafts: list[Draft] = Field(default_factory=list)
    verifications: list[Verification] = Field(default_factory=list)
    workspaces: list[Workspace] = Field(default_factory=list)
    critique: str | None = None


class RoundSummary(_Record):
    """How round `round` went: drafts launched and drafts that survived."""

    round: int
    width: int
    survivors: int


class RunOutcome(_Record):
    """How a run ended."""

    answer: str | None = None
    text: str = ""
    b_seq: int = 0
    b_total: int = 0
    stop_reason: str = "completed"


class Critique(_Record):
    """SR with error analysis: the review of round `round`'s solution that the next round sees."""

    round: int
    text: str = ""
    tokens: int = 0
    call: CallRecord | None = None
