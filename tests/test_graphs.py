"""The shape of each method's graph, as a mermaid snapshot."""

from __future__ import annotations

import pytest

from langgraph_pdr import PDRConfig, create_pdr_graph
from langgraph_pdr.state.config import METHODS


@pytest.mark.parametrize("method", METHODS)
def test_graph_mermaid(method, snapshot):
    graph = create_pdr_graph(PDRConfig(method=method)).compile()
    assert graph.get_graph().draw_mermaid(with_styles=False) == snapshot


def test_graph_is_uncompiled_and_has_io_schemas():
    from langgraph.graph import StateGraph

    builder = create_pdr_graph(PDRConfig())
    assert isinstance(builder, StateGraph)
    graph = builder.compile()
    assert set(graph.get_input_jsonschema()["properties"]) == {
        "question",
        "history",
        "gold",
        "images",
        "tests",
    }
    assert set(graph.get_output_jsonschema()["properties"]) == {
        "answer",
        "text",
        "b_seq",
        "b_total",
        "stop_reason",
    }
