"""Drafting: the round gate (`begin_round`), the `Send` fan-out, and the `draft` node with its prompts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.errors import NodeError
from langgraph.types import Overwrite, Send

from langgraph_pdr.nodes.answers import final_answer, is_unfinished, vote
from langgraph_pdr.nodes.budget import reserve
from langgraph_pdr.nodes.images import question_message
from langgraph_pdr.nodes.llm import ImagesNotSupported, acall_model, call_model
from langgraph_pdr.nodes.runtime import NodeEnv, call_fields, current_config, node_env
from langgraph_pdr.nodes.tokens import prompt_bound
from langgraph_pdr.nodes.verify import scored
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.graph_state import DraftTask
from langgraph_pdr.state.prompts import PromptSet
from langgraph_pdr.state.records import CallRecord, Draft


def draft_messages(task: DraftTask, config: PDRConfig, prompts: PromptSet) -> list[BaseMessage]:
    """The prompt of one draft: the question, plus the workspace from the round before."""
    workspace = task.get("workspace")
    if workspace is None or task["round"] == 1 or not workspace.text.strip():
        text = prompts.solve.format(question=task["question"])
    elif config.method == "sr_error" and task.get("critique"):
        text = prompts.improve_with_review.format(
            question=task["question"], workspace=workspace.text, critique=task["critique"]
        )
    elif config.method in ("sr", "sr_error"):
        text = prompts.improve.format(question=task["question"], workspace=workspace.text)
    else:
        text = prompts.refine.format(question=task["question"], workspace=workspace.text)
    return [*history_messages(task.get("history")), question_message(text, task.get("images"))]


def history_messages(history: Sequence[Mapping[str, Any]] | None) -> list[BaseMessage]:
    """Earlier turns of a conversation as chat messages."""
    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[t["role"]](t["content"]) for t in history or []]


def draft_tasks(
    state: dict[str, Any], config: PDRConfig, round: int, committed: int | None = None
) -> list[DraftTask]:
    """The payloads of round `round`'s drafts; draft i sees workspace i (or the one shared workspace).
    `committed` is what the round reserved, the bound of its failed attempts."""
    workspaces = (state.get("workspaces") or []) if round > 1 else []
    return [
        DraftTask(
            question=state["question"],
            round=round,
            index=i,
            workspace=workspaces[i % len(workspaces)] if workspaces else None,
            critique=state.get("critique") if round > 1 else None,
            committed=committed,
            history=list(state.get("history") or []),
            images=list(state.get("images") or []),
        )
        for i in range(config.width(round))
    ]


def begin_round(state: dict[str, Any], default_config: PDRConfig) -> dict[str, Any]:
    """Start the next round if its worst case fits the caps; otherwise stop the run."""
    env = node_env(default_config)
    cfg = env.config
    round = int(state.get("round") or 0) + 1
    if round == 1 and not (state.get("question") or "").strip():
        raise ValueError("question: must be a non-empty string")
    tasks = draft_tasks(state, cfg, round)
    limit = cfg.draft_max_tokens(round)
    costs = [prompt_bound(draft_messages(t, cfg, env.prompts), env.counter) + limit for t in tasks]
    reserved = reserve(state, cfg, costs)
    if reserved.reason:
        env.emit("run_stopping", reason=reserved.reason, round=round)
        return {"stop_reason": reserved.reason}
    env.emit(
        "round_started",
        round=round,
        rounds=cfg.rounds,
        drafts=len(tasks),
        reserved=sum(costs),
        b_total=int(state.get("b_total") or 0),
    )
    update: dict[str, Any] = {
        "round": round,
        "drafts": Overwrite([]),
        "verifications": Overwrite([]),
        "committed": reserved.committed,
    }
    if round > 1:  # the vote of the round that ended is what the run answers if it stops from now on
        best = state.get("best")
        drafts = scored(state.get("drafts") or [], state.get("verifications") or [])
        update["best"] = vote(drafts, previous=best.answer if best is not None else None) or best
    return update


def send_drafts(state: dict[str, Any], default_config: PDRConfig) -> list[Send] | str:
    """Fan the round's drafts out to the `draft` node, or go to `finalize` when the run stopped."""
    if state.get("stop_reason"):
        return "finalize"
    cfg = current_config(default_config)
    return [Send("draft", t) for t in draft_tasks(state, cfg, state["round"], state.get("committed"))]


def _draft_call(env: NodeEnv, task: DraftTask) -> dict[str, Any]:
    cfg = env.config
    return call_fields(
        env,
        role="draft",
        round=task["round"],
        index=task["index"],
        max_tokens=cfg.draft_max_tokens(task["round"]),
        temperature=cfg.temperature.draft,
        committed=task.get("committed"),
        stream=True,
    )


def _draft_of(task: DraftTask, text: str, call: CallRecord) -> Draft:
    workspace = task.get("workspace")
    unfinished = is_unfinished(text, call.finish_reason)
    return Draft(
        round=task["round"],
        index=task["index"],
        unfinished=unfinished,
        text=text,
        answer=None if unfinished else final_answer(text),
        workspace_index=workspace.index if workspace is not None else None,
        call=call,
    )


def _drafted(env: NodeEnv, draft: Draft) -> dict[str, Any]:
    """The state update of a recorded draft, and its event."""
    call = draft.call or CallRecord(role="draft", round=draft.round, index=draft.index, stage="")
    env.emit(
        "draft_finished",
        round=draft.round,
        index=draft.index,
        answer=draft.answer,
        input_tokens=call.input_tokens,
        output_tokens=call.output_tokens,
        tokens=call.total_tokens,
    )
    return {"drafts": [draft], **env.usage(call)}


def draft(task: DraftTask, default_config: PDRConfig) -> dict[str, Any]:
    """Write one draft: one model call on the question and this draft's workspace."""
    env = node_env(default_config)
    messages = draft_messages(task, env.config, env.prompts)
    d = _draft_of(task, *call_model(env.model, messages, **_draft_call(env, task)))
    env.record(d.call, d)
    return _drafted(env, d)


async def adraft(task: DraftTask, default_config: PDRConfig) -> dict[str, Any]:
    """Async twin of `draft`."""
    env = node_env(default_config)
    messages = draft_messages(task, env.config, env.prompts)
    d = _draft_of(task, *await acall_model(env.model, messages, **_draft_call(env, task)))
    await env.arecord(d.call, d)
    return _drafted(env, d)


def draft_failed(task: DraftTask, error: NodeError, default_config: PDRConfig) -> dict[str, Any]:
    """A draft whose retries are spent becomes a failure record; the round goes on without it. A model
    that refuses images stops the run at once: every other draft would be refused too."""
    if isinstance(error.error, ImagesNotSupported):
        raise error.error
    env = node_env(default_config)
    failed = Draft(
        round=task["round"],
        index=task["index"],
        ok=False,
        error=f"{type(error.error).__name__}: {error.error}",
    )
    env.record(failed)
    env.emit("draft_failed", round=failed.round, index=failed.index, error=failed.error)
    return {"drafts": [failed], **env.failed_usage("draft", failed.round, failed.index)}
