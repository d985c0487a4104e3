"""A tool-using draft as the next call reads it: the code it ran and what the code printed, compactly,
then its final text.

Workspaces (extractive and summarized), self-verification and SR's critique show a draft through
`draft_body`, so what a draft computed with its tools reaches the next round as evidence, not only
the prose that cites it. A draft without tool calls is its text.
"""

from __future__ import annotations

from langgraph_pdr.state.records import Draft, ToolCall


def tool_step(call: ToolCall) -> str:
    """One tool call and its result, compactly (a `python` call as its code and its output, without the
    line that names its sandbox)."""
    output = call.output.strip()
    if call.name == "python" and output.startswith("sandbox: "):
        output = output.partition("\n")[2]
    if output.startswith("stdout:\n") and "\nstderr:" not in output and "\nexception:" not in output:
        output = output.removeprefix("stdout:\n").strip()
    label = "Output (error)" if call.error else "Output"
    if call.name == "python" and "code" in call.args:
        code = str(call.args["code"]).strip()
        return f"```python\n{code}\n```\n{label}:\n{output}"
    args = ", ".join(f"{k}={v!r}" for k, v in call.args.items())
    return f"Called {call.name}({args}).\n{label}:\n{output}"


def draft_body(draft: Draft) -> str:
    """The draft as later calls read it: each tool call with its result, then the final text.

    Example:
        ```python
        from langgraph_pdr import Draft, DraftTurn, ToolCall
        from langgraph_pdr.tooling.transcript import draft_body

        output = "sandbox: namespaces, ...\\nstdout:\\n391\\n"
        code = ToolCall(name="python", args={"code": "print(17 * 23)"}, output=output)
        turns = [DraftTurn(round=1, index=0, turn=0, text="Let me compute.", tool_calls=[code]),
                 DraftTurn(round=1, index=0, turn=1, text="So \\\\boxed{391}.")]
        draft = Draft(round=1, index=0, text="So \\\\boxed{391}.", answer="391", turns=turns)
        assert draft_body(draft) == "```python\\nprint(17 * 23)\\n```\\nOutput:\\n391\\n\\nSo \\\\boxed{391}."
        ```
    """
    steps = [tool_step(c) for t in draft.turns for c in t.tool_calls]
    if not steps:
        return draft.text
    return "\n\n".join([*steps, draft.text])


def used_tools(drafts: list[Draft]) -> bool:
    """Whether any of `drafts` called a tool."""
    return any(t.tool_calls for d in drafts for t in d.turns)
