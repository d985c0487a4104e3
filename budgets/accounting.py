"""Budgets: B_seq and B_total from call records, reservations against the caps, and billed failures.

- **B_total** is the sum over every call of its input and output tokens, plus what failed attempts were
  billed (an empty completion still costs its prompt).
- **B_seq** is the sum over sequential stages of the largest call of each stage (`stage_max`); the turns
  of a tool-using draft are sequential, so a draft counts as the sum of its turns.
- Before a stage starts, its worst case (prompt bound + `max_tokens`, per call) is **reserved**: a stage
  that would break a cap is not started. The total it commits (B_total so far + its reservation) is kept
  in the state, so a failed attempt in that stage is checked against it wherever and whenever the stage
  runs: in a fresh process after a resume, or in a server that builds a fresh context for each node.
- **Billed failures** are kept per run in a process-wide registry (not in a node's context, which a
  server rebuilds for every node), seeded from the ledger on resume; a call's failed attempts go into
  B_total with the call's final outcome, and `billed` in the state says which ones are booked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.graph_state import merge_max
from langgraph_pdr.state.records import CallRecord
from langgraph_pdr.state.registry import DISTILLERS


class BudgetStop(Exception):
    """A call would break a cap; the run ends with `reason` as its stop reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CapTooSmall(ValueError):
    """A cap (`max_b_total`, `max_b_seq`) that cannot hold a run's first round: nothing would be paid
    and nothing answered, so the run is refused before any call, saying what round 1 needs.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langgraph_pdr import CapTooSmall, PDRConfig, run_pdr

        model = GenericFakeChatModel(messages=iter([]))
        try:
            run_pdr("What is 17 * 23?", model=model, config=PDRConfig(max_b_total=100), db=":memory:")
        except CapTooSmall as exc:
            assert str(exc).startswith("max_b_total: 100 cannot hold round 1, which reserves up to")
        ```
    """


def first_round_refusal(config: PDRConfig, reason: str, costs: Sequence[int]) -> CapTooSmall:
    """The error of a cap (`reason`) that refuses round 1, whose calls reserve `costs`."""
    if reason == "max_b_seq":
        need, what = max(costs), "its largest call"
    else:
        need, what = sum(costs), f"{len(costs)} call(s) of up to {max(costs):,}"
    cap = getattr(config, reason)
    return CapTooSmall(
        f"{reason}: {cap:,} cannot hold round 1, which reserves up to {need:,} tokens ({what}: prompt "
        f"and max_tokens); raise {reason} to at least {need:,}, or lower max_tokens or round 1's drafts"
    )


@dataclass
class Settled:
    """A stage's calls made together, settled: the texts and records of those that returned (in
    order), the indices of those that did not, and the error to raise (a `BudgetStop` first)."""

    texts: list[str]
    calls: list[CallRecord]
    refused: list[int]
    error: BaseException | None


def settle(outcomes: Sequence[tuple[str, CallRecord] | BaseException], indices: Sequence[int]) -> Settled:
    """Sort a stage's outcomes (see `call_models`), each the call of index `indices[i]`.

    Example:
        ```python
        from langgraph_pdr import CallRecord
        from langgraph_pdr.budgets.accounting import BudgetStop, settle

        ok = ("Better: 1", CallRecord(role="judge", round=2, index=0, stage="r2.judge.1"))
        settled = settle([ok, TimeoutError(), BudgetStop("max_b_total")], [0, 1, 2])
        assert settled.texts == ["Better: 1"] and settled.refused == [1, 2]
        assert isinstance(settled.error, BudgetStop)
        ```
    """
    texts, calls, refused, errors = [], [], [], []
    for index, outcome in zip(indices, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            refused.append(index)
            errors.append(outcome)
        else:
            texts.append(outcome[0])
            calls.append(outcome[1])
    stops = [e for e in errors if isinstance(e, BudgetStop)]
    return Settled(texts, calls, refused, (stops or errors or [None])[0])


def spent(state: Mapping[str, Any]) -> tuple[int, int]:
    """(B_total, B_seq) so far."""
    return int(state.get("b_total") or 0), sum((state.get("stage_max") or {}).values())


def spent_with(state: Mapping[str, Any], calls: Iterable[CallRecord]) -> dict[str, Any]:
    """What `state` has spent plus `calls`, made since and not yet in it: the mapping `reserve` reads.

    Example:
        ```python
        from langgraph_pdr import CallRecord
        from langgraph_pdr.budgets.accounting import spent, spent_with

        calls = [CallRecord(role="judge", round=1, index=i, stage="r1.judge.1", output_tokens=10 + i)
                 for i in range(3)]
        assert spent(spent_with({"b_total": 100, "stage_max": {"r1.draft": 50}}, calls)) == (133, 62)
        ```
    """
    calls = list(calls)
    return {
        "b_total": int(state.get("b_total") or 0) + sum(c.total_tokens for c in calls),
        "stage_max": merge_max(dict(state.get("stage_max") or {}), stage_costs(calls)),
    }


@dataclass(frozen=True)
class Reservation:
    """The outcome of reserving a stage: the cap it would break (`reason`), or the B_total it commits
    (what was spent plus the stage's worst case)."""

    reason: str | None
    committed: int


def reserve(state: Mapping[str, Any], config: PDRConfig, costs: list[int]) -> Reservation:
    """Reserve a stage's worst case (`costs`, one per call) against the caps.

    Example:
        ```python
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.budgets.accounting import reserve

        config = PDRConfig(max_b_total=1000)
        assert reserve({"b_total": 600}, config, [200, 200]).reason is None
        assert reserve({"b_total": 600}, config, [200, 201]).reason == "max_b_total"
        ```
    """
    b_total, b_seq = spent(state)
    committed = b_total + sum(costs)
    if costs and config.max_b_total is not None and committed > config.max_b_total:
        return Reservation("max_b_total", committed)
    if costs and config.max_b_seq is not None and b_seq + max(costs) > config.max_b_seq:
        return Reservation("max_b_seq", committed)
    return Reservation(None, committed)


def call_sums(calls: Iterable[CallRecord | None]) -> dict[tuple[str, str, int, int], int]:
    """Tokens of each call, keyed by (stage, role, round, index): the turns of one draft add up."""
    sums: dict[tuple[str, str, int, int], int] = {}
    for c in calls:
        if c is not None and c.error is None:
            key = (c.stage, c.role, c.round, c.index)
            sums[key] = sums.get(key, 0) + c.total_tokens
    return sums


def stage_costs(calls: Iterable[CallRecord | None]) -> dict[str, int]:
    """The largest call of each stage, a tool-using draft's turns summed: B_seq is their sum.

    Example:
        ```python
        from langgraph_pdr import CallRecord
        from langgraph_pdr.budgets.accounting import stage_costs

        def call(index, turn, tokens):
            return CallRecord(role="draft", round=1, index=index, turn=turn, stage="r1.draft",
                              input_tokens=tokens)

        # draft 0 took two turns (30 + 40), draft 1 one turn of 50: the stage costs 70
        assert stage_costs([call(0, 0, 30), call(0, 1, 40), call(1, 0, 50)]) == {"r1.draft": 70}
        ```
    """
    out: dict[str, int] = {}
    for (stage, *_), tokens in call_sums(calls).items():
        out[stage] = max(out.get(stage, 0), tokens)
    return out


def usage_update(*calls: CallRecord | None) -> dict[str, Any]:
    """The state update that books `calls` into B_total and their stages' maxima (the calls of one
    node: a draft's turns, a summary)."""
    b_total = sum(c.total_tokens for c in calls if c is not None)
    return {"b_total": b_total, "stage_max": stage_costs(calls)}


def tool_draft_bound(prompt: int, limit: int, max_tool_calls: int, per_result: int) -> int:
    """The worst case of a tool-using draft over its turns: up to `max_tool_calls` + 1 turns, each
    reading the prompt (`prompt` tokens) and everything earlier turns wrote and their tools returned
    (up to `limit` and `per_result` tokens a turn), and writing up to `limit`.

    Example:
        ```python
        from langgraph_pdr.budgets.accounting import tool_draft_bound

        assert tool_draft_bound(100, 50, 0, 10) == 150  # no tool call: one turn
        assert tool_draft_bound(100, 50, 1, 10) == 150 + (100 + 50 + 10 + 50)
        ```
    """
    turns = max_tool_calls + 1
    return turns * (prompt + limit) + (limit + per_result) * turns * (turns - 1) // 2


def call_key(role: str, round: int, index: int) -> str:
    """How the state's `billed` names a call: `draft:2:3`."""
    return f"{role}:{round}:{index}"


class Billing:
    """Tokens billed for failed attempts, per run and call, in this process.

    A failed attempt is charged here (and written to the ledger); the call's node books what its call
    was charged into B_total when it finishes (`take`). A resume seeds the registry with what the
    ledger holds and the state has not booked yet.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # thread id -> call key -> [tokens charged, tokens booked, stage]
        self._runs: dict[str, dict[str, list[Any]]] = {}

    def charge(self, thread_id: str, call: CallRecord) -> int:
        """Charge a failed attempt; returns what failed attempts of its stage were charged in all."""
        key = call_key(call.role, call.round, call.index)
        with self._lock:
            entry = self._runs.setdefault(thread_id, {}).setdefault(key, [0, 0, call.stage])
            entry[0] += call.total_tokens
            return sum(e[0] for e in self._runs[thread_id].values() if e[2] == call.stage)

    def take(self, thread_id: str, key: str) -> int:
        """What the call's failed attempts were charged and its state has not booked yet, now booked."""
        with self._lock:
            entry = self._runs.get(thread_id, {}).get(key)
            if entry is None:
                return 0
            unbooked = entry[0] - entry[1]
            entry[1] = entry[0]
            return unbooked

    def seed(self, thread_id: str, failed: Iterable[CallRecord], booked: Mapping[str, int]) -> None:
        """Start the run's record from the ledger's failed attempts and the state's booked tokens."""
        entries: dict[str, list[Any]] = {}
        for call in failed:
            key = call_key(call.role, call.round, call.index)
            entry = entries.setdefault(key, [0, 0, call.stage])
            entry[0] += call.total_tokens
        for key, entry in entries.items():
            entry[1] = min(entry[0], int(booked.get(key, 0)))
        with self._lock:
            self._runs[thread_id] = entries

    def forget(self, thread_id: str) -> None:
        with self._lock:
            self._runs.pop(thread_id, None)


#: The process-wide record of billed failed attempts.
BILLING = Billing()


#: Tokens our templates and a chat template add around a question, at most (a sizing margin).
TEMPLATE_MARGIN = 256
#: A tool's result, as the model reads it, is cut to this many tokens (the bound caps reserve).
TOOL_RESULT_TOKENS = 1024
#: What a tool result's framing (its message, its call id) may add to a prompt, in tokens, at most.
TOOL_FRAMING_TOKENS = 64


def worst_calls(config: PDRConfig, question_tokens: int) -> tuple[int, int, int]:
    """Worst-case tokens (prompt and output) of one draft, one verification and one summary call:
    what a server's context must hold for one call of each (0 for a kind of call the run never
    makes; a tournament's comparison, which reads two drafts, counts as a verification). With the
    built-in tools of `config.tools`, a draft's last turn also reads every earlier turn and tool
    result, and a verification or a summary reads the drafts' code and outputs.

    Example:
        ```python
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.budgets.accounting import worst_calls

        draft, verify, summary = worst_calls(PDRConfig(schedule="4,1", max_tokens=512, kappa=512), 100)
        assert draft == 100 + 256 + 512 + 1024  # a refine draft reads κ and may write twice a draft's
        tools = PDRConfig(method="single", max_tokens=512, tools=["python"], max_tool_calls=2)
        assert worst_calls(tools, 100)[0] == 100 + 256 + 1024 + 2 * (512 + 1024 + 64) + 512
        ```
    """
    width = max(config.schedule)
    first, later = config.max_tokens.draft, config.draft_max_tokens(2)
    out = max(first, later) if config.rounds > 1 else first
    prompt = question_tokens + TEMPLATE_MARGIN
    calls = config.max_tool_calls if config.tools else 0
    trajectory = calls * (out + TOOL_RESULT_TOKENS + TOOL_FRAMING_TOKENS)  # earlier turns and results
    draft = prompt + config.kappa * (2 if config.method == "sr_error" else 1) + trajectory + out
    distiller = DISTILLERS.get(config.distiller) if config.method == "pdr" and config.rounds > 1 else None
    scored = config.method == "best_of_n" or getattr(distiller, "needs_scores", False)
    judged = config.selector == "tournament" or getattr(distiller, "name", "") == "tournament"
    verify = prompt + (2 if judged else 1) * (trajectory + out) + config.max_tokens.verify
    verify = verify if scored or judged else 0
    summary = prompt + width * (trajectory + out) + config.kappa
    summary = summary if getattr(distiller, "name", "") == "global_summary" else 0
    return draft, verify, summary
