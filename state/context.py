"""The runtime context: the live objects a run needs, which are never checkpointed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NotRequired, Protocol, runtime_checkable

from typing_extensions import TypedDict

from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.prompts import PromptSet


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens of a text, to bound workspaces by κ and to reserve budget.

    `exact` says whether `count` is the model's own tokenizer; when it is not, budget reservations use
    a bound that cannot undercount (UTF-8 bytes).
    """

    name: str
    exact: bool

    def count(self, text: str) -> int: ...


@runtime_checkable
class RunRecorder(Protocol):
    """Receives every record as the node that made it finishes (the run ledger implements it).

    Records with the same key (thread, kind, round, index) replace each other, so a node re-run on
    resume does not duplicate its rows.
    """

    def record(self, thread_id: str, record: Any) -> None: ...


@dataclass
class PDRContext:
    """What nodes read from `Runtime.context`.

    Args:
        model: the chat model every call goes to.
        config: the run's configuration; None uses the one the graph was built with.
        token_counter: counts workspace tokens (default: a declared UTF-8 approximation).
        recorder: receives records as they are made (the run ledger), or None.
        prompts: the run's prompt set; None uses the one `config.prompts` names (a resume passes the
            set stored with the run).
    """

    model: Any
    config: PDRConfig | None = None
    token_counter: TokenCounter | None = None
    recorder: RunRecorder | None = field(default=None)
    prompts: PromptSet | None = None


class ServerContext(TypedDict):
    """The JSON context of a graph served by `langgraph dev` / LangGraph Server: what to call, not a
    live object. `model` is an `init_chat_model` id (`openai:gpt-4.1-mini`) or, with `base_url`, the
    name an OpenAI-compatible server serves; `config` holds `PDRConfig` fields for a method of the
    graph's family; `timeout` is seconds per call."""

    model: str
    base_url: NotRequired[str | None]
    timeout: NotRequired[float | None]
    config: NotRequired[dict[str, Any] | None]
