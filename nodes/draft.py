"""Drafting: the round gate (`begin_round`), the `Send` fan-out, and the `draft` node with its prompts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.errors import NodeError
from langgraph.types import Overwrite, Send

from langgraph_pdr.budgets.accounting import (
    TOOL_FRAMING_TOKENS,
    TOOL_RESULT_TOKENS,
    call_key,
    first_round_refusal,
    reserve,
    tool_draft_bound,
)
from langgraph_pdr.calls.image_input import question_message
from langgraph_pdr.calls.model_call import ImagesNotSupported, call_model_reply_steps, call_model_steps
from langgraph_pdr.calls.retry import refusal_status
from langgraph_pdr.calls.steps import Blocking, Call, Steps, arun_steps, run_steps
from langgraph_pdr.calls.token_count import prompt_bound
from langgraph_pdr.checking import answers_programs, get_verifier, read_draft
from langgraph_pdr.nodes.distill import get_distiller
from langgraph_pdr.nodes.verify import scored
from langgraph_pdr.prompting.prompt_catalog import check_template, tool_template
from langgraph_pdr.runtime.environment import NodeEnv, call_fields, node_env, run_config
from langgraph_pdr.runtime.tool_loop import ToolLoop, asks_for_fenced_code, bind_tools
from langgraph_pdr.selection.answer_votes import vote
from langgraph_pdr.selection.check_rank import best_checked, with_checks
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.graph_state import DraftTask
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.state.records import CallRecord, Draft, DraftTurn
from langgraph_pdr.tooling.toolbox import ToolSet, tool_set


def draft_tools(env: NodeEnv, default_tools: Sequence[BaseTool] = ()) -> ToolSet:
    """The tools a draft of this run may call (none when `max_tool_calls` is 0): the built-in ones its
    config names, then the context's tool objects (else those the graph was built with)."""
    if env.config.max_tool_calls == 0:
        return ToolSet([])
    tools = tool_set(env.config, list(env.tools) or list(default_tools))
    tools.bound = bind_tools(env.model, tools) if tools else None
    return tools


def tool_instruction(config: PDRConfig, prompts: PromptSet, tools: ToolSet) -> str:
    """What a draft's prompt adds when it may call tools: the fenced-code instruction (`fenced`, or
    `auto` with a model that takes no tools in its requests), or the list of tools offered natively."""
    if not tools:
        return ""
    if asks_for_fenced_code(config, tools):
        return tool_template(prompts, "fenced").format() if "python" in tools.by_name else ""
    return tool_template(prompts, "tools").format(tools=tools.describe())


def draft_messages(
    task: DraftTask, config: PDRConfig, prompts: PromptSet, tools: ToolSet | None = None
) -> list[BaseMessage]:
    """The prompt of one draft: the question, plus the workspace from the round before (and what it
    may do with its tools)."""
    workspace = task.get("workspace")
    programs = answers_programs(task.get("verifier"))
    if workspace is None or task["round"] == 1 or not workspace.text.strip():
        solve = check_template(prompts, "solve_program") if programs else prompts.solve
        text = solve.format(question=task["question"])
    elif config.method == "sr_error" and task.get("critique"):
        text = prompts.improve_with_review.format(
            question=task["question"], workspace=workspace.text, critique=task["critique"]
        )
    elif task.get("verifier") is not None:  # repair from the checks the workspace shows
        repair = check_template(prompts, "repair_program" if programs else "repair")
        text = repair.format(question=task["question"], workspace=workspace.text)
    elif config.method in ("sr", "sr_error"):
        text = prompts.improve.format(question=task["question"], workspace=workspace.text)
    else:
        text = prompts.refine.format(question=task["question"], workspace=workspace.text)
    extra = tool_instruction(config, prompts, tools) if tools else ""
    if extra:
        text = f"{text}\n\n{extra}"
    return [*history_messages(task.get("history")), question_message(text, task.get("images"))]


def tool_schema_tokens(config: PDRConfig, tools: ToolSet, env: NodeEnv) -> int:
    """What offering `tools` natively adds to each request, in tokens (their JSON schemas)."""
    if not tools or config.tool_format == "fenced":
        return 0
    return env.counter.count(json.dumps([convert_to_openai_tool(t) for t in tools.tools]))


def draft_bound(task: DraftTask, env: NodeEnv, tools: ToolSet) -> int:
    """A draft's worst case in tokens: its prompt and `max_tokens`, over every turn when it has tools."""
    cfg = env.config
    limit = cfg.draft_max_tokens(task["round"])
    prompt = prompt_bound(draft_messages(task, cfg, env.prompts, tools), env.counter)
    if not tools:
        return prompt + limit
    prompt += tool_schema_tokens(cfg, tools, env)
    result = TOOL_RESULT_TOKENS + TOOL_FRAMING_TOKENS
    done = env.counter.count(tool_template(env.prompts, "tools_done").format())
    return tool_draft_bound(prompt + done, limit, cfg.max_tool_calls, result)


def history_messages(history: Sequence[Mapping[str, Any]] | None) -> list[BaseMessage]:
    """Earlier turns of a conversation as chat messages."""
    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[t["role"]](t["content"]) for t in history or []]


def draft_tasks(
    state: dict[str, Any], config: PDRConfig, round: int, committed: int | None = None
) -> list[DraftTask]:
    """The payloads of round `round`'s drafts; draft i sees workspace i (or the one shared workspace).
    `committed` is what the round reserved, the bound of its failed attempts. A window of
    self-consistency numbers its drafts on from the windows before (`PDRConfig.first_index`)."""
    workspaces = (state.get("workspaces") or []) if round > 1 else []
    first = config.first_index(round)
    return [
        DraftTask(
            question=state["question"],
            round=round,
            index=first + i,
            workspace=workspaces[i % len(workspaces)] if workspaces else None,
            critique=state.get("critique") if round > 1 else None,
            committed=committed,
            history=list(state.get("history") or []),
            images=list(state.get("images") or []),
            turns_booked=int((state.get("turns_booked") or {}).get(call_key("draft", round, first + i), 0)),
            verifier=state.get("verifier"),
        )
        for i in range(config.width(round))
    ]


def run_verifier(state: dict[str, Any], config: PDRConfig) -> str | None:
    """The verifier a starting run checks its drafts with (see `PDRConfig.verifier_for`).

    Raises:
        ValueError: the run needs checks (`stop_on_pass`, a distiller that reads them) and has neither
            a verifier nor tests; or its verifier is not usable here.
    """
    verifier = config.verifier_for(state.get("tests"))
    if verifier is None:
        if config.stop_on_pass:
            raise ValueError("stop_on_pass: needs a verifier (PDRConfig(verifier=...)) or visible tests")
        if config.method == "pdr" and getattr(get_distiller(config.distiller), "needs_checks", False):
            raise ValueError(
                f"distiller: {config.distiller!r} reads checks; give the run a verifier "
                "(PDRConfig(verifier=...)) or visible tests (tests=...)"
            )
        return None
    get_verifier(verifier)  # registered here, or a clear error
    return verifier


def begin_round(
    state: dict[str, Any], default_config: PDRConfig, default_tools: Sequence[BaseTool] = ()
) -> dict[str, Any]:
    """Start the next round if its worst case fits the caps; otherwise stop the run."""
    env = node_env(default_config)
    cfg = env.config
    round = int(state.get("round") or 0) + 1
    started: dict[str, Any] = {}
    if round == 1:
        if not (state.get("question") or "").strip():
            raise ValueError("question: must be a non-empty string")
        started["verifier"] = run_verifier(state, cfg)
        state = {**state, **started}
    tasks = draft_tasks(state, cfg, round)
    tools = draft_tools(env, default_tools)
    costs = [draft_bound(t, env, tools) for t in tasks]
    reserved = reserve(state, cfg, costs)
    if reserved.reason and round == 1:  # nothing paid, nothing to answer with: refused, not stopped
        raise first_round_refusal(cfg, reserved.reason, costs)
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
        **started,
        "round": round,
        "verifications": Overwrite([]),
        "committed": reserved.committed,
    }
    if not cfg.windowed:  # else every window's drafts vote
        update["drafts"] = Overwrite([])
        update["checks"] = Overwrite([])
    if round > 1:  # the round that ended chooses what the run answers if it stops from now on
        update["best"] = round_best(state)
    return update


def round_best(state: dict[str, Any]) -> Draft | None:
    """What the run answers with after the round that ended: the best-checked of its drafts and the
    best so far, when the run checks its drafts; else the round's vote (ties to the answer before)."""
    best = state.get("best")
    drafts = scored(state.get("drafts") or [], state.get("verifications") or [])
    if state.get("verifier") is not None:
        drafts = with_checks(drafts, state.get("checks") or [])
        return best_checked([*drafts, *([best] if best is not None else [])]) or best
    return vote(drafts, previous=best.answer if best is not None else None) or best


def send_drafts(state: dict[str, Any], default_config: PDRConfig) -> list[Send] | str:
    """Fan the round's drafts out to the `draft` node, or go to `finalize` when the run stopped."""
    if state.get("stop_reason"):
        return "finalize"
    cfg = run_config(default_config)
    return [Send("draft", t) for t in draft_tasks(state, cfg, state["round"], state.get("committed"))]


def _draft_call(env: NodeEnv, task: DraftTask, turn: int = 0) -> dict[str, Any]:
    cfg = env.config
    fields = call_fields(
        env,
        role="draft",
        round=task["round"],
        index=task["index"],
        max_tokens=cfg.draft_max_tokens(task["round"]),
        temperature=cfg.temperature.draft,
        committed=task.get("committed"),
        stream=True,
    )
    return {**fields, "turn": turn} if turn else fields


def _turn_call(env: NodeEnv, task: DraftTask, loop: ToolLoop) -> dict[str, Any]:
    """`_draft_call` for the next turn of a tool-using draft, with the turn's stop sequences."""
    fields = _draft_call(env, task, len(loop.turns))
    if loop.stop:
        fields["options"] = {**fields["options"], "stop": loop.stop}
    return fields


def _draft_of(task: DraftTask, text: str, call: CallRecord) -> Draft:
    workspace = task.get("workspace")
    unfinished, answer = read_draft(text, call.finish_reason, task.get("verifier"))
    return Draft(
        round=task["round"],
        index=task["index"],
        unfinished=unfinished,
        text=text,
        answer=answer,
        workspace_index=workspace.index if workspace is not None else None,
        call=call,
    )


def _turns_usage(env: NodeEnv, calls: list[CallRecord], booked: int) -> dict[str, Any]:
    """`env.usage(calls)` of a draft's turns, less the B_total of its first `booked` turns, which an
    earlier failed attempt booked already (B_seq takes the draft's whole sum: the stage's maximum)."""
    update = env.usage(*calls)
    if booked:
        update["b_total"] -= sum(c.total_tokens for c in calls[:booked])
    return update


def _drafted(env: NodeEnv, draft: Draft, booked: int = 0) -> dict[str, Any]:
    """The state update of a recorded draft (all its turns), and its event."""
    calls = draft.calls
    inp, out = sum(c.input_tokens for c in calls), sum(c.output_tokens for c in calls)
    env.emit(
        "draft_finished",
        round=draft.round,
        index=draft.index,
        answer=draft.answer,
        input_tokens=inp,
        output_tokens=out,
        tokens=inp + out,
        **({"turns": len(draft.turns)} if draft.turns else {}),
    )
    return {"drafts": [draft], **_turns_usage(env, calls, booked)}


def _workspace_index(task: DraftTask) -> int | None:
    workspace = task.get("workspace")
    return workspace.index if workspace is not None else None


def _draft(task: DraftTask, env: NodeEnv, default_tools: Sequence[BaseTool]) -> Steps[dict[str, Any]]:
    tools = draft_tools(env, default_tools)
    messages = draft_messages(task, env.config, env.prompts, tools)
    if not tools:
        recorded = yield Call.twin(env, "recorded_draft", task["round"], task["index"])
        if recorded is not None:  # paid and recorded before its node was cut short: not paid again
            return _drafted(env, recorded)
        text, call = yield from call_model_steps(env.model, messages, **_draft_call(env, task))
        d = _draft_of(task, text, call)
        yield Call.twin(env, "record", d.call, d)
        return _drafted(env, d)
    done = yield Call.twin(env, "recorded_turns", task["round"], task["index"])
    loop = ToolLoop.start(env, task["round"], task["index"], tools, messages, done)
    while not loop.done:
        turn_call = _turn_call(env, task, loop)
        reply, text, call = yield from call_model_reply_steps(loop.model(), loop.messages, **turn_call)
        turn = yield Blocking(loop.take, (reply, text, call))  # from async code, tools run in a thread
        yield Call.twin(env, "record", call, turn)
        _turn_event(env, turn)
    d = loop.draft(_workspace_index(task), task.get("verifier"))
    yield Call.twin(env, "record", d)
    return _drafted(env, d, task.get("turns_booked") or 0)


def draft(
    task: DraftTask, default_config: PDRConfig, default_tools: Sequence[BaseTool] = ()
) -> dict[str, Any]:
    """Write one draft: one model call on the question and this draft's workspace, or, with tools, a
    loop of turns and tool calls (`langgraph_pdr.runtime.tool_loop`)."""
    return run_steps(_draft(task, node_env(default_config), default_tools))


async def adraft(
    task: DraftTask, default_config: PDRConfig, default_tools: Sequence[BaseTool] = ()
) -> dict[str, Any]:
    """Async twin of `draft` (one implementation: `langgraph_pdr.calls.steps`; tools run in a worker
    thread)."""
    return await arun_steps(_draft(task, node_env(default_config), default_tools))


def _turn_event(env: NodeEnv, turn: DraftTurn) -> None:
    """A `tool_called` event for each tool call of a turn."""
    for c in turn.tool_calls:
        env.emit(
            "tool_called",
            round=turn.round,
            index=turn.index,
            turn=turn.turn,
            tool=c.name,
            error=c.error,
            output=c.output,
        )


def draft_failed(task: DraftTask, error: NodeError, default_config: PDRConfig) -> dict[str, Any]:
    """A draft whose retries are spent becomes a failure record; the round goes on without it. A model
    that refuses images stops the run at once: every other draft would be refused too."""
    if isinstance(error.error, ImagesNotSupported):
        raise error.error
    env = node_env(default_config)
    turns = env.recorded_turns(task["round"], task["index"])  # a tool-using draft's finished turns
    failed = Draft(
        round=task["round"],
        index=task["index"],
        ok=False,
        error=f"{type(error.error).__name__}: {error.error}",
        turns=turns,
    )
    env.record(failed)
    refused = refusal_status(error.error)  # the provider refused it: resuming as it is fails again
    env.emit("draft_failed", round=failed.round, index=failed.index, error=failed.error, refused=refused)
    if failed.calls:  # the turns it finished before it failed were paid for
        key = call_key("draft", failed.round, failed.index)
        usage = _turns_usage(env, failed.calls, task.get("turns_booked") or 0)
        return {"drafts": [failed], **usage, "turns_booked": {key: len(failed.turns)}}
    return {"drafts": [failed], **env.failed_usage("draft", failed.round, failed.index)}
