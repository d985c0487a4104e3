"""SR with error analysis: one bounded call reviews the current solution before it is rewritten."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage

from langgraph_pdr.budgets.accounting import BudgetStop, reserve
from langgraph_pdr.calls.image_input import question_message
from langgraph_pdr.calls.model_call import call_model_steps
from langgraph_pdr.calls.steps import Call, Steps, arun_steps, run_steps
from langgraph_pdr.calls.token_count import cut_to_tokens, prompt_bound
from langgraph_pdr.runtime.environment import NodeEnv, call_fields, node_env
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.state.records import CallRecord, Critique
from langgraph_pdr.tooling.transcript import draft_body


def critique_messages(state: dict[str, Any], prompts: PromptSet) -> list[BaseMessage]:
    solution = next(d for d in state["drafts"] if d.ok)
    text = prompts.critique.format(question=state["question"], solution=draft_body(solution))
    return [question_message(text, state.get("images"))]


def _prepare(
    state: dict[str, Any], env: NodeEnv
) -> tuple[list[BaseMessage], dict[str, Any] | None, str | None]:
    cfg, r = env.config, state["round"]
    messages = critique_messages(state, env.prompts)
    limit = cfg.role_max_tokens("critique")
    reserved = reserve(state, cfg, [prompt_bound(messages, env.counter) + limit])
    if reserved.reason:
        return messages, None, reserved.reason
    call = call_fields(
        env,
        role="critique",
        round=r,
        index=0,
        max_tokens=limit,
        temperature=cfg.temperature.critique,
        committed=reserved.committed,
    )
    return messages, call, None


def _review(env: NodeEnv, state: dict[str, Any], text: str, call: CallRecord) -> Critique:
    tokens = call.output_tokens
    if tokens > env.config.kappa:  # a provider that ignored max_tokens
        text = cut_to_tokens(text, env.config.kappa, env.counter)
        tokens = env.counter.count(text)
    return Critique(round=state["round"], text=text, tokens=tokens, call=call)


def _reviewed(env: NodeEnv, review: Critique) -> dict[str, Any]:
    """The state update of a recorded critique, and its event."""
    tokens = review.call.total_tokens if review.call else 0
    env.emit("critique_written", round=review.round, critique_tokens=review.tokens, tokens=tokens)
    return {"critique": review.text, **env.usage(review.call)}


def _stop(env: NodeEnv, state: dict[str, Any], reason: str) -> dict[str, Any]:
    env.emit("run_stopping", reason=reason, round=state["round"])
    return {"stop_reason": reason, **env.failed_usage("critique", state["round"], 0)}


def _critique(state: dict[str, Any], env: NodeEnv) -> Steps[dict[str, Any]]:
    messages, call, reason = _prepare(state, env)
    if call is None:
        return _stop(env, state, reason or "max_b_total")
    try:
        text, record = yield from call_model_steps(env.model, messages, **call)
    except BudgetStop as stop:
        return _stop(env, state, stop.reason)
    review = _review(env, state, text, record)
    yield Call.twin(env, "record", review.call, review)
    return _reviewed(env, review)


def critique(state: dict[str, Any], default_config: PDRConfig) -> dict[str, Any]:
    """Review the round's solution (at most κ tokens), or stop when the call cannot fit the caps."""
    return run_steps(_critique(state, node_env(default_config)))


async def acritique(state: dict[str, Any], default_config: PDRConfig) -> dict[str, Any]:
    """Async twin of `critique` (one implementation: `langgraph_pdr.calls.steps`)."""
    return await arun_steps(_critique(state, node_env(default_config)))
