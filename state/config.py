"""The run configuration: what to run, validated, JSON-serializable."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from langgraph_pdr.state.registry import DISTILLERS, PROMPT_SETS, TOOLS, VERIFIERS

Method = Literal["pdr", "sr", "sr_error", "single", "self_consistency", "best_of_n"]
METHODS: tuple[str, ...] = get_args(Method)

#: Methods whose schedule ends in one draft that is the answer (PDR may also end in a vote of several).
REFINING_METHODS = ("pdr", "sr", "sr_error", "single")
#: Methods that may stop early once their drafts agree (`early_stop`); self-consistency between the
#: windows of its schedule.
ADAPTIVE_METHODS = ("pdr", "sr", "sr_error", "self_consistency")
#: Methods that sample N drafts once and select among them.
SAMPLING_METHODS = ("self_consistency", "best_of_n")

#: Methods that run on the same graph.
FAMILIES: dict[str, str] = {
    "pdr": "pdr",
    "sr": "sr",
    "sr_error": "sr",
    "single": "sample",
    "self_consistency": "sample",
    "best_of_n": "sample",
}

DEFAULT_SCHEDULES: dict[str, tuple[int, ...]] = {
    "pdr": (4, 2, 1),
    "sr": (1, 1, 1),
    "sr_error": (1, 1, 1),
    "single": (1,),
    "self_consistency": (8,),
    "best_of_n": (8,),
}

#: The smallest share of a workspace, in tokens, that can still hold a draft's final answer.
MIN_SHARE_TOKENS = 16
#: The prompt set a run uses unless its config names another (see `langgraph_pdr.prompting.prompt_catalog`).
DEFAULT_PROMPTS = "card"
#: A refine draft (a draft of round 2 or later) may write this many times a first draft's `max_tokens`
#: unless `max_tokens.refine` says otherwise: it checks and finishes a workspace's derivation.
REFINE_FACTOR = 2
#: Tool calls a tool-using draft may make unless `max_tool_calls` says otherwise.
DEFAULT_MAX_TOOL_CALLS = 8
#: Seconds a draft waits for one tool call unless `tool_timeout` says otherwise (the `python` tool has
#: its own, shorter, wall-time limit).
DEFAULT_TOOL_TIMEOUT = 300.0
#: How a tool-using draft calls its tools: `native` offers them to the model in the request (its tool
#: calls run); `fenced` asks for ```python blocks in the reply, which run as `python` calls (for models
#: whose native tool calls are unreliable, such as the 1.5B default); `auto` does both.
ToolFormat = Literal["auto", "native", "fenced"]
#: How the answer of a last round with several drafts is chosen: their vote, or a tournament of
#: pairwise comparisons judged by the model.
Selector = Literal["vote", "tournament"]
#: The verifier a run uses when it is given visible tests and names none.
DEFAULT_VERIFIER = "python_tests"


class MaxTokens(BaseModel):
    """`max_tokens` of each call, by role.

    `draft` bounds a first-round draft, `refine` a draft of a later round (default: twice `draft`). The
    summary (`distill`) and the critique are workspaces, so they default to κ and may not exceed it.
    `verify` bounds a self-verification. `PDRConfig(max_tokens=N)` is short for `MaxTokens(draft=N)`.

    Example:
        ```python
        from langgraph_pdr import MaxTokens, PDRConfig

        config = PDRConfig(kappa=1024, max_tokens=MaxTokens(draft=256, verify=64))
        assert config.role_max_tokens("refine") == 512  # twice a first draft's
        assert config.role_max_tokens("distill") == 1024  # a summary is a workspace: kappa
        assert config.draft_max_tokens(1) == 256 and config.draft_max_tokens(2) == 512
        assert PDRConfig(max_tokens=300).max_tokens == MaxTokens(draft=300)
        ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    draft: int = Field(1024, gt=0)
    refine: int | None = Field(None, gt=0)
    verify: int = Field(256, gt=0)
    distill: int | None = Field(None, gt=0)
    critique: int | None = Field(None, gt=0)


class Temperatures(BaseModel):
    """Sampling temperature of each call, by role, each in [0, 2].

    Drafts sample (0.7) so that a round's drafts differ; self-verification is greedy (0.0); the summary
    and the critique stay close to greedy (0.2). `PDRConfig(temperature=t)` is short for
    `Temperatures(draft=t)`.

    Example:
        ```python
        from pydantic import ValidationError
        from langgraph_pdr import PDRConfig, Temperatures

        config = PDRConfig(temperature=Temperatures(draft=1.0, distill=0.0))
        assert (config.temperature.draft, config.temperature.verify) == (1.0, 0.0)
        assert PDRConfig(temperature=0.3).temperature == Temperatures(draft=0.3)
        try:
            Temperatures(draft=3.0)
        except ValidationError as exc:
            error = exc
        assert error.errors()[0]["loc"] == ("draft",)
        ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    draft: float = Field(0.7, ge=0, le=2)
    verify: float = Field(0.0, ge=0, le=2)
    distill: float = Field(0.2, ge=0, le=2)
    critique: float = Field(0.2, ge=0, le=2)


class PDRConfig(BaseModel):
    """What a run does: the method, its schedule, the distiller and the budgets.

    Args:
        method: `pdr`, `sr`, `sr_error`, `single`, `self_consistency` or `best_of_n`.
        schedule: drafts per round, e.g. `(4, 2, 1)` (also `"4,2,1"`). PDR's last round may have several
            drafts, whose vote is the answer (e.g. `(4, 4)`); SR has one draft per round, a single pass
            one, best-of-N one round of N drafts (or windows that `stop_on_pass` may end early, e.g.
            `(4, 4)`). Self-consistency draws its N drafts in one round or in windows (`(4, 4)`: four,
            then four more unless `early_stop` ends the run), and votes over all of them. Defaults by
            method: pdr (4, 2, 1), sr and sr_error (1, 1, 1), single (1,), the baselines (8,).
        distiller: how a PDR round's drafts become the next round's workspaces (see
            `langgraph_pdr.nodes.distill`).
        k: drafts kept by the extractive distillers.
        kappa: the workspace bound κ, in tokens.
        max_tokens: `max_tokens` per role (an int sets the drafts').
        temperature: temperature per role (a float sets the drafts').
        seed: seeds random choices and, where the provider takes one, each call (derived per call).
        max_b_total: hard cap on B_total (the sum of every call's input and output tokens).
        max_b_seq: hard cap on B_seq (the critical path).
        max_concurrency: parallel calls at most (default: the widest round).
        prompts: the prompt set every call uses (see `langgraph_pdr.prompting.prompt_catalog`).
        early_stop: end the run after a round in which at least this fraction of the finished drafts
            (and two or more) reached the same answer (`1.0`: unanimous), with `stop_reason`
            `converged`; SR stops when a rewrite keeps the previous answer; self-consistency in windows
            after a window when that fraction of all its drafts so far agree. None never stops early.
        tools: built-in tools every draft may call, by name (`python`: a sandboxed interpreter; see
            `langgraph_pdr.tooling.toolbox`). A draft with tools is a loop of model turns and tool calls.
            `run_pdr(tools=[...])` adds LangChain tool objects besides.
        max_tool_calls: tool calls one draft may make (default 8); the turn after the last one is
            asked for the final answer without tools.
        tool_format: `auto` (default), `native` or `fenced`: how drafts call tools (`ToolFormat`).
        tool_timeout: seconds a draft waits for one tool call (default 300); a call that takes longer
            is the tool's error result and the draft goes on. None waits as long as the tool takes.
        selector: how the answer of a last round with several drafts is chosen: `vote` (default) or
            `tournament` (pairwise comparisons judged by the model, winners compared again).
        verifier: checks every draft (see `langgraph_pdr.verifiers`): `python_tests` runs the draft's
            program against the run's visible tests (`run_pdr(..., tests=...)`); `register_verifier`
            adds your own. A run given tests and no verifier uses `python_tests`. With a verifier, the
            answer is the best-checked draft (a passing one; among several, the one whose outputs
            agree with the most others), best-of-N picks by check score, and refine drafts repair
            from the checks' feedback.
        stop_on_pass: end the run after the first round in which a draft passes its checks, with
            `stop_reason` `verified` (needs a verifier or tests).
        pass_quorum: with `stop_on_pass`, how many passing drafts must agree, with the same outputs
            on the visible tests and on the probe inputs, before a round ends the run (default 1: the
            first passing draft does). PDR counts the round's drafts; best-of-N in windows
            (`schedule=(4, 4)`) counts every window's so far, and draws the next window until then.

    Example:
        ```python
        from langgraph_pdr import PDRConfig

        config = PDRConfig(schedule="8,4,1", distiller="per_sample_top_k", k=2, kappa=1024)
        assert config.schedule == (8, 4, 1)
        ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = "pdr"
    schedule: tuple[int, ...] = DEFAULT_SCHEDULES["pdr"]  # left out or None: the method's default
    distiller: str = "global_summary"
    k: int = 2
    kappa: int = 1024
    max_tokens: MaxTokens = MaxTokens()
    temperature: Temperatures = Temperatures()
    seed: int = 0
    max_b_total: int | None = None
    max_b_seq: int | None = None
    max_concurrency: int | None = None
    prompts: str = DEFAULT_PROMPTS
    early_stop: float | None = None
    tools: tuple[str, ...] = ()
    max_tool_calls: int = DEFAULT_MAX_TOOL_CALLS
    tool_format: ToolFormat = "auto"
    tool_timeout: float | None = DEFAULT_TOOL_TIMEOUT
    selector: Selector = "vote"
    verifier: str | None = None
    stop_on_pass: bool = False
    pass_quorum: int = 1

    @field_validator("verifier", mode="before")
    @classmethod
    def _check_verifier(cls, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or value not in VERIFIERS:
            raise ValueError(f"verifier: unknown verifier {value!r}; allowed: {', '.join(VERIFIERS.names())}")
        return value

    @field_validator("tools", mode="before")
    @classmethod
    def _check_tools(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        names = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"tools: a list of built-in tool names such as ['python'], got {value!r}")
        for name in names:
            if name not in TOOLS:
                raise ValueError(f"tools: unknown tool {name!r}; built in: {', '.join(TOOLS.names())}")
        return tuple(dict.fromkeys(names))

    @field_validator("max_tool_calls")
    @classmethod
    def _check_max_tool_calls(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"max_tool_calls: must be 0 or more, got {value}")
        return value

    @field_validator("tool_timeout")
    @classmethod
    def _check_tool_timeout(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError(f"tool_timeout: must be more than 0 seconds, got {value}")
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _check_method(cls, value: Any) -> str:
        if value not in METHODS:
            raise ValueError(f"method: unknown method {value!r}; allowed: {', '.join(METHODS)}")
        return str(value)

    @field_validator("distiller", mode="before")
    @classmethod
    def _check_distiller(cls, value: Any) -> str:
        if not isinstance(value, str) or value not in DISTILLERS:
            raise ValueError(
                f"distiller: unknown distiller {value!r}; allowed: {', '.join(DISTILLERS.names())}"
            )
        return value

    @field_validator("prompts", mode="before")
    @classmethod
    def _check_prompts(cls, value: Any) -> str:
        if not isinstance(value, str) or value not in PROMPT_SETS:
            raise ValueError(
                f"prompts: unknown prompt set {value!r}; allowed: {', '.join(PROMPT_SETS.names())}"
            )
        return value

    @field_validator("early_stop")
    @classmethod
    def _check_early_stop(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 1:
            raise ValueError(f"early_stop: a fraction of the drafts in (0, 1], e.g. 1.0; got {value}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _method_schedule(cls, data: Any) -> Any:
        """A schedule left out (or None) is the method's default."""
        if isinstance(data, dict) and data.get("schedule") is None:
            method = data.get("method", "pdr")
            data = {k: v for k, v in data.items() if k != "schedule"}
            if method in DEFAULT_SCHEDULES:
                data["schedule"] = DEFAULT_SCHEDULES[method]
        return data

    @field_validator("schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,)
        if isinstance(value, str):
            sep = r"[\s,]+" if "," in value else r"[\s\-]+"
            parts = [p for p in re.split(sep, value.strip()) if p]
            try:
                return tuple(int(p) for p in parts)
            except ValueError:
                raise ValueError(
                    f"schedule: {value!r} is not a list of draft counts such as '4,2,1'"
                ) from None
        return value

    @field_validator("max_tokens", mode="before")
    @classmethod
    def _draft_tokens_shorthand(cls, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            return value
        if value < 1:  # named as it was given (`max_tokens`, not `max_tokens.draft`)
            raise ValueError(f"max_tokens: must be at least 1, got {value}")
        return {"draft": value}

    @field_validator("temperature", mode="before")
    @classmethod
    def _draft_temperature_shorthand(cls, value: Any) -> Any:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return value
        if not 0 <= value <= 2:
            raise ValueError(f"temperature: must be between 0 and 2, got {value}")
        return {"draft": value}

    @field_validator("k", "kappa", "pass_quorum")
    @classmethod
    def _positive(cls, value: int, info: Any) -> int:
        if value < 1:
            raise ValueError(f"{info.field_name}: must be at least 1, got {value}")
        return value

    @field_validator("max_b_total", "max_b_seq", "max_concurrency")
    @classmethod
    def _positive_or_none(cls, value: int | None, info: Any) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"{info.field_name}: must be a positive integer or None, got {value}")
        return value

    @model_validator(mode="after")
    def _check_together(self) -> PDRConfig:
        self._check_schedule()
        self._check_workspace()
        return self

    def _check_schedule(self) -> None:
        s, m = self.schedule, self.method
        if not s:
            raise ValueError("schedule: needs at least one round, e.g. 4,2,1")
        if any(n < 1 for n in s):
            raise ValueError(f"schedule: every round needs at least one draft, got {list(s)}")
        if m in REFINING_METHODS and m != "pdr" and s[-1] != 1:
            raise ValueError(
                f"schedule: the last round of method {m!r} must have exactly 1 draft (its answer), "
                f"got {list(s)}"
            )
        if m in ("sr", "sr_error") and any(n != 1 for n in s):
            raise ValueError(f"schedule: method {m!r} runs one draft per round, e.g. 1,1,1; got {list(s)}")
        if m == "single" and s != (1,):
            raise ValueError(f"schedule: method 'single' is one draft, schedule 1; got {list(s)}")
        if m == "best_of_n" and len(s) != 1 and not self.stop_on_pass:
            raise ValueError(
                f"schedule: method {m!r} samples one round of N drafts, e.g. 8, or windows that "
                f"stop_on_pass may end early (4,4 with stop_on_pass=True); got {list(s)}"
            )
        if self.pass_quorum > 1 and not self.stop_on_pass:
            raise ValueError(
                f"pass_quorum: counts the agreeing passing drafts that end a run with stop_on_pass; "
                f"set stop_on_pass=True to use pass_quorum={self.pass_quorum}"
            )
        if self.selector == "tournament" and (m != "pdr" or s[-1] < 2):
            raise ValueError(
                f"selector: 'tournament' chooses among the several drafts of a PDR run's last round; "
                f"method {m!r} with schedule {list(s)} has {'one' if s[-1] == 1 else 'no such round'}"
            )
        if self.early_stop is not None and m not in ADAPTIVE_METHODS:
            raise ValueError(
                f"early_stop: applies to {', '.join(ADAPTIVE_METHODS)}; method {m!r} has one round"
            )
        if self.early_stop is not None and m == "self_consistency" and len(s) < 2:
            raise ValueError(
                f"early_stop: self-consistency stops between windows of drafts; schedule {list(s)} has "
                "one window, give several, e.g. 4,4"
            )

    def _check_workspace(self) -> None:
        uses_k = getattr(DISTILLERS.get(self.distiller), "uses_k", False)
        if self.method == "pdr" and uses_k and len(self.schedule) > 1:
            fewest = min(self.schedule[:-1])
            if self.k > fewest:
                raise ValueError(
                    f"k: distiller {self.distiller!r} selects k={self.k} drafts but a round of the "
                    f"schedule {list(self.schedule)} has only {fewest}; allowed: 1..{fewest}"
                )
        shares = self.k if (self.method == "pdr" and uses_k) else 1
        need = MIN_SHARE_TOKENS * shares
        if self.kappa < need:
            raise ValueError(
                f"kappa: a workspace of {self.kappa} tokens cannot hold {shares} draft(s); "
                f"allowed: kappa >= {need}"
            )
        for role in ("distill", "critique"):
            limit = getattr(self.max_tokens, role)
            if limit is not None and limit > self.kappa:
                raise ValueError(
                    f"max_tokens.{role}: {limit} exceeds kappa={self.kappa}; a {role} output is a "
                    "workspace and must fit in kappa"
                )

    # -- derived values -------------------------------------------------------------------------

    @property
    def rounds(self) -> int:
        """Number of rounds R."""
        return len(self.schedule)

    def width(self, round: int) -> int:
        """Drafts in round `round` (1-based)."""
        return self.schedule[round - 1]

    def role_max_tokens(self, role: str) -> int:
        """`max_tokens` for a call of `role`: the summary and critique default to κ, a refine draft to
        `REFINE_FACTOR` times a first draft's."""
        value: int | None = getattr(self.max_tokens, role)
        if value is not None:
            return value
        return self.max_tokens.draft * REFINE_FACTOR if role == "refine" else self.kappa

    @property
    def windowed(self) -> bool:
        """Whether rounds are windows of one sample (self-consistency, best-of-N): every round draws
        first drafts, numbered and seeded as one sample of their total, and every window's drafts
        count (vote, or are checked)."""
        return self.method in SAMPLING_METHODS

    def draft_max_tokens(self, round: int) -> int:
        """`max_tokens` of a draft of round `round`: a first draft's, or a refine draft's after it
        (every window of self-consistency draws first drafts)."""
        if round == 1 or self.windowed:
            return self.max_tokens.draft
        return self.role_max_tokens("refine")

    def first_index(self, round: int) -> int:
        """The index of round `round`'s first draft. Self-consistency numbers its drafts across its
        windows, so that draft i of its vote is the same request whichever window draws it (a run
        of schedule 4,4 draws the same samples as one of 8); other methods count from 0 each round."""
        return sum(self.schedule[: round - 1]) if self.windowed else 0

    def seed_round(self, round: int) -> int:
        """The round a call's seed is derived with: 1 for every window of self-consistency (one
        sample drawn in pieces), else the call's own round."""
        return 1 if self.windowed else round

    def verifier_for(self, tests: str | None) -> str | None:
        """The verifier a run with visible `tests` uses: the configured one, else `python_tests` when
        it has tests, else none."""
        if self.verifier is not None:
            return self.verifier
        return DEFAULT_VERIFIER if tests and tests.strip() else None

    def concurrency(self) -> int:
        """Parallel calls allowed: `max_concurrency`, else the widest round."""
        return self.max_concurrency or max(self.schedule)


def validation_message(exc: ValidationError) -> str:
    """The first error of a `PDRConfig` validation as one line, led by the field it concerns."""
    err = exc.errors()[0]
    msg = str(err.get("msg", exc)).removeprefix("Value error, ")
    path = [str(x) for x in err.get("loc", ())]
    loc = ".".join(path)
    if not loc or msg.startswith(path[0]):
        return msg
    if msg.startswith(f"{path[-1]}: "):  # a nested field's own message: `config.kappa: must be ...`
        return f"{loc}: {msg.removeprefix(f'{path[-1]}: ')}"
    return f"{loc}: {msg}"


def error_line(exc: BaseException) -> str:
    """An error as one line: a config error led by the field it concerns, else the error's first line.

    Example:
        ```python
        from pydantic import ValidationError
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.state.config import error_line

        try:
            PDRConfig(kappa=0)
        except ValidationError as exc:
            assert error_line(exc) == "kappa: must be at least 1, got 0"
        ```
    """
    if isinstance(exc, ValidationError):
        return validation_message(exc)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
