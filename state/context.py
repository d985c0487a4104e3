"""The runtime context: the live objects a run needs, which are never checkpointed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, Protocol, runtime_checkable

from typing_extensions import TypedDict

from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.prompt_set import PromptSet


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens of a text, to bound workspaces by κ and to reserve budget.

    `exact` says whether `count` is the model's own tokenizer; when it is not, budget reservations use
    a bound that cannot undercount (UTF-8 bytes). `name` is stored with each workspace (`counted_by`)
    and with the run. Any object with these three members is one (`Utf8TokenCounter` is the default);
    pass it as `run_pdr(token_counter=...)` or `PDRContext(token_counter=...)`.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, TokenCounter, run_pdr

        class Words:  # one token per word: a crude approximation, declared as such
            name, exact = "words", False

            def count(self, text: str) -> int:
                return len(text.split())

        assert isinstance(Words(), TokenCounter)
        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 3))
        config = PDRConfig(schedule="2,1", distiller="majority_k", k=1, kappa=64)
        result = run_pdr("What is 17 * 23?", model=model, config=config, token_counter=Words(), db=":memory:")
        assert [(w.counted_by, w.tokens <= 64) for w in result.workspaces] == [("words", True)]
        ```
    """

    @property
    def name(self) -> str: ...

    @property
    def exact(self) -> bool: ...

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
        stream_drafts: stream each draft as it is written, as `draft_delta` events (`round`,
            `index`, `text`, `written`: pieces so far) on the custom stream; `run_pdr` turns it on
            when it is given `on_event`.
        tools: LangChain tools every draft may call, besides the built-in ones `config.tools` names
            (see `langgraph_pdr.tooling.toolbox`).

    `run_pdr` builds it for you; pass one yourself when you compile and invoke a graph of
    `create_pdr_graph` (`graph.invoke(..., context=PDRContext(model=...))`). It is not checkpointed:
    give it again when you resume a thread.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, PDRContext, create_pdr_graph, graph_config

        class Recorder:  # a RunRecorder: gets each record as the node that made it finishes
            def __init__(self):
                self.records = []

            def record(self, thread_id, record):
                self.records.append(record)

        config = PDRConfig(schedule="2,1", distiller="majority_k", k=1)
        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 3))
        context = PDRContext(model=model, config=config, recorder=Recorder())
        graph = create_pdr_graph(config).compile()
        out = graph.invoke({"question": "What is 17 * 23?"}, graph_config(config), context=context)
        assert out["answer"] == "391"
        assert {"Draft", "Workspace", "CallRecord"} <= {type(r).__name__ for r in context.recorder.records}
        ```
    """

    model: Any
    config: PDRConfig | None = None
    token_counter: TokenCounter | None = None
    recorder: RunRecorder | None = field(default=None)
    prompts: PromptSet | None = None
    stream_drafts: bool = False
    tools: Sequence[Any] = ()


class ServerContext(TypedDict):
    """The JSON context of a graph served by `langgraph dev` / LangGraph Server: what to call, not a
    live object. `model` is an `init_chat_model` id (`openai:gpt-4.1-mini`) or, with `base_url`, the
    name an OpenAI-compatible server serves; `config` holds `PDRConfig` fields for a method of the
    graph's family; `timeout` is seconds per call."""

    model: str
    base_url: NotRequired[str | None]
    timeout: NotRequired[float | None]
    config: NotRequired[dict[str, Any] | None]
