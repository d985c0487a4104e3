"""Embedding PDR: as a chat model, as an agent's tool, and as a subgraph of a parent graph."""

from __future__ import annotations

import operator
from typing import Annotated

import pytest
from fake_openai import FakeOpenAIServer
from fakes import ScriptedChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from typing_extensions import TypedDict

from langgraph_pdr import PDRChatModel, PDRConfig, create_pdr_graph, create_pdr_tool, inspect_run
from langgraph_pdr.state.context import PDRContext

CONFIG = PDRConfig(schedule="3,1", distiller="random_k", k=1)
CONVERSATION = [
    SystemMessage("Answer like a patient teacher."),
    HumanMessage("hi"),
    AIMessage("Hello! What shall we solve?"),
    HumanMessage("What is 6 * 7?"),
]


def test_chat_model_invoke_passes_the_conversation_and_reports_the_run(tmp_path):
    fake = ScriptedChatModel()
    chat = PDRChatModel(model=fake, config=CONFIG, db=str(tmp_path / "runs.sqlite"))
    reply = chat.invoke(CONVERSATION)
    for call in fake.calls("draft"):  # every draft sees the system message and the earlier turns first
        assert call.prompt.startswith("Answer like a patient teacher.\nhi\nHello! What shall we solve?\n")
        assert "What is 6 * 7?" in call.prompt
    assert not any("patient teacher" in c.prompt for c in fake.calls("distill"))
    meta = reply.response_metadata
    result = inspect_run(meta["thread_id"], tmp_path / "runs.sqlite")
    assert reply.content == result.text and meta["answer"] == result.answer == "20"
    assert (meta["b_seq"], meta["b_total"], meta["method"]) == (result.b_seq, result.b_total, "pdr")
    assert reply.usage_metadata["input_tokens"] == sum(c.input_tokens for c in fake.log)
    assert reply.usage_metadata["output_tokens"] == sum(c.output_tokens for c in fake.log)
    assert reply.usage_metadata["total_tokens"] == result.b_total


def test_chat_model_batch_makes_one_run_per_input(tmp_path):
    chat = PDRChatModel(model=ScriptedChatModel(), config=CONFIG, db=str(tmp_path / "runs.sqlite"))
    replies = chat.batch(["What is 6 * 7?", "What is 2 + 2?", [HumanMessage("What is 1 + 1?")]])
    assert len({r.response_metadata["thread_id"] for r in replies}) == 3
    assert [
        inspect_run(r.response_metadata["thread_id"], tmp_path / "runs.sqlite").question for r in replies
    ] == ["What is 6 * 7?", "What is 2 + 2?", "What is 1 + 1?"]


def check_stream(chunks, invoked_content):
    progress = [c.additional_kwargs["pdr_progress"][0]["pdr"] for c in chunks[:-1]]
    kinds = [e["event"] for e in progress]
    assert kinds[0] == "round_started" and kinds.count("draft_finished") == 4 and kinds[-1] == "run_finished"
    assert all(c.content == "" for c in chunks[:-1]) and chunks[-1].content == invoked_content
    merged = chunks[0]
    for c in chunks[1:]:
        merged += c
    assert merged.content == invoked_content
    assert [p["pdr"] for p in merged.additional_kwargs["pdr_progress"]] == progress  # nothing merged away
    assert merged.usage_metadata["total_tokens"] == merged.response_metadata["b_total"]


def test_chat_model_stream_sends_progress_then_the_answer(tmp_path):
    fake = ScriptedChatModel(delay=0.05)
    chat = PDRChatModel(model=fake, config=CONFIG, db=str(tmp_path / "runs.sqlite"))
    seen_before_end = []
    chunks = []
    for chunk in chat.stream(CONVERSATION):
        chunks.append(chunk)
        seen_before_end.append(len(fake.log))
    assert seen_before_end[0] < 4  # the first progress came before the run ended
    check_stream(chunks, chat.invoke(CONVERSATION).content)


async def test_chat_model_async_invoke_and_stream(tmp_path):
    chat = PDRChatModel(model=ScriptedChatModel(), config=CONFIG, db=str(tmp_path / "runs.sqlite"))
    reply = await chat.ainvoke(CONVERSATION)
    assert reply.response_metadata["answer"] == "20"
    chunks = [c async for c in chat.astream(CONVERSATION)]
    check_stream(chunks, reply.content)


def test_chat_model_over_a_real_openai_compatible_server(tmp_path, monkeypatch):
    from langchain_openai import ChatOpenAI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAIServer() as server:
        inner = ChatOpenAI(model="fake-model", base_url=server.base_url, use_responses_api=False)
        reply = PDRChatModel(model=inner, config=CONFIG, db=str(tmp_path / "r.sqlite")).invoke(CONVERSATION)
        billed = sum(r.prompt_tokens + r.completion_tokens for r in server.requests)
    assert reply.response_metadata["answer"] == "42"
    assert reply.usage_metadata["total_tokens"] == billed == reply.response_metadata["b_total"]
    first = server.requests[0].body["messages"][0]
    assert first == {"role": "system", "content": "Answer like a patient teacher."}


def test_chat_model_needs_a_user_message():
    chat = PDRChatModel(model=ScriptedChatModel(), config=CONFIG, db=":memory:")
    with pytest.raises(ValueError, match="no"):
        chat.invoke([SystemMessage("only a system message")])


class ToolCallingFake(ScriptedChatModel):
    """Calls the PDR tool once, then answers with what the tool returned."""

    def bind_tools(self, tools, **kwargs):
        return self


def test_tool_in_an_agent(tmp_path):
    from langchain.agents import create_agent

    inner = ScriptedChatModel()
    tool = create_pdr_tool(model=inner, config=CONFIG, db=str(tmp_path / "runs.sqlite"))

    def script(call):
        if "draft r2" in call.prompt:  # the tool's answer came back
            return "The tool says 20."
        return "calling"

    agent_model = ToolCallingFake(script=script)
    original = agent_model._finish

    def finish(call):
        result = original(call)
        if call.reply == "calling":
            result.generations[0].message.tool_calls = [
                {
                    "name": "pdr_solve",
                    "args": {"question": "What is 6 * 7?"},
                    "id": "call-1",
                    "type": "tool_call",
                }
            ]
        return result

    object.__setattr__(agent_model, "_finish", finish)
    agent = create_agent(agent_model, tools=[tool])
    out = agent.invoke({"messages": [HumanMessage("Please solve: what is 6 * 7?")]})
    tool_message = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert tool_message.content.endswith("\\boxed{20}") and tool_message.artifact["answer"] == "20"
    run = inspect_run(tool_message.artifact["thread_id"], tmp_path / "runs.sqlite")
    assert run.question == "What is 6 * 7?"
    assert out["messages"][-1].content == "The tool says 20."
    assert len(inner.calls("draft")) == 4


class Parent(TypedDict, total=False):
    question: str
    answer: str | None
    notes: Annotated[list[str], operator.add]


def test_pdr_graph_as_a_subgraph_node():
    from langgraph.graph import END, START, StateGraph

    pdr = create_pdr_graph(CONFIG).compile()
    parent = StateGraph(Parent, context_schema=PDRContext)
    parent.add_node("plan", lambda state: {"notes": ["planned"]})
    parent.add_node("pdr", pdr)
    parent.add_node("report", lambda state: {"notes": [f"answer {state['answer']}"]})
    parent.add_edge(START, "plan")
    parent.add_edge("plan", "pdr")
    parent.add_edge("pdr", "report")
    parent.add_edge("report", END)
    fake = ScriptedChatModel()
    out = parent.compile().invoke(
        {"question": "What is 6 * 7?", "notes": ["asked"]}, context=PDRContext(model=fake, config=CONFIG)
    )
    assert out["answer"] == "20"
    assert out["notes"] == ["asked", "planned", "answer 20"]  # the parent's reducer saw no duplicate
    assert set(out) == {"question", "answer", "notes"}  # only the declared output came back
    assert len(fake.calls("draft")) == 4


def test_tool_turns_in_the_history_reach_the_drafts_as_text():
    fake = ScriptedChatModel()
    chat = PDRChatModel(model=fake, config=PDRConfig(method="single"), db=":memory:")
    chat.invoke(
        [
            HumanMessage("look it up"),
            AIMessage("", tool_calls=[{"name": "search", "args": {}, "id": "t1", "type": "tool_call"}]),
            ToolMessage("6 * 7 is 42", tool_call_id="t1", name="search"),
            HumanMessage("So what is 6 * 7?"),
        ]
    )
    prompt = fake.calls("draft")[0].prompt
    assert prompt.startswith("look it up\n[result of tool search] 6 * 7 is 42\n")


class _Opened(Exception):
    """Raised where the model would be opened: the run's config is settled by then."""


def test_the_embedded_models_defaults_fill_what_a_config_leaves_out(tmp_path, monkeypatch):
    """On the embedded local model, `run_pdr`, `arun_pdr`, the chat model and the tool fill what a
    config given as None or a dict leaves out with that model's defaults (self-consistency in windows
    4,4 with early_stop 0.75; for PDR 4,4, majority_k, early_stop 1.0), as `pdr run` does; a
    `PDRConfig` is taken as it is; a model served at a base URL gets `PDRConfig`'s defaults."""
    import asyncio

    from langgraph_pdr import arun_pdr, run_pdr
    from langgraph_pdr.runner import running

    seen = []

    def opened(model, *, config, **options):
        seen.append((config.method, config.schedule, config.distiller, config.early_stop, config.k))
        raise _Opened

    monkeypatch.setattr(running, "open_model", opened)
    db = str(tmp_path / "runs.sqlite")
    runs = [
        lambda: run_pdr("q?", model="local", db=db),
        lambda: run_pdr("q?", model="local:qwen2.5-coder-0.5b", config={"schedule": "4,2,1"}, db=db),
        lambda: run_pdr("q?", model="local", config={"method": "single"}, db=db),
        lambda: run_pdr("q?", model="local", config=PDRConfig(), db=db),
        lambda: run_pdr("q?", model="local", base_url="http://127.0.0.1:9/v1", db=db),
        lambda: asyncio.run(arun_pdr("q?", model="local", db=db)),
        lambda: PDRChatModel(model="local", db=db).invoke("q?"),
        lambda: PDRChatModel(model="local", config=PDRConfig(schedule="2,1"), db=db).invoke("q?"),
        lambda: create_pdr_tool(model="local", config={"k": 1}, db=db).invoke({"question": "q?"}),
    ]
    for run in runs:
        with pytest.raises(_Opened):
            run()
    local = ("self_consistency", (4, 4), "global_summary", 0.75, 2)  # self-consistency in windows
    paper = ("pdr", (4, 2, 1), "global_summary", None, 2)
    assert seen == [
        local,
        ("pdr", (4, 2, 1), "majority_k", 1.0, 2),
        ("single", (1,), "global_summary", None, 2),  # the defaults are PDR's only
        paper,
        paper,
        local,
        local,
        ("pdr", (2, 1), "global_summary", None, 2),
        ("pdr", (4, 4), "majority_k", 1.0, 1),  # k is PDR's: PDR's defaults
    ]
