"""langgraph-pdr: Parallel-Distill-Refine and Sequential Refinement as LangGraph state machines.

Every public name is imported on first use (PEP 562), so `import langgraph_pdr` and the `pdr` command
start fast; `from langgraph_pdr import run_pdr` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langgraph_pdr.budgets.accounting import CapTooSmall
    from langgraph_pdr.calls.token_count import Utf8TokenCounter
    from langgraph_pdr.checking import (
        BaseVerifier,
        CheckRequest,
        Verifier,
        get_verifier,
        register_verifier,
    )
    from langgraph_pdr.checkpoints.ledger import (
        LeaseLostError,
        RunExistsError,
        RunLockedError,
        RunNotFoundError,
        SchemaError,
    )
    from langgraph_pdr.graphs import create_pdr_graph, draw_graph, graph_config
    from langgraph_pdr.integrations.langchain_chat import PDRChatModel
    from langgraph_pdr.integrations.langchain_tool import create_pdr_tool
    from langgraph_pdr.models import ContextExceeded, ModelError
    from langgraph_pdr.nodes.distill import (
        BaseDistiller,
        Distiller,
        DistillRequest,
        Generation,
        get_distiller,
        register_distiller,
    )
    from langgraph_pdr.prompting.prompt_catalog import get_prompts, register_prompts
    from langgraph_pdr.runner import (
        aresume_interrupted,
        aresume_pdr,
        arun_pdr,
        inspect_run,
        interrupted_runs,
        list_runs,
        resume_interrupted,
        resume_pdr,
        run_pdr,
    )
    from langgraph_pdr.state import (
        CallRecord,
        Check,
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
        TestResult,
        TokenCounter,
        ToolCall,
        Verification,
        Workspace,
    )
    from langgraph_pdr.tooling.mcp_client import load_mcp_tools
    from langgraph_pdr.tooling.sandboxed_python import PythonRun, python_tool, run_python
    from langgraph_pdr.tooling.toolbox import register_tool
    from langgraph_pdr.view import render_run_html

#: The module of each public name.
_MODULES: dict[str, str] = {
    "PDRChatModel": "langgraph_pdr.integrations.langchain_chat",
    "CapTooSmall": "langgraph_pdr.budgets.accounting",
    "LeaseLostError": "langgraph_pdr.checkpoints.ledger",
    "RunExistsError": "langgraph_pdr.checkpoints.ledger",
    "RunLockedError": "langgraph_pdr.checkpoints.ledger",
    "RunNotFoundError": "langgraph_pdr.checkpoints.ledger",
    "SchemaError": "langgraph_pdr.checkpoints.ledger",
    "create_pdr_graph": "langgraph_pdr.graphs",
    "draw_graph": "langgraph_pdr.graphs",
    "graph_config": "langgraph_pdr.graphs",
    "ContextExceeded": "langgraph_pdr.models",
    "ModelError": "langgraph_pdr.models",
    "load_mcp_tools": "langgraph_pdr.tooling.mcp_client",
    "BaseDistiller": "langgraph_pdr.nodes.distill",
    "Distiller": "langgraph_pdr.nodes.distill",
    "DistillRequest": "langgraph_pdr.nodes.distill",
    "Generation": "langgraph_pdr.nodes.distill",
    "get_distiller": "langgraph_pdr.nodes.distill",
    "register_distiller": "langgraph_pdr.nodes.distill",
    "get_prompts": "langgraph_pdr.prompting.prompt_catalog",
    "register_prompts": "langgraph_pdr.prompting.prompt_catalog",
    "PythonRun": "langgraph_pdr.tooling.sandboxed_python",
    "python_tool": "langgraph_pdr.tooling.sandboxed_python",
    "run_python": "langgraph_pdr.tooling.sandboxed_python",
    "Utf8TokenCounter": "langgraph_pdr.calls.token_count",
    "register_tool": "langgraph_pdr.tooling.toolbox",
    "BaseVerifier": "langgraph_pdr.checking",
    "CheckRequest": "langgraph_pdr.checking",
    "Verifier": "langgraph_pdr.checking",
    "get_verifier": "langgraph_pdr.checking",
    "register_verifier": "langgraph_pdr.checking",
    "aresume_interrupted": "langgraph_pdr.runner",
    "aresume_pdr": "langgraph_pdr.runner",
    "interrupted_runs": "langgraph_pdr.runner",
    "resume_interrupted": "langgraph_pdr.runner",
    "arun_pdr": "langgraph_pdr.runner",
    "inspect_run": "langgraph_pdr.runner",
    "list_runs": "langgraph_pdr.runner",
    "resume_pdr": "langgraph_pdr.runner",
    "run_pdr": "langgraph_pdr.runner",
    "CallRecord": "langgraph_pdr.state",
    "Check": "langgraph_pdr.state",
    "Draft": "langgraph_pdr.state",
    "DraftTurn": "langgraph_pdr.state",
    "Judgment": "langgraph_pdr.state",
    "MaxTokens": "langgraph_pdr.state",
    "PDRConfig": "langgraph_pdr.state",
    "PDRContext": "langgraph_pdr.state",
    "PDRResult": "langgraph_pdr.state",
    "PromptSet": "langgraph_pdr.state",
    "RoundRecord": "langgraph_pdr.state",
    "RunSummary": "langgraph_pdr.state",
    "Temperatures": "langgraph_pdr.state",
    "TestResult": "langgraph_pdr.state",
    "TokenCounter": "langgraph_pdr.state",
    "ToolCall": "langgraph_pdr.state",
    "Verification": "langgraph_pdr.state",
    "Workspace": "langgraph_pdr.state",
    "create_pdr_tool": "langgraph_pdr.integrations.langchain_tool",
    "render_run_html": "langgraph_pdr.view",
}

__all__ = [
    "BaseDistiller",
    "BaseVerifier",
    "CallRecord",
    "CapTooSmall",
    "Check",
    "CheckRequest",
    "ContextExceeded",
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
    "TestResult",
    "TokenCounter",
    "ToolCall",
    "Utf8TokenCounter",
    "Verification",
    "Verifier",
    "Workspace",
    "aresume_interrupted",
    "aresume_pdr",
    "arun_pdr",
    "create_pdr_graph",
    "create_pdr_tool",
    "draw_graph",
    "get_distiller",
    "get_prompts",
    "get_verifier",
    "graph_config",
    "inspect_run",
    "interrupted_runs",
    "list_runs",
    "load_mcp_tools",
    "python_tool",
    "register_distiller",
    "register_prompts",
    "register_tool",
    "register_verifier",
    "render_run_html",
    "resume_interrupted",
    "resume_pdr",
    "run_pdr",
    "run_python",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562); `__version__` is the installed version."""
    if name == "__version__":
        from importlib.metadata import version

        return version("langgraph-pdr")
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'langgraph_pdr' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
