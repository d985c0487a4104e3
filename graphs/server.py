"""Graphs for LangGraph Server and `langgraph dev` (see `langgraph.json` at the repository root).

They are compiled without a checkpointer (the server brings its own persistence) and take a JSON
context, `ServerContext`: `{"model": "openai:gpt-4.1-mini"}` or `{"model": NAME, "base_url": URL}`, and
optionally `"config": {PDRConfig fields}` for a method of the graph's family (`pdr`; `sr`/`sr_error`).
Progress comes as custom stream events (`stream_mode="custom"`).
"""

from __future__ import annotations

from typing import Any

from langgraph_pdr.graphs.pdr import create_pdr_graph
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.context import ServerContext

#: Enough supersteps for any schedule a context may ask for.
RECURSION_LIMIT = 1000


def _served(config: PDRConfig) -> Any:  # a compiled graph, with its recursion limit
    graph = create_pdr_graph(config, context_schema=ServerContext).compile(name=f"pdr-{config.method}")
    return graph.with_config(recursion_limit=RECURSION_LIMIT)


pdr = _served(PDRConfig())
sr = _served(PDRConfig(method="sr"))
