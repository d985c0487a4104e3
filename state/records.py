"""Records of what a run did: calls, drafts, verifications, judgments, workspaces, rounds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["draft", "verify", "distill", "critique", "judge"]
ROLES: tuple[str, ...] = ("draft", "verify", "distill", "critique", "judge")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallRecord(_Record):
    """One model call and the tokens the provider billed for it.

    `stage` names the sequential stage the call belongs to (e.g. `r2.draft`); B_seq adds the largest call of
    each stage, a tool-using draft's turns (`turn` 0, 1, ...) counting as one call, their sum. `usage_source`
    is `provider` when the provider reported usage, `estimated` when it did not and the tokens were counted
    locally. `role`, `round` and `index` say which call of the run it was (draft `index` of round `round`, its
    verification, a summary or a critique).

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")]))
        result = run_pdr("What is 17 * 23?", model=model, config=PDRConfig(method="single"), db=":memory:")
        [call] = result.calls
        assert (call.role, call.round, call.index, call.stage) == ("draft", 1, 0, "r1.draft")
        assert call.usage_source == "estimated"  # the fake model reports no usage: counted locally
        assert call.total_tokens == call.input_tokens + call.output_tokens == result.b_total
        ```
    """

    role: Role
    round: int
    index: int
    stage: str
    turn: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usage_source: Literal["provider", "estimated", "none"] = "provider"
    latency_s: float = 0.0
    finish_reason: str | None = None
    model: str | None = None
    error: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ToolCall(_Record):
    """One tool call a draft made in one of its turns, and what the tool returned.

    `fenced` marks code the model wrote in a fenced ```python block instead of calling the tool (the
    form models without native tool calls use); it ran as a `python` call all the same. `error` says
    the tool failed or the code raised.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, ToolCall, Utf8TokenCounter
        from langgraph_pdr.tooling.toolbox import run_tool_call, tool_set

        call = run_tool_call(tool_set(PDRConfig(tools=["python"])), "python", {"code": "1 / 0"},
                             Utf8TokenCounter())
        assert isinstance(call, ToolCall) and call.error and "ZeroDivisionError" in call.output
        ```
    """

    id: str = ""
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    output: str = ""
    error: bool = False
    fenced: bool = False


class DraftTurn(_Record):
    """One model turn of a tool-using draft: what the model wrote, the tools it called and their
    results, and the call that wrote it. The last turn's text is the draft's text.

    Example:
        ```python
        from langgraph_pdr.state.records import CallRecord, DraftTurn, ToolCall

        call = CallRecord(role="draft", round=1, index=0, stage="r1.draft", turn=0)
        code = ToolCall(name="python", args={"code": "print(17 * 23)"}, output="391\\n")
        turn = DraftTurn(round=1, index=0, turn=0, text="Let me compute.", tool_calls=[code], call=call)
        assert turn.tool_calls[0].output == "391\\n" and turn.call.turn == 0
        ```
    """

    round: int
    index: int
    turn: int
    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    call: CallRecord | None = None


class TestResult(_Record):
    """One visible test of a check: its source, whether it passed, and what went wrong.

    `expected` and `got` are the two sides of a failed comparison (`assert f(2) == 4`: `4` and what
    `f(2)` returned), as reprs cut short; `error` is an exception the test raised (`TypeError: ...`),
    with the last line of its traceback that points into the program (`line`); `output` is the value
    the program computed on the test's input (the left side), which execution agreement compares.

    Example:
        ```python
        from langgraph_pdr import TestResult

        failed = TestResult(test="assert add(2, 2) == 4", passed=False, expected="4", got="5")
        assert not failed.passed and (failed.expected, failed.got) == ("4", "5")
        ```
    """

    __test__ = False  # not a pytest class

    test: str
    passed: bool
    expected: str | None = None
    got: str | None = None
    error: str | None = None
    line: str | None = None
    output: str | None = None


class Check(_Record):
    """What a verifier found about one draft: `passed` (every check held), a `score` in 0..1 (the share
    of tests passed), and `feedback`: bounded text for the model (which test failed, expected against
    got, the error and its last traceback line). `tests` holds one result per visible test, `probes`
    what a passing program returned on inputs made from the tests' (`langgraph_pdr.checking.probes`:
    no expected values, they serve execution agreement), `seconds` the check's wall time (checks cost
    no model tokens), `verifier` the verifier's name.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, run_pdr
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage

        fence = "`" * 3  # a Markdown code fence
        program = f"{fence}python\\ndef add(a, b):\\n    return a + b\\n{fence}"
        model = GenericFakeChatModel(messages=iter([AIMessage(program)]))
        result = run_pdr("Write add(a, b).", model=model, config=PDRConfig(method="single"),
                         tests="assert add(2, 2) == 4", db=":memory:")
        check = result.rounds[0].drafts[0].check
        assert (check.passed, check.score, check.verifier) == (True, 1.0, "python_tests")
        assert result.answer == "def add(a, b):\\n    return a + b"  # the program is the answer
        ```
    """

    round: int
    index: int
    verifier: str
    passed: bool
    score: float = Field(0.0, ge=0.0, le=1.0)
    feedback: str = ""
    tests: list[TestResult] = Field(default_factory=list)
    probes: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def outputs(self) -> tuple[str | None, ...]:
        """What the draft computed on each test's input, then on each probe input: drafts that agree
        here behave alike."""
        return (*(t.output for t in self.tests), *self.probes)


class Draft(_Record):
    """A draft of round `round`: its text, the answer in its last `\\boxed{}`, and how it was made.

    `unfinished` marks a draft cut at `max_tokens` before any final answer: it has no answer, and it never
    counts in a tally or a vote. A tool-using draft keeps its trajectory in `turns` (its `call` is then its
    last turn's, and `calls` lists every turn's). `ok` is False (with `error` set) when its call failed for
    good; `score` is its self-verification score, when the distiller asked for one; `workspace_index` is the
    workspace a later-round draft was given; `call` is the model call that wrote it; `check` is what the
    run's verifier found (`PDRConfig(verifier=...)`, or visible tests given to the run).

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 3))
        config = PDRConfig(schedule="2,1", distiller="majority_k", k=1)
        result = run_pdr("What is 17 * 23?", model=model, config=config, db=":memory:")
        first, last = result.rounds[0].drafts, result.rounds[-1].drafts[0]
        assert [(d.round, d.index, d.answer) for d in first] == [(1, 0, "391"), (1, 1, "391")]
        assert all(d.ok and not d.unfinished and d.call.role == "draft" for d in first)
        assert (last.round, last.workspace_index, last.text) == (2, 0, result.text)
        ```
    """

    round: int
    index: int
    ok: bool = True
    unfinished: bool = False
    text: str = ""
    answer: str | None = None
    score: float | None = None
    workspace_index: int | None = None
    error: str | None = None
    call: CallRecord | None = None
    turns: list[DraftTurn] = Field(default_factory=list)
    check: Check | None = None

    @property
    def calls(self) -> list[CallRecord]:
        """Every model call that wrote the draft: each turn's of a tool-using draft, else its one call."""
        if self.turns:
            return [t.call for t in self.turns if t.call is not None]
        return [self.call] if self.call is not None else []


class Verification(_Record):
    """A self-verification of draft (`round`, `index`): a 0-10 score, or None when unparseable.

    The distillers that rank drafts by score (`shared_top_k`, `per_sample_top_k`) and best-of-N ask the
    model to check each draft and end its reply with `Score: N`; `text` is that reply, `call` its call.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr

        reply = AIMessage("17 * 23 = \\\\boxed{391}. Score: 9")  # a fake model: every call gets this
        model = GenericFakeChatModel(messages=iter([reply] * 6))
        config = PDRConfig(schedule="2,1", distiller="shared_top_k", k=1)
        result = run_pdr("What is 17 * 23?", model=model, config=config, db=":memory:")
        checks = result.rounds[0].verifications
        assert [(v.round, v.index, v.score) for v in checks] == [(1, 0, 9.0), (1, 1, 9.0)]
        assert [d.score for d in result.rounds[0].drafts] == [9.0, 9.0]
        ```
    """

    round: int
    index: int
    score: float | None = None
    text: str = ""
    error: str | None = None
    call: CallRecord | None = None


class Workspace(_Record):
    """A workspace built from round `round`'s drafts for the next round's draft `index`.

    A shared workspace has `index` 0 and serves every next-round draft. `tokens` is its size as
    `counted_by` measured it (`usage` when the provider counted the summary it wrote); it is at most κ.
    `distiller` names the distiller that built it, `sources` the indices of the drafts it shows, and
    `call` is the model call that wrote it (a summary), if any.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 3))
        config = PDRConfig(schedule="2,1", distiller="majority_k", k=1, kappa=256)
        result = run_pdr("What is 17 * 23?", model=model, config=config, db=":memory:")
        [workspace] = result.rounds[0].workspaces  # majority_k: one workspace, shared
        assert (workspace.round, workspace.index, workspace.sources) == (1, 0, [0])
        assert workspace.distiller == "majority_k" and 0 < workspace.tokens <= config.kappa
        assert "391 (attempts 1, 2)" in workspace.text  # the tally of the round's answers comes first
        ```
    """

    round: int
    index: int = 0
    text: str = ""
    tokens: int = 0
    counted_by: str = ""
    distiller: str = ""
    sources: list[int] = Field(default_factory=list)
    call: CallRecord | None = None


class Judgment(_Record):
    """One comparison of a tournament: which of two drafts of round `round` the model judged better.

    `role` is `distill` (the `tournament` distiller, choosing the next round's workspace) or `judge`
    (`PDRConfig(selector="tournament")`, choosing the run's answer); `index` is the comparison's call
    (the `CallRecord` of the same role, round and index), `level` its bracket level, `first` and
    `second` the drafts shown as solution 1 and solution 2 (their indices in the round), `text` the
    judge's reply and `verdict` the solution it preferred: 1, 2, or None (a reply without a verdict,
    a void vote).

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr

        replies = ["\\\\boxed{4}", "\\\\boxed{5}"] + ["Solution 2 slips.\\nBetter: 1"] * 3 + ["\\\\boxed{4}"]
        model = GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies]))
        config = PDRConfig(schedule="2,1", distiller="tournament", k=1)
        result = run_pdr("What is 2 + 2?", model=model, config=config, db=":memory:")
        judgments = result.rounds[0].judgments
        assert [(j.role, j.index, j.level) for j in judgments] == [("distill", i, 1) for i in range(3)]
        assert all(j.verdict == 1 and j.preferred == j.first for j in judgments)
        assert result.rounds[0].workspaces[0].sources == [judgments[0].first]  # preferred 2 votes to 1
        ```
    """

    role: Literal["distill", "judge"]
    round: int
    index: int
    level: int = 1
    first: int
    second: int
    text: str = ""
    verdict: int | None = None

    @property
    def preferred(self) -> int | None:
        """The index of the draft the judge preferred; None for a void vote."""
        return {1: self.first, 2: self.second}.get(self.verdict or 0)


class KeptReply(_Record):
    """A reply a call of a node returned before the node ended (one comparison of a tournament level,
    say), kept so that the node, run again after a failure or in a resumed process, reads it back
    instead of paying for it again. `key` names the call: its role, round, index, messages and
    provider options (`langgraph_pdr.calls.model_call.KeptReplies.key`). The ledger keeps it until the run
    ends; the call is booked once, with the node's other calls, when the node ends.
    """

    key: str
    text: str
    call: CallRecord


class RoundRecord(_Record):
    """Everything round `round` produced.

    `width` is the drafts the schedule launched in it; `drafts` holds every one of them (failed ones
    with `ok` False), `verifications` their self-verifications (when scored), `judgments` the
    comparisons of a tournament among them, `workspaces` what was built from them for the next round
    (none after the last round), and `critique` the review of its solution that SR with error analysis
    (`sr_error`) wrote.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 4))
        config = PDRConfig(schedule="3,1", distiller="random_k", k=1)
        result = run_pdr("What is 17 * 23?", model=model, config=config, db=":memory:")
        assert [(r.round, r.width, len(r.drafts)) for r in result.rounds] == [(1, 3, 3), (2, 1, 1)]
        assert len(result.rounds[0].workspaces) == 1 and result.rounds[-1].workspaces == []
        ```
    """

    round: int
    width: int
    drafts: list[Draft] = Field(default_factory=list)
    verifications: list[Verification] = Field(default_factory=list)
    judgments: list[Judgment] = Field(default_factory=list)
    workspaces: list[Workspace] = Field(default_factory=list)
    critique: str | None = None


class RoundSummary(_Record):
    """How round `round` went: drafts launched and drafts that survived."""

    round: int
    width: int
    survivors: int


class RunOutcome(_Record):
    """How a run ended."""

    answer: str | None = None
    text: str = ""
    b_seq: int = 0
    b_total: int = 0
    stop_reason: str = "completed"


class Critique(_Record):
    """SR with error analysis: the review of round `round`'s solution that the next round sees."""

    round: int
    text: str = ""
    tokens: int = 0
    call: CallRecord | None = None
