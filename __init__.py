"""langgraph-pdr: Parallel-Distill-Refine and Sequential Refinement as LangGraph state machines."""

from langgraph_pdr.graphs import create_pdr_graph, graph_config
from langgraph_pdr.nodes.distill import (
    BaseDistiller,
    Distiller,
    DistillRequest,
    get_distiller,
    register_distiller,
)
from langgraph_pdr.nodes.tokens import Utf8TokenCounter
from langgraph_pdr.runner import arun_pdr, run_pdr
from langgraph_pdr.state import (
    CallRecord,
    Draft,
    MaxTokens,
    PDRConfig,
    PDRContext,
    PDRResult,
    RoundRecord,
    Temperatures,
    TokenCounter,
    Verification,
    Workspace,
)

__all__ = [
    "BaseDistiller",
    "CallRecord",
    "DistillRequest",
    "Distiller",
    "Draft",
    "MaxTokens",
    "PDRConfig",
    "PDRContext",
    "PDRResult",
    "RoundRecord",
    "Temperatures",
    "TokenCounter",
    "Utf8TokenCounter",
    "Verification",
    "Workspace",
    "arun_pdr",
    "create_pdr_graph",
    "get_distiller",
    "graph_config",
    "register_distiller",
    "run_pdr",
]
