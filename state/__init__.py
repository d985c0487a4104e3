"""Declarations: the run configuration, the graph state, records and the result."""

from langgraph_pdr.state.config import (
    DEFAULT_SCHEDULES,
    METHODS,
    MaxTokens,
    PDRConfig,
    Temperatures,
)
from langgraph_pdr.state.context import PDRContext, RunRecorder, TokenCounter
from langgraph_pdr.state.graph_state import DraftTask, PDRInput, PDROutput, PDRState, VerifyTask
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.state.records import (
    CallRecord,
    Check,
    Draft,
    DraftTurn,
    Judgment,
    KeptReply,
    RoundRecord,
    TestResult,
    ToolCall,
    Verification,
    Workspace,
)
from langgraph_pdr.state.registry import DISTILLERS, Registry
from langgraph_pdr.state.result import PDRResult, RunSummary
from langgraph_pdr.state.spec import ModelSpec, RunSpec

__all__ = [
    "DEFAULT_SCHEDULES",
    "DISTILLERS",
    "Judgment",
    "KeptReply",
    "METHODS",
    "CallRecord",
    "Check",
    "Draft",
    "DraftTurn",
    "DraftTask",
    "MaxTokens",
    "ModelSpec",
    "PDRConfig",
    "PDRContext",
    "PDRInput",
    "PDROutput",
    "PDRResult",
    "PDRState",
    "PromptSet",
    "Registry",
    "RoundRecord",
    "RunSpec",
    "RunSummary",
    "RunRecorder",
    "Temperatures",
    "TestResult",
    "TokenCounter",
    "ToolCall",
    "Verification",
    "VerifyTask",
    "Workspace",
]
