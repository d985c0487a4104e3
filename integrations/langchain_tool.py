"""PDR as a tool for agents (`langchain.agents.create_agent`, `ToolNode`)."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from langgraph_pdr.integrations.langchain_chat import metadata_of
from langgraph_pdr.runner import arun_pdr, run_pdr
from langgraph_pdr.state.config import PDRConfig

DESCRIPTION = (
    "Solve a hard reasoning or math problem carefully: several drafts are written in parallel, "
    "distilled and refined. Give the complete problem statement. Returns a worked solution "
    "ending with the final answer in \\boxed{}."
)


class PDRToolInput(BaseModel):
    question: str = Field(description="the complete problem to solve, with every number and condition")
    images: list[str] = Field(
        default_factory=list, description="images of the problem: file paths or http(s) URLs (optional)"
    )
    tests: str | None = Field(
        None,
        description="for a programming task: Python asserts the program must pass, one per line, e.g. "
        "assert add(2, 2) == 4 (optional); the answer is then a program checked against them",
    )


def create_pdr_tool(
    *,
    model: Any,
    config: PDRConfig | dict[str, Any] | None = None,
    db: str | None = None,
    base_url: str | None = None,
    timeout: float | None = None,
    name: str = "pdr_solve",
    description: str = DESCRIPTION,
) -> BaseTool:
    """A tool that answers a question with a PDR run over `model`.

    The tool's content is the final solution (ending with `\\boxed{}`); its artifact is the run's
    summary (`answer`, `b_seq`, `b_total`, `thread_id`, `method`, ...), which agents do not see but
    `ToolMessage.artifact` keeps.

    Args:
        model: the chat model the drafts use, or a model string as for `run_pdr`.
        config: the method, schedule, distiller and budgets (default `PDRConfig()`; on the embedded
            local model, its defaults where the config names none, as `run_pdr`).
        db: where runs are checkpointed (default: `$PDR_DB`, else the user data directory).
        base_url: an OpenAI-compatible server for a model string.
        timeout: seconds a model call may take (model strings).
        name: the tool's name.
        description: what the calling model reads about the tool.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import create_pdr_tool

        inner = GenericFakeChatModel(messages=iter([AIMessage("6 * 7 = 42, \\\\boxed{42}")] * 3))
        tool = create_pdr_tool(model=inner, config={"schedule": "2,1", "distiller": "random_k", "k": 1},
                               db=":memory:")
        assert tool.invoke({"question": "What is 6 * 7?"}).endswith("\\\\boxed{42}")
        ```
    """
    options = {"model": model, "config": config, "db": db, "base_url": base_url, "timeout": timeout}

    def solve(
        question: str, images: list[str] | None = None, tests: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        result = run_pdr(question, images=images or None, tests=tests or None, **options)
        return result.text, metadata_of(result)

    async def asolve(
        question: str, images: list[str] | None = None, tests: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        result = await arun_pdr(question, images=images or None, tests=tests or None, **options)
        return result.text, metadata_of(result)

    return StructuredTool.from_function(
        func=solve,
        coroutine=asolve,
        name=name,
        description=description,
        args_schema=PDRToolInput,
        response_format="content_and_artifact",
    )
