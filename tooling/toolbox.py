"""The tools a draft may call: the built-in ones by name, the run's tool set, and how one tool call runs.

`PDRConfig(tools=["python"])` names built-in tools (stored with the run; a resume builds them again);
`run_pdr(tools=[...])` adds LangChain tool objects, which a resume must be given again, like a model
object. A model offered the tools natively calls them (`tool_format` `native` or `auto`); a model
without reliable tool calls writes a fenced ```python block and ends its reply, and the block runs as a
`python` call (`fenced`, and `auto` when a reply calls no tool). A tool's failure is its result, cut to
`TOOL_RESULT_TOKENS`, never an error of the run; so is a call that does not return within the run's
`tool_timeout` (the draft stops waiting for it and goes on). Tools that are only async (a coroutine)
run too, in the sync API as in the async one.

(`langgraph_pdr.integrations.langchain_tool` is the other way round: a whole PDR run as a tool for an agent.)
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import re
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.tools import BaseTool, ToolException

from langgraph_pdr.budgets.accounting import TOOL_RESULT_TOKENS
from langgraph_pdr.calls.token_count import cut_to_tokens
from langgraph_pdr.selection.answer_votes import last_boxed
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.context import TokenCounter
from langgraph_pdr.state.records import ToolCall
from langgraph_pdr.state.registry import TOOLS
from langgraph_pdr.tooling.sandboxed_python import python_tool

__all__ = [
    "ALLOW_TOOLS_ENV",
    "FENCE_STOP",
    "TOOL_RESULT_TOKENS",
    "ToolSet",
    "allowed_tools",
    "check_allowed",
    "fenced_code",
    "register_tool",
    "run_tool_call",
    "tool_set",
]

#: Built-in tools a server runs for its clients, comma-separated (`PDR_ALLOW_TOOLS=python`): the
#: operator's choice, read by graphs served with a JSON context (LangGraph Server, `langgraph dev`) and
#: by `pdr serve` (where `--allow-tools` says the same). Unset: a request that names a tool is refused.
ALLOW_TOOLS_ENV = "PDR_ALLOW_TOOLS"


def register_tool(name: str, factory: Any, *, replace: bool = False) -> Any:
    """Register a built-in tool: `factory()` returns a LangChain tool named `name`, which
    `PDRConfig(tools=[name])` then names (and a resume rebuilds in any process that registered it).

    Example:
        ```python
        from langchain_core.tools import tool
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.tooling.toolbox import register_tool

        @tool
        def word_count(text: str) -> int:
            \"\"\"Count the words of a text.\"\"\"
            return len(text.split())

        register_tool("word_count", lambda: word_count, replace=True)
        assert PDRConfig(tools=["python", "word_count"]).tools == ("python", "word_count")
        ```
    """
    return TOOLS.register(name, factory, replace=replace)


if "python" not in TOOLS:
    register_tool("python", python_tool)


def allowed_tools(value: str | None = None) -> tuple[str, ...]:
    """The tool names of a comma-separated list (default: `$PDR_ALLOW_TOOLS`), each once.

    Example:
        ```python
        from langgraph_pdr.tooling.toolbox import allowed_tools

        assert allowed_tools("python, python,") == ("python",) and allowed_tools("") == ()
        ```
    """
    text = os.environ.get(ALLOW_TOOLS_ENV, "") if value is None else value
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


def check_allowed(names: Sequence[str], allowed: Sequence[str], *, how: str) -> None:
    """Refuse built-in tools a server was not started with.

    Raises:
        ValueError: `tools: this server does not run the NAME tool; ...`, saying `how` its operator allows it.

    Example:
        ```python
        from langgraph_pdr.tooling.toolbox import check_allowed

        check_allowed(["python"], ["python"], how="--allow-tools python")
        try:
            check_allowed(["python"], [], how="--allow-tools python")
        except ValueError as exc:
            assert "does not run the python tool" in str(exc)
        ```
    """
    refused = [name for name in names if name not in allowed]
    if refused:
        listed = ", ".join(refused)
        raise ValueError(
            f"tools: this server does not run the {listed} tool{'s' if len(refused) > 1 else ''} for its "
            f"clients; its operator can allow {'them' if len(refused) > 1 else 'it'} with "
            f"{how.format(names=','.join(refused))}"
        )


class ToolSet:
    """The tools of one run, by name: the built-in ones its config names, then the objects it was given."""

    def __init__(self, tools: Sequence[BaseTool]) -> None:
        self.tools = list(tools)
        self.by_name = {t.name: t for t in self.tools}
        self.bound: Any = None  # the run's model with these tools bound, if it takes them (draft node)

    def __bool__(self) -> bool:
        return bool(self.tools)

    @property
    def native(self) -> bool:
        """Whether the run's model takes these tools in its requests."""
        return self.bound is not None

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tools]

    def describe(self) -> str:
        """The tools as a draft's prompt lists them: `name (what it does)`, joined."""
        return "; ".join(f"{t.name} ({(t.description or '').strip().splitlines()[0]})" for t in self.tools)


def tool_set(config: PDRConfig, extra: Sequence[BaseTool] | None = None) -> ToolSet:
    """The run's tools: each built-in tool `config.tools` names, then `extra` (LangChain tools).

    Raises:
        ValueError: an object that is not a LangChain tool, or two tools with one name.

    Example:
        ```python
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.tooling.toolbox import tool_set

        tools = tool_set(PDRConfig(tools=["python"]))
        assert tools.names == ["python"] and not tool_set(PDRConfig())
        ```
    """
    built = [TOOLS.get(name)() for name in config.tools]
    for t in extra or []:
        if not isinstance(t, BaseTool):
            raise ValueError(
                f"tools: {t!r} is not a LangChain tool (make one with langchain_core.tools.tool)"
            )
    tools = [*built, *(extra or [])]
    seen: set[str] = set()
    for t in tools:
        if t.name in seen:
            raise ValueError(f"tools: two tools are named {t.name!r}")
        seen.add(t.name)
    return ToolSet(tools)


_FENCE = re.compile(r"```(?:python|py|python3)[ \t]*\n(.*?)```", re.S)
_OPEN_FENCE = re.compile(r"```(?:python|py|python3)[ \t]*\n(?!.*```)", re.S)

#: The stop sequence of a fenced-code turn: the reply ends where its code block closes, so the model
#: reads what the code printed instead of guessing it.
FENCE_STOP = "\n```\n"


def fenced_code(text: str, *, stopped: bool = False) -> str | None:
    """The code of a reply that asks to run Python: its last closed ```python block, when the reply
    gives no final answer (a reply with `\\boxed{}` is done, whatever code it shows). With `stopped`
    (the reply ended on `FENCE_STOP`, which the provider leaves out), a block left open at the end of
    the reply counts as closed.

    Example:
        ```python
        from langgraph_pdr.tooling.toolbox import fenced_code

        assert fenced_code("Let me compute.\\n```python\\nprint(17 * 23)\\n```") == "print(17 * 23)\\n"
        assert fenced_code("```python\\nprint(1)\\n```\\nSo the answer is \\\\boxed{1}.") is None
        assert fenced_code("Let me compute.\\n```python\\nprint(2)", stopped=True) == "print(2)\\n"
        ```
    """
    if last_boxed(text) is not None:
        return None
    if stopped and _OPEN_FENCE.search(text):
        text = text.rstrip() + "\n```"
    blocks = _FENCE.findall(text)
    code = blocks[-1] if blocks else None
    return code if code is not None and code.strip() else None


def _result_text(value: Any) -> str:
    """A tool's result as the model reads it: a string, a ToolMessage's content, or the text of a list
    of content blocks (what MCP tools return; a block that is not text is named, e.g. `[image]`)."""
    if isinstance(value, str):
        return value
    content = getattr(value, "content", None)  # a ToolMessage
    if isinstance(content, str):
        return content
    blocks = value if content is None else content
    if isinstance(blocks, list) and all(isinstance(b, (str, dict)) for b in blocks):
        return "\n".join(
            b if isinstance(b, str) else str(b["text"]) if "text" in b else f"[{b.get('type', 'block')}]"
            for b in blocks
        )
    return str(blocks)


def _invoke(tool: BaseTool, args: dict[str, Any]) -> Any:
    """Call a tool from a worker thread: its sync implementation, or its coroutine when it has only that."""
    if getattr(tool, "func", ...) is None and getattr(tool, "coroutine", None) is not None:
        return asyncio.run(tool.ainvoke(args))
    return tool.invoke(args)


def _invoke_within(tool: BaseTool, args: dict[str, Any], timeout: float | None) -> Any:
    """`_invoke` in a daemon thread, waiting at most `timeout` seconds (a Python thread cannot be
    stopped: a tool that hangs is left to finish on its own, and never holds up the process's exit).

    Raises:
        TimeoutError: the tool did not return in time.
    """
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = _invoke(tool, args)
        except BaseException as exc:  # raised again in the caller's thread
            outcome["error"] = exc

    context = contextvars.copy_context()  # the caller's tracing and callbacks go with the call
    worker = threading.Thread(target=context.run, args=(call,), name=f"pdr-tool-{tool.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"the tool did not return within {timeout:g} s; the draft stopped waiting for it")
    error = outcome.get("error")
    if isinstance(error, Exception):
        raise error
    if error is not None:  # SystemExit and the like: the tool's failure, not the process's
        raise RuntimeError(f"the tool raised {type(error).__name__}: {error}") from error
    return outcome.get("value")


def run_tool_call(
    tools: ToolSet,
    name: str,
    args: dict[str, Any],
    counter: TokenCounter,
    *,
    id: str = "",
    fenced: bool = False,
    timeout: float | None = None,
) -> ToolCall:
    """Run one tool call; a failure (an unknown tool, bad arguments, an exception, no result within
    `timeout` seconds) is its result.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, Utf8TokenCounter
        from langgraph_pdr.tooling.toolbox import run_tool_call, tool_set

        tools = tool_set(PDRConfig(tools=["python"]))
        call = run_tool_call(tools, "python", {"code": "print(17 * 23)"}, Utf8TokenCounter())
        assert "391" in call.output and not call.error
        assert run_tool_call(tools, "shell", {}, Utf8TokenCounter()).error
        ```
    """
    tool = tools.by_name.get(name)
    if tool is None:
        output, error = f"error: no tool named {name!r}; the tools are: {', '.join(tools.names)}", True
    else:
        try:
            output = _result_text(_invoke_within(tool, args, timeout))
            error = "\nexception: " in f"\n{output}" if name == "python" else False
        except Exception as exc:  # the model reads what went wrong, the run goes on
            kind = (
                "ToolException" if isinstance(exc, ToolException) else type(exc).__name__
            )  # MCP's is private
            output, error = f"error: {kind}: {exc}", True
    output = cut_to_tokens(output, TOOL_RESULT_TOKENS, counter)
    return ToolCall(id=id, name=name, args=dict(args), output=output, error=error, fenced=fenced)
