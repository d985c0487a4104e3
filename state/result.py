"""What `run_pdr` returns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.image_ref import ImageRef
from langgraph_pdr.state.records import CallRecord, Check, RoundRecord, Workspace


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
        failed_calls: attempts that failed and were retried (or were the last try of a call that
            failed for good): a rate limit, a server error, a timeout, an empty completion; with
            `error` set and the tokens the provider billed (an empty completion's), which are in
            B_total (not in B_seq).
        images: the question's images (references: sha256, type, bytes; the bytes are in the ledger).
        question: the question, as asked.
        config: the run's `PDRConfig`.
        model: the model's id (or its class name, for a model object).
        error: why a `failed` or `interrupted` run stopped.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 3))
        config = PDRConfig(schedule="2,1", distiller="majority_k", k=1)
        result = run_pdr("What is 17 * 23?", model=model, config=config, db=":memory:")
        assert (result.answer, result.status, result.stop_reason) == ("391", "completed", "completed")
        assert result.b_total == sum(c.total_tokens for c in result.calls) > result.b_seq
        assert result.config == config and result.workspaces == result.rounds[0].workspaces
        ```
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
    images: list[ImageRef] = Field(default_factory=list)

    @property
    def workspaces(self) -> list[Workspace]:
        """Every workspace of the run, round by round."""
        return [w for r in self.rounds for w in r.workspaces]

    @property
    def check(self) -> Check | None:
        """The check of the draft the run answered with (the latest with that answer), when the run
        checked its drafts; else None."""
        for r in reversed(self.rounds):
            for d in r.drafts:
                if d.check is not None and d.answer == self.answer and self.answer is not None:
                    return d.check
        return None


class RunSummary(BaseModel):
    """One line of `list_runs`: a stored run's id, question, method, status and outcome, without its
    rounds (`inspect_run` reads those).

    `created_at` and `updated_at` are UTC ISO 8601 timestamps; `status`, `stop_reason`, `answer`,
    `b_seq` and `b_total` are as in `PDRResult` (a run still going has no answer yet).

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, list_runs, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")]))
        result = run_pdr("What is 17 * 23?", model=model, config=PDRConfig(method="single"),
                         db="summary.sqlite", thread_id="first")
        [summary] = list_runs("summary.sqlite")
        assert (summary.thread_id, summary.method, summary.status, summary.answer) == (
            "first", "single", "completed", "391")
        assert summary.b_total == result.b_total and summary.created_at <= summary.updated_at
        ```
    """

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
