"""A tool-using draft: a bounded loop of model turns and tool calls, recorded turn by turn.

Each turn is one model call on the conversation so far (the draft's prompt, then every earlier turn
and what its tools returned). A turn that calls tools (natively, or with a fenced ```python block when
`tool_format` allows it) has them run, and the loop goes on; a turn that calls none ends the draft, and
its text is the draft's text. After `max_tool_calls` calls, the model is told to finish and offered no
tool. Each turn is written to the ledger as it ends (its call, and the turn with its tool results), so
a killed run resumes the draft from its last finished turn instead of paying for its turns again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langgraph_pdr.checking import read_draft
from langgraph_pdr.prompting.prompt_catalog import tool_template
from langgraph_pdr.runtime.environment import NodeEnv
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.records import CallRecord, Draft, DraftTurn, ToolCall
from langgraph_pdr.tooling.toolbox import FENCE_STOP, ToolSet, fenced_code, run_tool_call


def bind_tools(model: Any, tools: ToolSet) -> Any | None:
    """`model` with `tools` offered natively, or None when the model cannot take tools."""
    try:
        return model.bind_tools(tools.tools)
    except (NotImplementedError, AttributeError, TypeError, ValueError):
        return None


def asks_for_fenced_code(config: PDRConfig, tools: ToolSet) -> bool:
    """Whether drafts are asked for fenced ```python blocks instead of tool calls: `fenced`, or `auto`
    with a model that takes no tools in its requests."""
    return config.tool_format == "fenced" or (config.tool_format == "auto" and not tools.native)


def _requested_calls(reply: AIMessage) -> list[dict[str, Any]]:
    """The tool calls of a reply, those whose arguments did not parse included (marked `invalid`):
    each gets an answer, so the model can call again."""
    calls = [dict(tc) for tc in getattr(reply, "tool_calls", None) or []]
    for bad in getattr(reply, "invalid_tool_calls", None) or []:
        text = str(bad.get("args") or "")[:200]
        calls.append({"id": bad.get("id"), "name": bad.get("name"), "args": {}, "invalid": text or "empty"})
    return calls


@dataclass
class ToolLoop:
    """The state of one tool-using draft's loop: its conversation, turns and tool calls so far.

    Build it with `start` (replaying the turns a killed attempt recorded), then call `model()` on
    `messages` and hand the reply to `take` (which runs its tool calls) until `done`.
    """

    env: NodeEnv
    round: int
    index: int
    tools: ToolSet
    messages: list[BaseMessage]
    turns: list[DraftTurn] = field(default_factory=list)
    used: int = 0
    closing: bool = False

    @classmethod
    def start(
        cls,
        env: NodeEnv,
        round: int,
        index: int,
        tools: ToolSet,
        messages: list[BaseMessage],
        done: list[DraftTurn],
    ) -> ToolLoop:
        loop = cls(env, round, index, tools, list(messages))
        for turn in sorted(done, key=lambda t: t.turn):
            loop._extend(turn)
        return loop

    @property
    def limit(self) -> int:
        return self.env.config.max_tool_calls

    @property
    def native(self) -> bool:
        return self.env.config.tool_format != "fenced"

    @property
    def fenced(self) -> bool:
        return self.env.config.tool_format != "native" and "python" in self.tools.by_name

    @property
    def stop(self) -> list[str] | None:
        """The stop sequences of the next turn: when tools are called in fenced blocks only (`fenced`,
        or a model that takes no tools in its requests), the end of a code block."""
        if asks_for_fenced_code(self.env.config, self.tools) and self.fenced and not self.closing:
            return [FENCE_STOP]
        return None

    @property
    def done(self) -> bool:
        return bool(self.turns) and not self.turns[-1].tool_calls

    def model(self) -> Any:
        """The model for the next turn: with the tools offered natively while calls are left."""
        if self.native and not self.closing and self.tools.bound is not None:
            return self.tools.bound
        return self.env.model

    def take(self, reply: AIMessage, text: str, call: CallRecord) -> DraftTurn:
        """Book a turn's reply: run the tools it calls (within the limit) and extend the conversation."""
        calls: list[ToolCall] = []
        if not self.closing:
            native = _requested_calls(reply) if self.native else []
            if native:
                calls = [self._run(tc, i) for i, tc in enumerate(native)]
            elif self.fenced and call.finish_reason != "length":
                code = fenced_code(text, stopped=self.stop is not None)
                if code is not None:
                    calls = [self._python(code)]
        turn = DraftTurn(
            round=self.round, index=self.index, turn=len(self.turns), text=text, tool_calls=calls, call=call
        )
        self._extend(turn)
        return turn

    def _run(self, tc: dict[str, Any], i: int) -> ToolCall:
        id = str(tc.get("id") or f"call_{self.round}_{self.index}_{len(self.turns)}_{i}")
        name, args = str(tc.get("name") or ""), dict(tc.get("args") or {})
        if tc.get("invalid") is not None:
            output = f"error: the call's arguments are not valid JSON ({tc['invalid']}); call it again"
            return ToolCall(id=id, name=name, args=args, output=output, error=True)
        if self.used + i >= self.limit:
            output = f"not run: this draft has used all {self.limit} of its tool calls"
            return ToolCall(id=id, name=name, args=args, output=output, error=True)
        return run_tool_call(self.tools, name, args, self.env.counter, id=id, timeout=self._timeout)

    def _python(self, code: str) -> ToolCall:
        return run_tool_call(
            self.tools, "python", {"code": code}, self.env.counter, fenced=True, timeout=self._timeout
        )

    @property
    def _timeout(self) -> float | None:
        return self.env.config.tool_timeout

    def _extend(self, turn: DraftTurn) -> None:
        """Add a turn (live, or recorded by an earlier attempt) to the conversation."""
        self.turns.append(turn)
        if not turn.tool_calls:
            return
        native = [c for c in turn.tool_calls if not c.fenced]
        if native:
            requests = [{"id": c.id, "name": c.name, "args": c.args, "type": "tool_call"} for c in native]
            self.messages.append(AIMessage(content=turn.text, tool_calls=requests))
            self.messages += [ToolMessage(c.output, tool_call_id=c.id, name=c.name) for c in native]
        else:
            text = turn.text
            if self.stop and text.rstrip().count("```") % 2:  # the stop sequence closed its block
                text = text.rstrip() + "\n```"
            self.messages.append(AIMessage(text))
            outputs = "\n\n".join(c.output for c in turn.tool_calls)
            self.messages.append(
                HumanMessage(tool_template(self.env.prompts, "fenced_output").format(output=outputs))
            )
        self.used += len(turn.tool_calls)
        if self.used >= self.limit and not self.closing:
            self.closing = True
            self.messages.append(HumanMessage(tool_template(self.env.prompts, "tools_done").format()))

    def draft(self, workspace_index: int | None, verifier: str | None = None) -> Draft:
        """The finished draft: its last turn's text and call, and every turn (its answer read as the
        run's `verifier` reads answers)."""
        last = self.turns[-1]
        call = last.call or CallRecord(role="draft", round=self.round, index=self.index, stage="")
        unfinished, answer = read_draft(last.text, call.finish_reason, verifier)
        return Draft(
            round=self.round,
            index=self.index,
            unfinished=unfinished,
            text=last.text,
            answer=answer,
            workspace_index=workspace_index,
            call=last.call,
            turns=list(self.turns),
        )
