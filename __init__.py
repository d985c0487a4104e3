"""langgraph-pdr: Parallel-Distill-Refine and Sequential Refinement as LangGraph state machines."""

from langgraph_pdr.chat_model import PDRChatModel
from langgraph_pdr.checkpoints.ledger import (
    LeaseLostError,
    RunExistsError,
    RunLockedError,
    RunNotFoundError,
    SchemaError,
)
from langgraph_pdr.graphs import create_pdr_graph, draw_graph, graph_config
from langgraph_pdr.models import ModelError
from langgraph_pdr.nodes.distill import (
    BaseDistiller,
    Distiller,
    DistillRequest,
    Generation,
    get_distiller,
    register_distiller,
)
from langgraph_pdr.nodes.prompts import get_prompts, register_prompts
from langgraph_pdr.nodes.python_tool import PythonRun, python_tool, run_python
from langgraph_pdr.nodes.tokens import Utf8TokenCounter
from langgraph_pdr.nodes.tools import register_tool
from langgraph_pdr.runner import aresume_pdr, arun_pdr, inspect_run, list_runs, resume_pdr, run_pdr
from langgraph_pdr.state import (
    CallRecord,
    Draft,
    DraftTurn,
    Judgment,
    MaxTokens,
    PDRConfig,
    PDRContext,
    PDRResult,
    PromptSet,
    RoundRecord,
    RunSummary,
    Temperatures,
    TokenCounter,
    ToolCall,
    Verification,
    Workspace,
)
from langgraph_pdr.tool import create_pdr_tool
from langgraph_pdr.view import render_run_html

__all__ = [
    "BaseDistiller",
    "CallRecord",
    "DistillRequest",
    "Generation",
    "Distiller",
    "Draft",
    "DraftTurn",
    "Judgment",
    "LeaseLostError",
    "MaxTokens",
    "ModelError",
    "PDRChatModel",
    "PDRConfig",
    "PDRContext",
    "PDRResult",
    "PromptSet",
    "PythonRun",
    "RoundRecord",
    "RunExistsError",
    "RunLockedError",
    "RunNotFoundError",
    "RunSummary",
    "SchemaError",
    "Temperatures",
    "TokenCounter",
    "ToolCall",
    "Utf8TokenCounter",
    "Verification",
    "Workspace",
    "aresume_pdr",
    "arun_pdr",
    "create_pdr_graph",
    "create_pdr_tool",
    "draw_graph",
    "get_distiller",
    "get_prompts",
    "graph_config",
    "inspect_run",
    "list_runs",
    "python_tool",
    "register_distiller",
    "register_prompts",
    "register_tool",
    "render_run_html",
    "resume_pdr",
    "run_pdr",
    "run_python",
]
