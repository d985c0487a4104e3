"""PDR behind the chat-model interface: swap one object and existing LangChain code gets PDR."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, model_validator

from langgraph_pdr.local_model import resolve_run_config
from langgraph_pdr.models import is_local_model
from langgraph_pdr.runner import arun_pdr, run_pdr
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.result import PDRResult

_DONE = object()


def split_messages(messages: Sequence[BaseMessage]) -> tuple[str, list[BaseMessage]]:
    """(question, history): the last user message, and every message before it."""
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            question = messages[i].text
            if not question.strip():
                raise ValueError("messages: the last user message is empty")
            return question, list(messages[:i])
    raise ValueError("messages: PDR answers the last user message, and there is none")


def question_images(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """The image parts of the last user message (OpenAI `image_url` parts, LangChain image blocks)."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            content = message.content
            if isinstance(content, str):
                return []
            return [b for b in content if isinstance(b, dict) and b.get("type") in ("image", "image_url")]
    return []


def usage_of(result: PDRResult) -> UsageMetadata:
    """The summed usage of every call of the run (failed attempts the provider billed included)."""
    calls = [*result.calls, *result.failed_calls]
    inp, out = sum(c.input_tokens for c in calls), sum(c.output_tokens for c in calls)
    return UsageMetadata(input_tokens=inp, output_tokens=out, total_tokens=inp + out)


def metadata_of(result: PDRResult) -> dict[str, Any]:
    """What a chat reply says about its run: budgets, thread id, method, the boxed answer."""
    return {
        "b_seq": result.b_seq,
        "b_total": result.b_total,
        "thread_id": result.thread_id,
        "method": result.config.method,
        "schedule": list(result.config.schedule),
        "distiller": result.config.distiller,
        "answer": result.answer,
        "stop_reason": result.stop_reason,
        "status": result.status,
        "model_name": result.model,
    }


class PDRChatModel(BaseChatModel):
    """A chat model that answers through PDR (or SR, or a baseline) over another chat model.

    The last user message is the question; a system message and earlier turns are given to every
    draft. The reply's content is the final draft; `usage_metadata` sums every inner call;
    `response_metadata` has `b_seq`, `b_total`, `thread_id`, `method` and the boxed `answer`. Every run
    is checkpointed in `db` (default: `$PDR_DB`, else the user data directory) and can be inspected or
    resumed by its thread id. `stream` yields progress chunks as the run goes (empty content; the
    graph's event, e.g. `{"event": "draft_finished", "round": 1, "index": 2, "tokens": 311, ...}`, in
    `chunk.additional_kwargs["pdr_progress"][0]["pdr"]`), then the answer; added together, the chunks
    hold every event in order.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
        from langgraph_pdr import PDRChatModel

        inner = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = 391, \\\\boxed{391}")] * 3))
        chat = PDRChatModel(model=inner, config={"schedule": "2,1", "distiller": "random_k", "k": 1},
                            db=":memory:")
        reply = chat.invoke([SystemMessage("Be brief."), HumanMessage("What is 17 * 23?")])
        assert reply.response_metadata["answer"] == "391" and reply.usage_metadata["total_tokens"] > 0
        ```
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")  # no setting silently lost

    model: Any = Field(description="the inner chat model, or a model string as for run_pdr")
    config: PDRConfig = Field(default_factory=PDRConfig)
    db: str | None = None
    base_url: str | None = None
    timeout: float | None = None
    tests: str | None = Field(
        None, description="visible tests every run's verifier checks drafts against (a call's tests= wins)"
    )

    @model_validator(mode="before")
    @classmethod
    def _local_defaults(cls, data: Any) -> Any:
        """On the embedded local model, a config not given or given as a dict gets that model's
        defaults where it names none, as `run_pdr` does. The drafts' `max_tokens` and `temperature`,
        which chat models take as fields, are the config's here: named as fields, they are an error."""
        for name in ("max_tokens", "temperature"):
            if isinstance(data, dict) and name in data:
                raise ValueError(
                    f"{name}: PDRChatModel takes it in its config: PDRChatModel(config={{{name!r}: ...}})"
                )
        if isinstance(data, dict) and is_local_model(data.get("model"), data.get("base_url")):
            given = data.get("config")
            if given is None or isinstance(given, dict):
                data = {**data, "config": resolve_run_config(given, local=True)}
        return data

    @property
    def _llm_type(self) -> str:
        return "pdr"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        inner = self.model if isinstance(self.model, str) else getattr(self.model, "_llm_type", "")
        return {"model": inner, "config": self.config.model_dump(mode="json")}

    def _kwargs(self, messages: list[BaseMessage], tests: str | None = None) -> tuple[str, dict[str, Any]]:
        question, history = split_messages(messages)
        return question, {
            "model": self.model,
            "config": self.config,
            "db": self.db,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "history": history,
            "images": question_images(messages),
            "tests": tests if tests is not None else self.tests,
        }

    @staticmethod
    def _reply(result: PDRResult) -> AIMessage:
        return AIMessage(result.text, usage_metadata=usage_of(result), response_metadata=metadata_of(result))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        question, options = self._kwargs(messages, kwargs.get("tests"))
        return ChatResult(generations=[ChatGeneration(message=self._reply(run_pdr(question, **options)))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        question, options = self._kwargs(messages, kwargs.get("tests"))
        result = await arun_pdr(question, **options)
        return ChatResult(generations=[ChatGeneration(message=self._reply(result))])

    @staticmethod
    def _progress(event: dict[str, Any]) -> ChatGenerationChunk:
        # wrapped: LangChain merges list items that carry an "index" (draft events do) when chunks add
        chunk = AIMessageChunk(content="", additional_kwargs={"pdr_progress": [{"pdr": event}]})
        return ChatGenerationChunk(message=chunk)

    def _final(self, result: PDRResult) -> ChatGenerationChunk:
        reply = self._reply(result)
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content=reply.content,
                usage_metadata=reply.usage_metadata,
                response_metadata=reply.response_metadata,
                chunk_position="last",
            )
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        question, options = self._kwargs(messages, kwargs.get("tests"))
        events: queue.Queue[Any] = queue.Queue()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["result"] = run_pdr(question, on_event=events.put, **options)
            except BaseException as exc:  # handed to the consumer
                outcome["error"] = exc
            finally:
                events.put(_DONE)

        threading.Thread(target=work, name="pdr-chat-stream", daemon=True).start()
        while (event := events.get()) is not _DONE:
            yield self._progress(event)
        if "error" in outcome:
            raise outcome["error"]
        yield self._final(outcome["result"])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        question, options = self._kwargs(messages, kwargs.get("tests"))
        events: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.create_task(arun_pdr(question, on_event=events.put_nowait, **options))
        task.add_done_callback(lambda _: events.put_nowait(_DONE))
        while (event := await events.get()) is not _DONE:
            yield self._progress(event)
        yield self._final(await task)
