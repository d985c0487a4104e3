"""Wiring: the PDR, SR and baseline graphs, built from the nodes."""

from langgraph_pdr.graphs.pdr import create_pdr_graph, draw_graph, graph_config

__all__ = ["create_pdr_graph", "draw_graph", "graph_config"]
