"""The distiller Protocol, the request a distiller gets, and the shared extractive formatting."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from langchain_core.messages import BaseMessage

from langgraph_pdr.budgets.accounting import BudgetStop, reserve, settle, spent_with
from langgraph_pdr.calls.model_call import Job, Outcome, acall_models, call_models, derive_seed
from langgraph_pdr.calls.token_count import cut_to_tokens, prompt_bound
from langgraph_pdr.checking import answers_programs
from langgraph_pdr.prompting.prompt_catalog import check_template, get_prompts
from langgraph_pdr.runtime.environment import NodeEnv, call_fields
from langgraph_pdr.selection.answer_votes import answer_tally, finished
from langgraph_pdr.selection.check_rank import check_tally
from langgraph_pdr.state.config import PDRConfig
from langgraph_pdr.state.context import TokenCounter
from langgraph_pdr.state.prompt_set import PromptSet
from langgraph_pdr.state.records import CallRecord, Draft, Judgment, Workspace
from langgraph_pdr.tooling.transcript import draft_body


@dataclass(frozen=True)
class Generation:
    """One model call a distiller asks for: `DistillRequest.generate_many` makes several together.

    Example:
        ```python
        from langchain_core.messages import HumanMessage
        from langgraph_pdr import Generation

        call = Generation([HumanMessage("Is 391 right for 17 * 23?")], max_tokens=64, temperature=0.0)
        assert call.max_tokens == 64 and call.messages[0].content.startswith("Is 391")
        ```
    """

    messages: Sequence[BaseMessage]
    max_tokens: int
    temperature: float


@dataclass
class DistillRequest:
    """What a distiller gets: this round's surviving drafts (scored when it asked for scores).

    Attributes:
        question: the question.
        gold: the gold answer (oracle distillers only; never shown to the model).
        round: the round whose drafts are distilled; the workspaces serve round `round + 1`.
        drafts: the round's surviving drafts, by index.
        next_width: drafts in the next round.
        config: the run configuration (k, κ, seed, ...).
        counter: the token counter that bounds workspaces.
        env: the running node's environment (model, prompts, recorder); None outside a run, where
            `generate` cannot call the model.
        state: the graph state the request was made from (what the run has spent so far).
        calls: the model calls this request made (`generate` appends them).
        refused: the indices of the calls that did not return, when a call failed or a cap refused
            them (the node books what their failed attempts were billed).
        judgments: the comparisons a tournament judged (the node stores them with the calls).

    A distiller that writes its workspace with the model calls `generate` / `agenerate` (one call, its
    own stage) or `generate_many` / `agenerate_many` (calls made together, one stage), which reserve the
    calls against the run's caps first. `k`, `kappa`, `prompts`, `candidates`, `tally()` and
    `rng()` are shorthands for what most distillers need.

    Example:
        ```python
        from langgraph_pdr import DistillRequest, Draft, PDRConfig, Utf8TokenCounter, get_distiller

        answers = ["4", "4", "5"]
        drafts = [Draft(round=1, index=i, text=f"\\\\boxed{{{a}}}", answer=a) for i, a in enumerate(answers)]
        request = DistillRequest(question="What is 2 + 2?", gold=None, round=1, drafts=drafts,
                                 next_width=1, config=PDRConfig(distiller="majority_k", k=1),
                                 counter=Utf8TokenCounter())
        assert request.tally().endswith("4 (attempts 1, 2); 5 (attempt 3).")
        [workspace] = get_distiller("majority_k").distill(request)
        assert workspace.sources == [0] and workspace.tokens <= request.kappa
        ```
    """

    question: str
    gold: str | None
    round: int
    drafts: list[Draft]
    next_width: int
    config: PDRConfig
    counter: TokenCounter
    env: NodeEnv | None = None
    state: dict[str, Any] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    judgments: list[Judgment] = field(default_factory=list)

    @property
    def kappa(self) -> int:
        return self.config.kappa

    @property
    def prompts(self) -> PromptSet:
        """The run's prompt set."""
        return self.env.prompts if self.env is not None else get_prompts(self.config.prompts)

    @property
    def candidates(self) -> list[Draft]:
        """The drafts worth showing: the finished ones, or every draft when none finished."""
        return finished(self.drafts) or list(self.drafts)

    @property
    def verifier(self) -> str | None:
        """The verifier the run checks its drafts with (their checks are in `Draft.check`), or None."""
        return self.state.get("verifier")

    def tally(self) -> str:
        """The workspace's first line: the round's checks (a run with a verifier) or final answers,
        counted by code."""
        if any(d.check is not None for d in self.drafts):
            return check_template(self.prompts, "check_tally").format(tally=check_tally(self.drafts))
        return self.prompts.tally.format(tally=answer_tally(self.drafts))

    @property
    def k(self) -> int:
        return self.config.k

    def rng(self, *parts: object) -> random.Random:
        """A random generator seeded by the run's seed, this round and `parts`."""
        return random.Random(derive_seed(self.config.seed, "distill", self.round, *parts))

    def _live_env(self) -> NodeEnv:
        if self.env is None:
            raise RuntimeError("this distill request cannot call the model")
        return self.env

    def _jobs(self, calls: Sequence[Generation]) -> list[Job]:
        """Reserve `calls` against the caps as one stage (`r{round}.distill.{first index}`), or raise
        `BudgetStop` (every call refused); each call's messages and `call_model` options."""
        env, first = self._live_env(), len(self.calls)
        costs = [prompt_bound(c.messages, self.counter) + c.max_tokens for c in calls]
        reserved = reserve(spent_with(self.state, self.calls), self.config, costs)
        if reserved.reason:
            self.refused = [first + i for i in range(len(calls))]
            raise BudgetStop(reserved.reason)
        return [
            (
                c.messages,
                call_fields(
                    env,
                    role="distill",
                    round=self.round,
                    index=first + i,
                    max_tokens=c.max_tokens,
                    temperature=c.temperature,
                    stage=f"r{self.round}.distill.{first}",
                    committed=reserved.committed,
                ),
            )
            for i, c in enumerate(calls)
        ]

    def _settle(self, jobs: list[Job], outcomes: list[Outcome]) -> list[str]:
        """Keep the calls that returned; raise the first error (a `BudgetStop` first), the calls that
        did not return noted in `refused` (the node books their billed failed attempts)."""
        settled = settle(outcomes, [options["index"] for _, options in jobs])
        self.calls += settled.calls
        if settled.error is not None:
            self.refused = settled.refused
            raise settled.error
        return settled.texts

    def generate_many(self, calls: Sequence[Generation]) -> list[str]:
        """Model calls made together, in parallel (at most `config.concurrency()` at once): one stage,
        so B_seq adds only the largest; reserved against the caps as a whole first. Their texts, in
        order; their records are appended to `calls`.

        Example:
            ```python
            from langchain_core.language_models import GenericFakeChatModel
            from langchain_core.messages import AIMessage, HumanMessage
            from langgraph_pdr import DistillRequest, Generation, PDRConfig, Utf8TokenCounter, get_prompts
            from langgraph_pdr.runtime.environment import NodeEnv

            config = PDRConfig(schedule="4,1")
            env = NodeEnv(model=GenericFakeChatModel(messages=iter([AIMessage("yes")] * 3)),
                          config=config, counter=Utf8TokenCounter(), recorder=None, thread_id="ex-many",
                          prompts=get_prompts("card"))
            request = DistillRequest(question="2 + 2?", gold=None, round=1, drafts=[], next_width=1,
                                     config=config, counter=env.counter, env=env)
            call = Generation([HumanMessage("Is 4 right?")], max_tokens=8, temperature=0.0)
            assert request.generate_many([call] * 3) == ["yes"] * 3
            assert {(c.index, c.stage) for c in request.calls} == {(i, "r1.distill.0") for i in range(3)}
            ```
        """
        jobs = self._jobs(calls)
        model = self._live_env().model
        outcomes = call_models(
            model, jobs, concurrency=self.config.concurrency(), **self._live_env().keeping()
        )
        return self._settle(jobs, outcomes)

    async def agenerate_many(self, calls: Sequence[Generation]) -> list[str]:
        """Async twin of `generate_many`."""
        jobs = self._jobs(calls)
        model = self._live_env().model
        outcomes = await acall_models(
            model, jobs, concurrency=self.config.concurrency(), **self._live_env().keeping()
        )
        return self._settle(jobs, outcomes)

    def generate(
        self, messages: Sequence[BaseMessage], *, max_tokens: int, temperature: float
    ) -> tuple[str, CallRecord]:
        """One model call, reserved against the caps first: its own stage."""
        [text] = self.generate_many([Generation(messages, max_tokens, temperature)])
        return text, self.calls[-1]

    async def agenerate(
        self, messages: Sequence[BaseMessage], *, max_tokens: int, temperature: float
    ) -> tuple[str, CallRecord]:
        """Async twin of `generate`."""
        [text] = await self.agenerate_many([Generation(messages, max_tokens, temperature)])
        return text, self.calls[-1]


@runtime_checkable
class Distiller(Protocol):
    """Turns a round's drafts into the next round's workspaces, each at most κ tokens.

    Return one workspace (shared by every next-round draft) or `next_width` workspaces (draft i gets
    workspace i). Class attributes declare what the distiller needs: `uses_k` (k must not exceed a
    round's drafts), `needs_scores` (run self-verification first), `needs_gold` (oracle only).
    `name` is what `PDRConfig(distiller=...)` calls it. Subclass `BaseDistiller` for the defaults, or
    write any class with these members, and register it with `register_distiller`.

    Example:
        ```python
        from langgraph_pdr import Distiller, Workspace, get_distiller

        class Blank:  # no base class needed: the Protocol is structural
            name, uses_k, needs_scores, needs_gold = "blank", False, False, False

            def distill(self, request):
                return [Workspace(round=request.round, distiller=self.name)]

            async def adistill(self, request):
                return self.distill(request)

        assert isinstance(Blank(), Distiller) and isinstance(get_distiller("shared_top_k"), Distiller)
        assert get_distiller("shared_top_k").needs_scores and not get_distiller("majority_k").needs_scores
        ```
    """

    name: ClassVar[str]
    uses_k: ClassVar[bool]
    needs_scores: ClassVar[bool]
    needs_gold: ClassVar[bool]

    def distill(self, request: DistillRequest) -> list[Workspace]: ...

    async def adistill(self, request: DistillRequest) -> list[Workspace]: ...


class BaseDistiller:
    """Defaults for the Protocol: no k, no scores, no gold; `adistill` runs `distill`.

    A subclass sets `name` (and the flags it needs) and implements `distill`; it overrides `adistill`
    only when it calls the model (with `request.agenerate`) and should not block the event loop.

    Example:
        ```python
        import asyncio
        from langgraph_pdr import BaseDistiller, DistillRequest, Draft, PDRConfig, Utf8TokenCounter, Workspace

        class FirstDraft(BaseDistiller):  # the round's first draft, whole
            name = "first_draft"

            def distill(self, request: DistillRequest) -> list[Workspace]:
                text = request.drafts[0].text
                return [Workspace(round=request.round, text=text, tokens=request.counter.count(text),
                                  counted_by=request.counter.name, distiller=self.name, sources=[0])]

        drafts = [Draft(round=1, index=0, text="17 * 23 = \\\\boxed{391}", answer="391")]
        request = DistillRequest(question="What is 17 * 23?", gold=None, round=1, drafts=drafts,
                                 next_width=1, config=PDRConfig(), counter=Utf8TokenCounter())
        [workspace] = asyncio.run(FirstDraft().adistill(request))  # the default adistill runs distill
        assert workspace.text == drafts[0].text and not (FirstDraft.uses_k or FirstDraft.needs_gold)
        ```
    """

    name: ClassVar[str] = ""
    uses_k: ClassVar[bool] = False
    needs_scores: ClassVar[bool] = False
    needs_gold: ClassVar[bool] = False
    #: reads the drafts' checks (`Draft.check`): a run with it needs a verifier or visible tests
    needs_checks: ClassVar[bool] = False

    def distill(self, request: DistillRequest) -> list[Workspace]:
        raise NotImplementedError

    async def adistill(self, request: DistillRequest) -> list[Workspace]:
        return self.distill(request)


def attempt_text(prompts: PromptSet, draft: Draft, text: str | None = None, *, programs: bool = False) -> str:
    """One draft as a workspace or a summary prompt shows it (with the code it ran and its output, see
    `draft_body`; a run whose answers are programs shows the program), labelled by its index in its
    round (and as unfinished when it was cut off before its answer), with its check's feedback when it
    was checked."""
    body = shown_body(draft, programs) if text is None else text
    if draft.check is not None:
        template = check_template(prompts, "attempt_checked")
        return template.format(n=draft.index + 1, text=body, feedback=draft.check.feedback or "(no feedback)")
    template = prompts.attempt_unfinished if draft.unfinished else prompts.attempt
    return template.format(n=draft.index + 1, text=body)


def shown_body(draft: Draft, programs: bool = False) -> str:
    """What a workspace shows of a draft: its program in a fenced block when the run answers with
    programs and the draft has one, else `draft_body`."""
    if programs and draft.answer:
        return f"```python\n{draft.answer}\n```"
    return draft_body(draft)


SEPARATOR = "\n\n"


def extractive_workspace(
    request: DistillRequest, selected: Sequence[Draft], *, index: int, distiller: str
) -> Workspace:
    """The round's tally, then the selected drafts verbatim, each cut to its share of κ (keeping its
    final answer). The tally is left out only when it alone would take more than half of κ."""
    counter, kappa, prompts = request.counter, request.kappa, request.prompts
    if not selected:
        return Workspace(round=request.round, index=index, counted_by=counter.name, distiller=distiller)
    header = request.tally()
    if counter.count(header) > kappa // 2:
        header = ""
    heads = [header] if header else []
    programs = answers_programs(request.verifier)
    overhead = sum(counter.count(h) for h in heads)
    overhead += sum(counter.count(attempt_text(prompts, d, "")) for d in selected)
    overhead += counter.count(SEPARATOR) * (len(heads) + len(selected) - 1)
    share = max((kappa - overhead) // len(selected), 1)
    text = ""
    while share > 0:
        parts = [
            attempt_text(prompts, d, cut_to_tokens(shown_body(d, programs), share, counter)) for d in selected
        ]
        text = SEPARATOR.join([*heads, *parts])
        if counter.count(text) <= kappa:
            break
        share -= max(share // 10, 1)  # a counter that does not add up over parts
    if counter.count(text) > kappa:
        text = cut_to_tokens(text, kappa, counter)
    return Workspace(
        round=request.round,
        index=index,
        text=text,
        tokens=counter.count(text),
        counted_by=counter.name,
        distiller=distiller,
        sources=[d.index for d in selected],
    )


#: Redraws allowed per next-round draft to avoid repeating another draft's selection.
REDRAWS = 16


def distinct_selections(
    request: DistillRequest, name: str, draw: Callable[[random.Random], Sequence[Draft]]
) -> list[list[Draft]]:
    """One selection per next-round draft, each from its own seeded `draw`, redrawn (up to
    `REDRAWS` times) when it repeats an earlier draft's selection, so that next-round drafts see
    different evidence where this round's drafts allow it."""
    given: set[tuple[int, ...]] = set()
    out = []
    for j in range(request.next_width):
        rng = request.rng(name, j)
        for _ in range(REDRAWS):
            chosen = sorted(draw(rng), key=lambda d: d.index)
            key = tuple(d.index for d in chosen)
            if key not in given:
                break
        given.add(key)
        out.append(chosen)
    return out
