"""`run_pdr` / `arun_pdr`: run one question through a method, with checkpoints and the ledger."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from langgraph_pdr.checkpoints.store import Store, aopen_store, open_store
from langgraph_pdr.graphs import create_pdr_graph, graph_config
from langgraph_pdr.nodes.llm import model_name
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.context import PDRContext, TokenCounter
from langgraph_pdr.state.result import PDRResult


def _check(question: Any, model: Any, config: PDRConfig | dict | None, gold: str | None) -> PDRConfig:
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question: must be a non-empty string")
    if not isinstance(model, BaseChatModel):
        raise TypeError(
            f"model: expected a langchain BaseChatModel instance, got {type(model).__name__}"
        )
    if config is None:
        config = PDRConfig()
    elif isinstance(config, dict):
        config = PDRConfig.model_validate(config)
    elif not isinstance(config, PDRConfig):
        raise TypeError(f"config: expected a PDRConfig or a dict, got {type(config).__name__}")
    from langgraph_pdr.nodes.distill import get_distiller

    if config.method == "pdr" and get_distiller(config.distiller).needs_gold and gold is None:
        raise ValueError(f"gold: distiller {config.distiller!r} needs the gold answer (gold=...)")
    return config


def _prepare(
    store: Store,
    question: str,
    model: BaseChatModel,
    config: PDRConfig,
    thread_id: str | None,
    gold: str | None,
    token_counter: TokenCounter | None,
) -> tuple[Any, dict, dict, PDRContext]:
    thread_id = thread_id or uuid.uuid4().hex
    graph = create_pdr_graph(config).compile(checkpointer=store.saver)
    store.ledger.start_run(thread_id, question=question, config=config, model=model_name(model))
    context = PDRContext(model=model, config=config, token_counter=token_counter, recorder=store.ledger)
    inputs = {"question": question, "gold": gold}
    return graph, inputs, graph_config(config, thread_id=thread_id), context


def run_pdr(
    question: str,
    *,
    model: BaseChatModel,
    config: PDRConfig | dict | None = None,
    db: str | Path | None = None,
    thread_id: str | None = None,
    gold: str | None = None,
    token_counter: TokenCounter | None = None,
) -> PDRResult:
    """Answer `question` with the method of `config`, checkpointing every step.

    Args:
        question: the question.
        model: the chat model every call goes to.
        config: the method, schedule, distiller, budgets (default `PDRConfig()`).
        db: where the checkpoints and the ledger go: a SQLite file path, or None / ":memory:".
        thread_id: the run's id (default: a new one).
        gold: the gold answer, for the oracle distillers only (never shown to the model).
        token_counter: counts workspace tokens (default: a declared UTF-8 approximation).

    Returns:
        The `PDRResult`: answer, text, B_seq, B_total, stop reason, rounds and calls.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage(f"... \\\\boxed{{391}}")] * 3))
        result = run_pdr("What is 17 * 23?", model=model, config=PDRConfig(method="sr", schedule="1,1"))
        assert result.answer == "391"
        ```
    """
    config = _check(question, model, config, gold)
    with open_store(db) as store:
        graph, inputs, cfg, context = _prepare(store, question, model, config, thread_id, gold, token_counter)
        tid = cfg["configurable"]["thread_id"]
        try:
            graph.invoke(inputs, cfg, context=context, durability="sync")
        except BaseException as exc:
            store.ledger.set_status(tid, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        return store.ledger.load_result(tid)


async def arun_pdr(
    question: str,
    *,
    model: BaseChatModel,
    config: PDRConfig | dict | None = None,
    db: str | Path | None = None,
    thread_id: str | None = None,
    gold: str | None = None,
    token_counter: TokenCounter | None = None,
) -> PDRResult:
    """Async twin of `run_pdr` (the model is called with `ainvoke`)."""
    config = _check(question, model, config, gold)
    async with aopen_store(db) as store:
        graph, inputs, cfg, context = _prepare(store, question, model, config, thread_id, gold, token_counter)
        tid = cfg["configurable"]["thread_id"]
        try:
            await graph.ainvoke(inputs, cfg, context=context, durability="sync")
        except BaseException as exc:
            store.ledger.set_status(tid, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        return store.ledger.load_result(tid)
