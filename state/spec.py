"""The run spec: everything a resume needs to rebuild a run, and nothing secret."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ModelSpec(BaseModel):
    """How to rebuild the run's model: an `init_chat_model` id (`openai:gpt-4.1-mini`) and, for an
    OpenAI-compatible server, its base URL. API keys are never stored: they come from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = None
    base_url: str | None = None
    local_model: str | None = None
    timeout: float | None = None  # seconds a call may take before it is abandoned (and retried)


class RunSpec(BaseModel):
    """What is stored with a run, beside its `PDRConfig`."""

    model_config = ConfigDict(extra="forbid")

    model: ModelSpec = ModelSpec()
    gold: str | None = None
    history: list[dict[str, str]] = []  # earlier turns of a conversation, as role/content
    token_counter: str | None = None
    prompts: dict[str, str] | None = None  # the templates of the run's prompt set, as it ran
    tools: list[str] = []  # the names of the tool objects the run was given (`run_pdr(tools=...)`)
    tests: str | None = None  # the visible tests its verifier checks drafts against
    verifier: str | None = None  # where a user's verifier is imported from (`module:qualname`)
