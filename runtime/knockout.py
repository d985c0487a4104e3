"""The tournament selector: the k best drafts by pairwise comparisons the model judges.

The selection scheme of agentic PDR (arXiv 2604.16529): the drafts are paired (a seeded shuffle), the
model judges each pair `VOTES` times, the majority wins, and the winners are paired again, level by
level, until k remain (an odd one out, or any draft beyond what the level needs to reach k, gets a
bye). Two drafts with the same final answer are not compared: the lower-indexed one advances. Votes
alternate which draft is shown first, which cancels position bias; the first two are greedy, the third
samples (a greedy third vote would repeat the first). A reply without a `Better: 1` / `Better: 2`
line is a void vote; a pair with no majority of valid votes goes to the draft whose answer more drafts
of the round reached, then to the lower index.

`knockout` is the bracket, written once: a generator that yields each level's comparisons and is sent
their verdicts, so the same bracket runs with a sync judge (`play`) or an async one (`aplay`). Two
judges use it:

- the `tournament` distiller (`langgraph_pdr.nodes.distill.tournament`) judges with
  `DistillRequest.generate_many`: each level's comparisons in parallel, role `distill`, one stage
  `r{round}.distill.{first call's index}` per level;
- the final selection (`select_final`, run by `finalize` when `PDRConfig(selector="tournament")`)
  picks the answer of a PDR run's last round: role `judge`, each level's comparisons in parallel as
  one stage `r{round}.judge.{level}` (B_seq adds its largest call), each level reserved against the
  caps first. A level a cap refuses ends the tournament: the run answers with the vote, and its stop
  reason names the cap.
"""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage

from langgraph_pdr.budgets.accounting import BudgetStop, reserve, settle, spent_with
from langgraph_pdr.calls.image_input import question_message
from langgraph_pdr.calls.model_call import Job, Outcome, acall_models, call_models, derive_seed
from langgraph_pdr.calls.steps import Call, Steps, arun_steps, run_steps
from langgraph_pdr.calls.token_count import prompt_bound
from langgraph_pdr.prompting.prompt_catalog import judge_template
from langgraph_pdr.runtime.environment import NodeEnv, call_fields
from langgraph_pdr.selection.answer_votes import agreement, answer_key, finished, normalize
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.state.records import CallRecord, Draft, Judgment
from langgraph_pdr.tooling.transcript import draft_body

#: Judge calls per pair of drafts (odd, so that valid votes rarely tie).
VOTES = 3

#: The last `Better: N` of a judge reply (markdown bold and `Solution N` allowed).
_VERDICT = r"\bbetter\b[\s*]*[:=][\s*]*(?:solution\s*)?#?\s*([12])(?!\d|\.\d)"

#: A judge's verdict on one comparison: 1 (the first solution shown), 2 (the second), None (void).
Verdicts = list[int | None]


def verdict(text: str) -> int | None:
    """The solution a judge reply prefers: 1 or 2, from its last `Better: N` line; None (a void vote)
    when it has none.

    Example:
        ```python
        from langgraph_pdr.runtime.knockout import verdict

        assert verdict("Solution 2 drops a sign.\\nBetter: 1") == 1
        assert verdict("**Better:** Solution 2") == 2
        assert verdict("Both look fine.") is None and verdict("Better: 3") is None
        ```
    """
    matches = re.findall(_VERDICT, text or "", re.IGNORECASE)
    return int(matches[-1]) if matches else None


@dataclass(frozen=True)
class Comparison:
    """One judge call: `first` shown as solution 1, `second` as solution 2.

    Attributes:
        number: the comparison's number in the bracket, from 0 (the final selection's call index).
        level: the bracket level, from 1 (the final selection's stage).
        first: the draft shown first.
        second: the draft shown second.
        vote: the vote's number within its pair, from 0.
    """

    number: int
    level: int
    first: Draft
    second: Draft
    vote: int = 0

    def temperature(self, config: PDRConfig) -> float:
        """The first two votes (each order once) are greedy (`temperature.verify`); later votes sample
        at the drafts' temperature, or a greedy third vote would repeat the first."""
        return config.temperature.verify if self.vote < 2 else config.temperature.draft


@dataclass
class Match:
    """One pair of the bracket and how it was decided.

    Attributes:
        level: the bracket level, from 1.
        drafts: the two drafts.
        winner: the draft that advanced.
        how: `same answer` (no comparison), `votes` (the majority of valid votes), or `agreement`
            (no majority: the answer more drafts of the round reached, then the lower index).
        votes: the index (in its round) of the draft each vote preferred; None for a void vote.
    """

    level: int
    drafts: tuple[Draft, Draft]
    winner: Draft
    how: str
    votes: list[int | None] = field(default_factory=list)

    def line(self) -> str:
        """The match in one line, drafts by index: `level 1: 0 v 3 -> 3 (votes 3,3,0)`."""
        a, b = self.drafts
        votes = ",".join("-" if v is None else str(v) for v in self.votes)
        how = f"{self.how} {votes}" if votes else self.how
        return f"level {self.level}: {a.index} v {b.index} -> {self.winner.index} ({how})"


@dataclass
class Bracket:
    """A finished tournament: the drafts that remain (by index) and every match played."""

    winners: list[Draft]
    matches: list[Match] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Every match in one line each (see `Match.line`)."""
        return [m.line() for m in self.matches]

    def announce(self, env: NodeEnv, *, round: int, selects: str, calls: Sequence[CallRecord]) -> None:
        """The `tournament` event: what it selected (`answer` or `workspace`), its matches, the
        winners and the tokens its calls took."""
        env.emit(
            "tournament",
            round=round,
            selects=selects,
            pairs=self.lines(),
            winners=[d.index for d in self.winners],
            tokens=sum(c.total_tokens for c in calls),
        )


#: A bracket being played: yields a level's comparisons, is sent their verdicts, returns the bracket.
Knockout = Generator[list[Comparison], Verdicts, Bracket]


def knockout(
    drafts: Sequence[Draft],
    *,
    keep: int,
    rng: random.Random,
    round_drafts: Sequence[Draft] | None = None,
    votes: int = VOTES,
) -> Knockout:
    """The bracket that narrows `drafts` down to `keep`, as a generator: it yields each level's
    comparisons (levels with none are not yielded) and must be sent their verdicts, in order; run it
    with `play` or `aplay`.

    Args:
        drafts: the drafts in the tournament.
        keep: how many remain at the end (at least 1).
        rng: shuffles the drafts before each level is paired.
        round_drafts: the drafts whose answers break a pair's tie (default `drafts`).
        votes: comparisons per pair; they alternate which draft is shown first.

    Returns:
        A generator whose return value (`play`'s) is the `Bracket`.

    Example:
        ```python
        import random
        from langgraph_pdr.runtime.knockout import knockout, play
        from langgraph_pdr.state.records import Draft

        drafts = [Draft(round=1, index=i, text=f"\\\\boxed{{{a}}}", answer=a) for i, a in enumerate("5745")]

        def judge(comparisons):  # prefers the solution whose answer is 7
            return [1 if c.first.answer == "7" else 2 for c in comparisons]

        bracket = play(knockout(drafts, keep=1, rng=random.Random(0)), judge)
        assert [d.index for d in bracket.winners] == [1]
        # three matches; a pair of two 5s would cost no call, every other pair three votes
        assert len(bracket.matches) == 3 and [len(m.votes) for m in bracket.matches] == [3, 3, 3]
        assert [m.line() for m in bracket.matches][-1].endswith("-> 1 (votes 1,1,1)")
        ```
    """
    support = agreement(drafts if round_drafts is None else round_drafts)
    # by index first: the bracket depends on the drafts and the seed, not on the order they came in
    remaining, matches, level, number = sorted(drafts, key=_index), [], 0, 0
    while len(remaining) > max(keep, 1):
        level += 1
        rng.shuffle(remaining)
        playing = min(len(remaining) // 2, len(remaining) - max(keep, 1))
        pairs = [(remaining[2 * i], remaining[2 * i + 1]) for i in range(playing)]
        comparisons = []
        for a, b in pairs:
            if normalize(a.answer) != normalize(b.answer):
                for v in range(votes):
                    first, second = (a, b) if v % 2 == 0 else (b, a)
                    comparisons.append(
                        Comparison(number=number, level=level, first=first, second=second, vote=v)
                    )
                    number += 1
        verdicts = (yield comparisons) if comparisons else []
        if len(verdicts) != len(comparisons):
            raise ValueError(f"knockout: {len(comparisons)} comparisons got {len(verdicts)} verdicts")
        judged = iter(zip(comparisons, verdicts, strict=True))
        advancing = []
        for a, b in pairs:
            if normalize(a.answer) == normalize(b.answer):
                match = Match(level=level, drafts=(a, b), winner=min(a, b, key=_index), how="same answer")
            else:
                picks = [_preferred(c, v) for c, v in (next(judged) for _ in range(votes))]
                match = _decided(level, a, b, picks, support)
            matches.append(match)
            advancing.append(match.winner)
        remaining = advancing + remaining[2 * playing :]
    return Bracket(winners=sorted(remaining, key=_index), matches=matches)


def _index(draft: Draft) -> int:
    return draft.index


def _preferred(comparison: Comparison, verdict: int | None) -> int | None:
    """The index of the draft a verdict prefers; None for a void vote."""
    if verdict == 1:
        return comparison.first.index
    if verdict == 2:
        return comparison.second.index
    return None


def _decided(level: int, a: Draft, b: Draft, picks: list[int | None], support: Any) -> Match:
    """The match of `a` and `b` from its votes: the majority of valid votes, else the answer more
    drafts of the round reached, then the lower index."""
    for_a, for_b = picks.count(a.index), picks.count(b.index)
    if for_a != for_b:
        winner = a if for_a > for_b else b
        return Match(level=level, drafts=(a, b), winner=winner, how="votes", votes=picks)
    winner = max((a, b), key=lambda d: (support.get(answer_key(d) or "", 0), -d.index))
    return Match(level=level, drafts=(a, b), winner=winner, how="agreement", votes=picks)


def judgments(
    comparisons: Sequence[Comparison], texts: Sequence[str], *, role: str, round: int, indices: Sequence[int]
) -> list[Judgment]:
    """The `Judgment` records of a level's comparisons: `texts` are the judge's replies and `indices`
    the calls' indices, in the same order.

    Example:
        ```python
        from langgraph_pdr.runtime.knockout import Comparison, judgments
        from langgraph_pdr.state.records import Draft

        a, b = Draft(round=2, index=0, text="\\boxed{4}"), Draft(round=2, index=3, text="\\boxed{5}")
        [j] = judgments([Comparison(7, 1, b, a)], ["Better: 2"], role="judge", round=2, indices=[7])
        assert (j.first, j.second, j.verdict, j.preferred, j.index) == (3, 0, 2, 0, 7)
        ```
    """
    return [
        Judgment(
            role=role,
            round=round,
            index=index,
            level=c.level,
            first=c.first.index,
            second=c.second.index,
            text=text,
            verdict=verdict(text),
        )
        for c, text, index in zip(comparisons, texts, indices, strict=True)
    ]


def play(bracket: Knockout, judge: Callable[[list[Comparison]], Verdicts]) -> Bracket:
    """Play `bracket` to its end, level by level, with `judge` giving each level's verdicts.

    Example:
        ```python
        import random
        from langgraph_pdr.runtime.knockout import knockout, play
        from langgraph_pdr.state.records import Draft

        drafts = [Draft(round=1, index=i, text=a, answer=a) for i, a in enumerate(["1", "2", "3"])]
        void = play(knockout(drafts, keep=2, rng=random.Random(0)), lambda cs: [None] * len(cs))
        # every vote void: the lower index wins its pair (all answers are equally common)
        assert len(void.winners) == 2 and void.matches[0].how == "agreement"
        assert void.matches[0].winner.index == min(d.index for d in void.matches[0].drafts)
        ```
    """
    try:
        comparisons = next(bracket)
        while True:
            comparisons = bracket.send(judge(comparisons))
    except StopIteration as done:
        result: Bracket = done.value
        return result


async def aplay(bracket: Knockout, judge: Callable[[list[Comparison]], Awaitable[Verdicts]]) -> Bracket:
    """Async twin of `play`: `judge` is awaited for each level's verdicts.

    Example:
        ```python
        import asyncio
        import random
        from langgraph_pdr.runtime.knockout import aplay, knockout
        from langgraph_pdr.state.records import Draft

        drafts = [Draft(round=1, index=i, text=a, answer=a) for i, a in enumerate(["1", "2"])]

        async def judge(comparisons):  # always the second solution shown: 2 of 3 votes
            return [2] * len(comparisons)

        bracket = asyncio.run(aplay(knockout(drafts, keep=1, rng=random.Random(0)), judge))
        [match] = bracket.matches
        assert match.how == "votes" and match.votes.count(match.winner.index) == 2
        ```
    """
    try:
        comparisons = next(bracket)
        while True:
            comparisons = bracket.send(await judge(comparisons))
    except StopIteration as done:
        result: Bracket = done.value
        return result


def judge_messages(
    question: str, comparison: Comparison, prompts: PromptSet, images: Sequence[Any] | None = None
) -> list[BaseMessage]:
    """The prompt of one comparison: the set's `judge` template (or `card`'s), each draft as the next
    call reads it (its tool calls, then its text).

    Example:
        ```python
        from langgraph_pdr.prompting.prompt_catalog import get_prompts
        from langgraph_pdr.runtime.knockout import Comparison, judge_messages
        from langgraph_pdr.state.records import Draft

        a, b = Draft(round=1, index=0, text="\\\\boxed{4}"), Draft(round=1, index=1, text="\\\\boxed{5}")
        [message] = judge_messages("2 + 2?", Comparison(0, 1, b, a), get_prompts("card"))
        assert message.content.index("Solution 1:\\n\\\\boxed{5}") < message.content.index("\\\\boxed{4}")
        ```
    """
    text = judge_template(prompts).format(
        question=question, first=draft_body(comparison.first), second=draft_body(comparison.second)
    )
    return [question_message(text, images)]


def reads_judge(config: PDRConfig) -> bool:
    """Whether a run reads the `judge` template (a tournament picks its answer or its workspaces): what
    `PromptSet.digest(judge=...)` is told, so that only such runs' ids depend on the template.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, get_prompts
        from langgraph_pdr.runtime.knockout import reads_judge

        config = PDRConfig(schedule="4,2", distiller="tournament", k=1)
        assert reads_judge(config) and not reads_judge(PDRConfig())
        assert get_prompts("card").digest(judge=reads_judge(PDRConfig())) == get_prompts("card").digest()
        ```
    """
    return config.selector == "tournament" or (config.method == "pdr" and config.distiller == "tournament")


# -- the final selection --------------------------------------------------------------------------


def selects_by_tournament(state: dict[str, Any], config: PDRConfig) -> bool:
    """Whether the answer of this run is chosen by tournament: `selector="tournament"`, a PDR run that
    completed its schedule (no stop reason), and two or more finished drafts in its last round.

    Example:
        ```python
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.runtime.knockout import selects_by_tournament
        from langgraph_pdr.state.records import Draft

        config = PDRConfig(schedule="4,2", distiller="majority_k", k=1, selector="tournament")
        drafts = [Draft(round=2, index=i, text=f"\\\\boxed{{{i}}}", answer=str(i)) for i in range(2)]
        assert selects_by_tournament({"round": 2, "drafts": drafts}, config)
        assert not selects_by_tournament({"round": 2, "drafts": drafts, "stop_reason": "max_b_total"}, config)
        assert not selects_by_tournament({"round": 2, "drafts": drafts[:1]}, config)
        ```
    """
    return (
        config.method == "pdr"
        and config.selector == "tournament"
        and not state.get("stop_reason")
        and int(state.get("round") or 0) == config.rounds
        and len(finished(state.get("drafts") or [])) >= 2
    )


@dataclass
class Selection:
    """What the final tournament chose and what it cost.

    Attributes:
        winner: the chosen draft; None when no tournament ran or a cap ended it (the vote answers).
        bracket: the finished bracket, when it finished.
        calls: every judge call made.
        judgments: every comparison judged, with the judge's reply.
        stop: the cap that refused a level, if one did.
        refused: the call indices of the refused level (their failed attempts are still billed).
    """

    winner: Draft | None = None
    bracket: Bracket | None = None
    calls: list[CallRecord] = field(default_factory=list)
    judgments: list[Judgment] = field(default_factory=list)
    stop: str | None = None
    refused: list[int] = field(default_factory=list)

    def usage(self, env: NodeEnv, round: int) -> dict[str, Any]:
        """The state update that books the judge calls (and the billed failed attempts of a refused
        level) into B_total and the stages' maxima."""
        return env.stopped_usage(self.calls, role="judge", round=round, refused=self.refused)


class FinalJudge:
    """Judges the final selection's comparisons, a level at a time: reserves the level against the
    caps, then runs its calls in parallel (threads, or tasks with `ajudge`), role `judge`, stage
    `r{round}.judge.{level}`. A refused level raises `BudgetStop`."""

    def __init__(self, state: dict[str, Any], env: NodeEnv) -> None:
        self.state, self.env = state, env
        self.round = int(state.get("round") or 0)
        self.calls: list[CallRecord] = []
        self.judgments: list[Judgment] = []
        self.refused: list[int] = []

    def bracket(self) -> Knockout:
        drafts = list(self.state.get("drafts") or [])
        rng = random.Random(derive_seed(self.env.config.seed, "judge", self.round))
        return knockout(finished(drafts), keep=1, rng=rng, round_drafts=drafts)

    def _jobs(self, comparisons: list[Comparison]) -> list[Job]:
        env, cfg = self.env, self.env.config
        limit = cfg.max_tokens.verify
        question, images = self.state["question"], self.state.get("images")
        messages = [judge_messages(question, c, env.prompts, images) for c in comparisons]
        reserved = reserve(
            spent_with(self.state, self.calls), cfg, [prompt_bound(m, env.counter) + limit for m in messages]
        )
        if reserved.reason:  # the level is refused: every comparison of it
            self.refused = [c.number for c in comparisons]
            raise BudgetStop(reserved.reason)
        options = [
            call_fields(
                env,
                role="judge",
                round=self.round,
                index=c.number,
                max_tokens=limit,
                temperature=c.temperature(cfg),
                stage=f"r{self.round}.judge.{c.level}",
                committed=reserved.committed,
            )
            for c in comparisons
        ]
        return list(zip(messages, options, strict=True))

    def _settle(self, comparisons: list[Comparison], outcomes: list[Outcome]) -> Verdicts:
        """Keep the calls that returned; raise the first error (a `BudgetStop` first: the level was
        refused, and its failed calls' billed attempts are booked by `Selection.usage`)."""
        numbers = [c.number for c in comparisons]
        settled = settle(outcomes, numbers)
        self.calls += settled.calls
        if settled.error is not None:
            self.refused = settled.refused
            raise settled.error
        made = judgments(comparisons, settled.texts, role="judge", round=self.round, indices=numbers)
        self.judgments += made
        return [j.verdict for j in made]

    def judge(self, comparisons: list[Comparison]) -> Verdicts:
        """One level's verdicts, its calls in parallel threads."""
        jobs = self._jobs(comparisons)
        outcomes = call_models(
            self.env.model, jobs, concurrency=self.env.config.concurrency(), **self.env.keeping()
        )
        return self._settle(comparisons, outcomes)

    async def ajudge(self, comparisons: list[Comparison]) -> Verdicts:
        """Async twin of `judge`: the level's calls as tasks, at most `concurrency()` at once."""
        jobs = self._jobs(comparisons)
        outcomes = await acall_models(
            self.env.model, jobs, concurrency=self.env.config.concurrency(), **self.env.keeping()
        )
        return self._settle(comparisons, outcomes)

    def selection(self, bracket: Bracket | None, stop: BudgetStop | None = None) -> Selection:
        """The outcome, and its event: the bracket in one line per match, or the cap that ended it."""
        if stop is not None:
            self.env.emit("run_stopping", reason=stop.reason, round=self.round)
            return Selection(
                calls=self.calls, judgments=self.judgments, stop=stop.reason, refused=self.refused
            )
        assert bracket is not None
        bracket.announce(self.env, round=self.round, selects="answer", calls=self.calls)
        return Selection(
            winner=bracket.winners[0], bracket=bracket, calls=self.calls, judgments=self.judgments
        )


def select_final(state: dict[str, Any], env: NodeEnv) -> Selection:
    """The answer of a PDR run's last round by tournament, when `selects_by_tournament`; else an empty
    `Selection` (the vote answers). A cap that refuses a level ends it with `stop` set.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, run_pdr

        replies = ["\\\\boxed{4}"] * 2 + ["\\\\boxed{4}", "\\\\boxed{5}"] + ["Better: 2"] * 3
        model = GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies]))
        config = PDRConfig(schedule="2,2", distiller="majority_k", k=1, selector="tournament")
        result = run_pdr("What is 2 + 2?", model=model, config=config, db=":memory:")
        judged = [c for c in result.calls if c.role == "judge"]
        assert [(c.round, c.index, c.stage) for c in judged] == [(2, i, "r2.judge.1") for i in range(3)]
        assert result.answer in ("4", "5") and result.b_total == sum(c.total_tokens for c in result.calls)
        ```
    """
    return run_steps(final_selection(state, env))


async def aselect_final(state: dict[str, Any], env: NodeEnv) -> Selection:
    """Async twin of `select_final` (one implementation: `final_selection`)."""
    return await arun_steps(final_selection(state, env))


def final_selection(state: dict[str, Any], env: NodeEnv) -> Steps[Selection]:
    """`select_final` as steps (see `langgraph_pdr.calls.steps`): the bracket is played with the judge's
    calls in threads from sync code, as tasks from async code."""
    if not selects_by_tournament(state, env.config):
        return Selection()
    judge = FinalJudge(state, env)
    try:
        bracket = yield Call(
            lambda: play(judge.bracket(), judge.judge), lambda: aplay(judge.bracket(), judge.ajudge)
        )
    except BudgetStop as stop:
        return judge.selection(None, stop)
    return judge.selection(bracket)
