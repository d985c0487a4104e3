"""What `run_pdr` returns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.records import CallRecord, RoundRecord, Workspace


class PDRResult(BaseModel):
    """The outcome of a run, with everything it did.

    Attributes:
        answer: the final answer (the last `\\boxed{}` of `text`, or the whole text when there is none);
            None when the run produced no draft.
        text: the final draft.
        b_seq: B_seq, the sum over sequential stages of the largest call of each (input + output).
        b_total: B_total, the sum over all calls of (input + output).
        stop_reason: `completed`, or why the run ended early: `max_b_total` or `max_b_seq` (a cap),
            `no_drafts` (every draft of a round failed; the run is `failed` and `resume_pdr` sends
            that round again).
        thread_id: the run's id in the checkpointer and the ledger.
        status: `running`, `completed`, `stopped` (a cap or a failed round ended it), `failed` or
            `interrupted` (resumable).
        rounds: per round, its drafts, verifications and the workspaces built from it.
        calls: every model call, in the order the ledger received them.
        failed_calls: attempts that failed after the provider billed them (an empty completion),
            with `error` set; their tokens are in B_total (not in B_seq).
    """

    model_config = ConfigDict(extra="forbid")

    thread_id: str
    question: str
    config: PDRConfig
    answer: str | None = None
    text: str = ""
    b_seq: int = 0
    b_total: int = 0
    stop_reason: str = "completed"
    status: str = "completed"
    model: str | None = None
    error: str | None = None
    rounds: list[RoundRecord] = Field(default_factory=list)
    calls: list[CallRecord] = Field(default_factory=list)
    failed_calls: list[CallRecord] = Field(default_factory=list)

    @property
    def workspaces(self) -> list[Workspace]:
        """Every workspace of the run, round by round."""
        return [w for r in self.rounds for w in r.workspaces]


class RunSummary(BaseModel):
    """One line of `list_runs`."""

    thread_id: str
    created_at: str
    updated_at: str
    question: str
    method: str
    status: str
    stop_reason: str | None = None
    answer: str | None = None
    b_seq: int = 0
    b_total: int = 0
    model: str | None = None
    error: str | None = None
