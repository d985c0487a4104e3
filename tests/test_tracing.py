"""Tracing: every model call carries a run name, tags and metadata that group well in LangSmith (by
thread, method, distiller, round, role and draft), seen by a real LangChain callback handler."""

from __future__ import annotations

import inspect
import re
import textwrap
import threading
from typing import Any

import pytest
from fakes import ScriptedChatModel
from langchain_core.callbacks import BaseCallbackHandler
from langchain_openai import ChatOpenAI

import langgraph_pdr.calls.tracing as tracing
from langgraph_pdr import PDRConfig, PDRContext, create_pdr_graph, graph_config
from langgraph_pdr.calls.tracing import model_metadata


class Recorder(BaseCallbackHandler):
    """Records what each chat model run starts with: its name, tags and metadata."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, **kwargs):
        with self._lock:
            self.runs.append(
                {
                    "name": kwargs.get("name"),
                    "tags": kwargs.get("tags") or [],
                    "metadata": kwargs.get("metadata"),
                }
            )

    def names(self) -> list[str]:
        return sorted(r["name"] for r in self.runs)


class NamedModel(ScriptedChatModel):
    """A scripted model whose name is in an attribute LangChain does not read (`model_id`)."""

    model_id: str = "scripted-7b"


def run_graph(config: PDRConfig, model: Any, *, thread_id: str = "t", aio: bool = False) -> Recorder:
    recorder = Recorder()
    graph = create_pdr_graph(config).compile()
    invoke_config = graph_config(config, thread_id=thread_id, callbacks=[recorder])
    context = PDRContext(model=model, config=config)
    if aio:
        import asyncio

        asyncio.run(graph.ainvoke({"question": "What is 7 * 3?"}, invoke_config, context=context))
    else:
        graph.invoke({"question": "What is 7 * 3?"}, invoke_config, context=context)
    return recorder


def expected_name(meta: dict[str, Any]) -> str:
    return f"{meta['pdr_role']} r{meta['pdr_round']}.{meta['pdr_index']}"


@pytest.mark.parametrize("aio", [False, True], ids=["sync", "async"])
def test_every_call_is_named_tagged_and_carries_the_run_metadata(aio):
    config = PDRConfig(schedule="4,2,1", distiller="shared_top_k")
    model = NamedModel()
    recorder = run_graph(config, model, thread_id="run-42", aio=aio)
    drafts = [f"draft r1.{i}" for i in range(4)] + ["draft r2.0", "draft r2.1", "draft r3.0"]
    verifies = [f"verify r1.{i}" for i in range(4)] + ["verify r2.0", "verify r2.1"]
    assert recorder.names() == sorted(drafts + verifies)
    assert len(recorder.runs) == len(model.log)  # one traced run per model call
    for run in recorder.runs:
        meta = run["metadata"]
        assert run["name"] == expected_name(meta)
        assert {f"pdr:{meta['pdr_role']}", f"pdr:r{meta['pdr_round']}"} <= set(run["tags"])
        assert meta["thread_id"] == "run-42"
        assert (meta["pdr_method"], meta["pdr_distiller"]) == ("pdr", "shared_top_k")
        assert meta["pdr_stage"] == f"r{meta['pdr_round']}.{meta['pdr_role']}"
        assert meta["ls_model_name"] == "scripted-7b" and meta["ls_provider"]
    # the scripted model reads its role, round and index from the same metadata
    assert sorted((c.role, c.round, c.index) for c in model.log) == sorted(
        (r["metadata"]["pdr_role"], r["metadata"]["pdr_round"], r["metadata"]["pdr_index"])
        for r in recorder.runs
    )


def test_summaries_and_critiques_are_named_by_round():
    summary = run_graph(PDRConfig(schedule="2,1"), ScriptedChatModel())
    assert summary.names() == ["distill r1.0", "draft r1.0", "draft r1.1", "draft r2.0"]
    distill = next(r for r in summary.runs if r["name"] == "distill r1.0")
    assert set(distill["tags"]) >= {"pdr:distill", "pdr:r1"}
    assert distill["metadata"]["pdr_distiller"] == "global_summary"
    assert distill["metadata"]["pdr_stage"] == "r1.distill.0"

    review = run_graph(PDRConfig(method="sr_error", schedule="1,1,1"), ScriptedChatModel())
    assert review.names() == ["critique r1.0", "critique r2.0", "draft r1.0", "draft r2.0", "draft r3.0"]
    for run in review.runs:
        meta = run["metadata"]
        assert (meta["pdr_method"], meta["pdr_distiller"]) == ("sr_error", "previous_solution")
        assert run["name"] == expected_name(meta)


def test_the_sampling_baselines_have_no_distiller():
    recorder = run_graph(PDRConfig(method="best_of_n", schedule="2"), ScriptedChatModel())
    assert recorder.names() == ["draft r1.0", "draft r1.1", "verify r1.0", "verify r1.1"]
    assert {r["metadata"]["pdr_method"] for r in recorder.runs} == {"best_of_n"}
    assert {r["metadata"]["pdr_distiller"] for r in recorder.runs} == {None}


def test_provider_and_model_name_come_from_the_model():
    openai = ChatOpenAI(model="gpt-test", api_key="dummy", base_url="http://127.0.0.1:9/v1", max_retries=0)
    assert model_metadata(openai) == {"ls_provider": "openai", "ls_model_name": "gpt-test"}
    assert model_metadata(NamedModel()) == {
        "ls_provider": "namedmodel",
        "ls_model_name": "scripted-7b",
    }
    assert model_metadata(ScriptedChatModel()) == {"ls_provider": "scriptedchatmodel"}


def test_docstring_examples_run():
    blocks = []
    for _, obj in inspect.getmembers(tracing, lambda o: getattr(o, "__module__", None) == tracing.__name__):
        blocks += re.findall(r"```python\n(.*?)```", inspect.getdoc(obj) or "", re.S)
    assert len(blocks) >= 5
    for block in blocks:
        exec(compile(textwrap.dedent(block), "<docstring>", "exec"), {})
