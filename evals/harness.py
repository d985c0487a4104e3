"""Running an evaluation: every method on every problem, one durable run each, resumable."""

from __future__ import annotations

import hashlib
import json
import math
import queue
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from langgraph_pdr.calls.model_call import call_options, model_name
from langgraph_pdr.calls.token_count import DEFAULT_COUNTER
from langgraph_pdr.checking.programs import split_tests
from langgraph_pdr.checkpoints.ledger import FINISHED
from langgraph_pdr.checkpoints.store import MEMORY, is_postgres, open_ledger, resolve_db
from langgraph_pdr.evals.cache import SharedDrafts
from langgraph_pdr.evals.code_grading import CodeGrader
from langgraph_pdr.evals.datasets import Problem
from langgraph_pdr.evals.eval_store import EvalStore, Item
from langgraph_pdr.images import load_images
from langgraph_pdr.models import OpenModel, open_model
from langgraph_pdr.prompting.prompt_catalog import get_prompts
from langgraph_pdr.runner import resume_pdr, run_pdr
from langgraph_pdr.runtime.knockout import reads_judge
from langgraph_pdr.selection.answer_grading import is_correct
from langgraph_pdr.state.config import DEFAULT_VERIFIER, PDRConfig
from langgraph_pdr.state.methods import EvalMethod, matched_single
from langgraph_pdr.state.result import PDRResult

#: Called after each (problem, method) with the problem's id, the method's label and how many of
#: the problem's methods are done.
ProgressFn = Callable[[str, str, int], None]


@dataclass(frozen=True)
class Task:
    problem: Problem
    method: EvalMethod
    position: int
    method_index: int
    matches: str | None = None


#: `PDRConfig` fields added after the first evaluation whose default is not None: a run's key leaves
#: each out while it is at its default, so that the runs of earlier evaluations keep their ids (and
#: are read back, not paid for again). Add a field here when adding one to `PDRConfig` (dotted for a
#: field of a group, e.g. `max_tokens.judge`).
LATE_FIELDS: tuple[str, ...] = (
    "tools",
    "max_tool_calls",
    "tool_format",
    "selector",
    "tool_timeout",
    "verifier",
    "stop_on_pass",
    "pass_quorum",
)


def run_key(config: PDRConfig) -> dict[str, Any]:
    """What decides a run besides its question and model: the config (fields left at None, which
    mean "not used", are left out, and so are the `LATE_FIELDS` left at their defaults, so adding a
    field keeps earlier runs' ids) and a digest of every template of its prompt set (the tool
    templates too, for a run with tools).

    Example:
        ```python
        from langgraph_pdr import PDRConfig
        from langgraph_pdr.evals.harness import run_key

        assert "tools" not in run_key(PDRConfig())["config"]
        assert run_key(PDRConfig(tools=["python"]))["config"]["tools"] == ["python"]
        ```
    """
    data = config.model_dump(mode="json", exclude_none=True)
    defaults = PDRConfig.model_construct().model_dump(mode="json")
    for name in LATE_FIELDS:
        *groups, field = name.split(".")
        here, default = data, defaults
        for group in groups:
            here, default = here.get(group, {}), default.get(group, {})
        if field in here and here[field] == default.get(field):
            del here[field]
    digest = get_prompts(config.prompts).digest(
        tools=bool(config.tools), judge=reads_judge(config), checks=config.verifier is not None
    )
    return {"config": data, "prompts": digest}


def problem_config(problem: Problem, config: PDRConfig) -> PDRConfig:
    """A method's config for `problem`: a code task's runs answer with programs, so they check their
    drafts with `python_tests` (the default verifier) unless the method names another; a task's
    visible tests do the same (`PDRConfig.verifier_for`)."""
    verifier = config.verifier_for(problem.tests) or (DEFAULT_VERIFIER if problem.code is not None else None)
    return config if verifier == config.verifier else config.model_copy(update={"verifier": verifier})


def thread_id(problem: Problem, method: EvalMethod, model: str | None) -> str:
    """The run's id: the problem and a digest of everything that decides the run (question, gold,
    config, model, prompts), so the same evaluation finds its runs again and a changed one makes
    new runs."""
    parts: list[Any] = [
        problem.problem,
        problem.answer,
        run_key(problem_config(problem, method.config)),
        model,
    ]
    if problem.images:  # by content: a changed image file is another question
        parts.append([ref.sha256 for ref, _ in load_images(problem.images)])
    if problem.tests:
        parts.append(problem.tests)
    key = json.dumps(parts, sort_keys=True)
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return f"eval:{problem.dataset}:{problem.id}:{digest}"


def eval_store(db: str | Path | None) -> EvalStore:
    """The evaluation tables of a SQLite file or PostgreSQL database (an evaluation needs one that
    lasts: it resumes from it)."""
    if resolve_db(db) == MEMORY:
        raise ValueError("db: an evaluation needs a database file to resume from, not ':memory:'")
    return EvalStore(open_ledger(db))


def takes_seed(model: BaseChatModel) -> bool:
    """Whether each call of `model` carries its own seed (so identical requests are identical samples)."""
    return "seed" in call_options(model, max_tokens=1, temperature=0.0, seed=0)


class Evaluation:
    """Runs `methods` on `problems` with `model`, storing every run in `db` under the name `name`.

    An interrupted evaluation resumes where it stopped when run again with the same arguments:
    finished runs are read back, unfinished ones resumed, none paid for twice.
    """

    def __init__(
        self,
        problems: Sequence[Problem],
        methods: Sequence[EvalMethod],
        *,
        model: Any,
        db: str | Path | None,
        name: str,
        base_url: str | None = None,
        concurrency: int = 2,
        share_drafts: bool = True,
        timeout: float | None = None,
        on_progress: ProgressFn | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency: must be at least 1, got {concurrency}")
        self.problems, self.methods = list(problems), list(methods)
        self.model, self.base_url, self.name = model, base_url, name
        self.db = resolve_db(db) if is_postgres(db) else str(Path(resolve_db(db)).expanduser())
        self.store = eval_store(self.db)
        self.grader = CodeGrader(self.store.ledger.engine)
        self.concurrency, self.share_drafts, self.timeout = concurrency, share_drafts, timeout
        self.on_progress = on_progress

    # -- one run ---------------------------------------------------------------------------------

    def _key(self, task: Task) -> dict[str, str]:
        return {
            "eval": self.name,
            "dataset": task.problem.dataset,
            "problem_id": task.problem.id,
            "method": task.method.label,
        }

    def _run(self, task: Task, om: OpenModel) -> None:
        problem = task.problem
        config = problem_config(problem, task.method.config)
        tid = thread_id(problem, task.method, om.spec.id or model_name(om.model))
        self.store.save(
            **self._key(task),
            position=task.position,
            method_index=task.method_index,
            thread_id=tid,
            gold=problem.answer,
            matches=task.matches,
        )
        row = self.store.ledger.run_row(tid)
        started = time.monotonic()
        ran = row is None or row["status"] not in FINISHED
        try:
            if row is None:
                result = run_pdr(
                    problem.problem,
                    model=om,
                    config=config,
                    db=self.db,
                    thread_id=tid,
                    gold=problem.answer if problem.code is None else None,
                    images=problem.images or None,
                    tests=problem.tests,
                )
            elif ran:
                result = resume_pdr(tid, db=self.db, model=om)
            else:  # finished: read it back from the ledger this evaluation already holds open
                result = self.store.ledger.load_result(tid)
        except Exception as exc:  # one failed run is a failure of the evaluation, not its end
            line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            self.store.save(
                **self._key(task),
                correct=None,
                error=f"{type(exc).__name__}: {line}",
                wall_s=time.monotonic() - started,
            )
            return
        ok = result.status in FINISHED
        grades = self._grades(problem, result) if ok else {"correct": None}
        self.store.save(
            **self._key(task),
            **grades,
            error=None if ok else (result.error or f"run {result.status}: {result.stop_reason}"),
            wall_s=(time.monotonic() - started) if ran else 0.0,
        )

    def _grades(self, problem: Problem, result: PDRResult) -> dict[str, Any]:
        """A finished run's grades: its answer against the gold answer, or a code task's program on its
        hidden tests (base and plus), with whether its checks passed the visible tests."""
        if problem.code is None:
            return {"correct": is_correct(result.text, problem.answer)}
        grade = self.grader.grade(result.answer, problem.code)
        return {
            "correct": grade.plus,
            "base_correct": grade.base,
            "visible": bool(result.check and result.check.passed),
            "visible_tests": len(split_tests(problem.tests)[1]),
        }

    # -- many runs -------------------------------------------------------------------------------

    def _run_all(self, tasks: list[Task]) -> None:
        if not tasks:
            return
        configs = list({t.method.config for t in tasks})
        per_problem: defaultdict[str, int] = defaultdict(int)
        longest = max(DEFAULT_COUNTER.count(t.problem.problem) for t in tasks)
        opened = open_model(
            self.model,
            base_url=self.base_url,
            config=configs,
            progress=True,
            runs=self.concurrency,
            timeout=self.timeout,
            question_tokens=longest,
        )
        with opened as om, ThreadPoolExecutor(self.concurrency, thread_name_prefix="pdr-eval") as pool:
            if self.share_drafts and takes_seed(om.model):
                cache = SharedDrafts(self.store.ledger.engine, om.spec.id or model_name(om.model) or "")
                om = OpenModel(om.model.model_copy(update={"cache": cache}), om.spec, om.token_counter)
            done: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
            futures = [pool.submit(self._run_chain, chain, om, done) for chain in _by_problem(tasks)]
            for _ in tasks:
                task = done.get()
                if task is None:  # not run: its chain failed (raised below)
                    continue
                per_problem[task.problem.id] += 1
                if self.on_progress:
                    self.on_progress(task.problem.id, task.method.label, per_problem[task.problem.id])
            for future in futures:
                future.result()

    def _run_chain(self, chain: list[Task], om: OpenModel, done: queue.SimpleQueue[Task | None]) -> None:
        """One problem's runs, one after another: two runs of a problem are never in flight together,
        so a run that shares a request with an earlier one always finds its answer stored."""
        for n, task in enumerate(chain):
            try:
                self._run(task, om)
            except BaseException:
                for _ in chain[n:]:
                    done.put(None)
                raise
            done.put(task)

    def tasks(
        self, methods: Sequence[EvalMethod], matches: dict[str, str] | None = None, first_index: int = 0
    ) -> list[Task]:
        """Every method on every problem, problem by problem, methods in their given order. Runs go
        `concurrency` problems at a time, each problem's runs one after another (an interrupted
        evaluation has all methods on every problem it finished, and later methods of a problem find
        the drafts they share with earlier ones)."""
        return [
            Task(p, m, i, first_index + j, (matches or {}).get(m.label))
            for i, p in enumerate(self.problems)
            for j, m in enumerate(methods)
        ]

    def run(self) -> list[Item]:
        """Run (or resume) every method on every problem; returns the evaluation's items."""
        self._run_all(self.tasks(self.methods))
        return self.items()

    def run_matched(self, base: dict[str, Any] | None = None) -> list[Item]:
        """Pair each iterative method with a single pass that may spend the method's mean B_seq.

        The single pass gets `max_tokens` = mean(B_seq − the round-1 draft prompt), rounded up to 64:
        its B_seq (prompt + output) then may reach the iterative method's.
        """
        pairs: dict[str, list[str]] = defaultdict(list)
        singles: dict[str, EvalMethod] = {}
        items = self.items()
        for method in self.methods:
            if not method.iterative:
                continue
            tokens = self._matched_tokens(method, items)
            if tokens is None:
                continue
            single = matched_single(method, tokens, base)
            singles[single.label] = single
            pairs[single.label].append(method.label)
        matches = {label: ",".join(methods) for label, methods in pairs.items()}
        self._run_all(self.tasks(list(singles.values()), matches, first_index=len(self.methods)))
        return self.items()

    def _matched_tokens(self, method: EvalMethod, items: list[Item]) -> int | None:
        spans = []
        for item in items:
            if item.method != method.label or not item.finished:
                continue
            result = self.store.ledger.load_result(item.thread_id)
            first = next((c for c in result.calls if c.role == "draft" and c.round == 1), None)
            spans.append(result.b_seq - (first.input_tokens if first else 0))
        if not spans:
            return None
        return max(64, 64 * math.ceil(sum(spans) / len(spans) / 64))

    def items(self) -> list[Item]:
        labels = {m.label for m in self.methods}
        ids = {(p.dataset, p.id) for p in self.problems}
        return [
            i
            for i in self.store.items(self.name)
            if (i.dataset, i.problem_id) in ids and (i.method in labels or i.matches)
        ]


def _by_problem(tasks: list[Task]) -> list[list[Task]]:
    """The tasks of each problem, in order, problems in the order they first appear."""
    chains: dict[tuple[str, str], list[Task]] = {}
    for task in tasks:
        chains.setdefault((task.problem.dataset, task.problem.id), []).append(task)
    return list(chains.values())


def run_eval(
    problems: Sequence[Problem],
    methods: Sequence[EvalMethod],
    *,
    model: BaseChatModel | str,
    db: str | Path | None = None,
    name: str = "eval",
    base_url: str | None = None,
    concurrency: int = 2,
    share_drafts: bool = True,
    matched: bool = False,
    matched_base: dict[str, Any] | None = None,
    on_progress: ProgressFn | None = None,
) -> list[Item]:
    """Run `methods` on `problems`, one durable run each; run again to resume.

    Args:
        problems: from `load_dataset` (and `select`).
        methods: from `parse_methods`.
        model: a chat model or a model string, as for `run_pdr` (`"local"` serves the local model once
            for the whole evaluation, with slots for `concurrency` runs).
        db: the SQLite file that holds the runs and the evaluation's items.
        name: the evaluation's name in `db` (its report is redrawn by name).
        concurrency: problems at a time (a problem's runs go one after another).
        share_drafts: answer identical requests of different methods once (see `evals.cache`): a
            single pass, SR's first draft and PDR's first round are then the same samples.
        matched: afterwards, pair each iterative method with a single pass of equal mean B_seq.
        on_progress: called after each run with (problem id, method label, methods done for it).

    Returns:
        The evaluation's items (problem, method, run, correctness, wall time).

    Example:
        ```python
        import tempfile
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr.evals import load_dataset, parse_methods, run_eval, summarize

        model = GenericFakeChatModel(messages=iter([AIMessage("\\\\boxed{18}")] * 10))
        items = run_eval(load_dataset("gsm8k")[:2], parse_methods("single,sr:2"), model=model,
                         db=tempfile.mktemp(suffix=".sqlite"), concurrency=1)
        assert [(s.method, s.n) for s in summarize(items)] == [("single", 2), ("sr:2", 2)]
        ```
    """
    evaluation = Evaluation(
        problems,
        methods,
        model=model,
        db=db,
        name=name,
        base_url=base_url,
        concurrency=concurrency,
        share_drafts=share_drafts,
        on_progress=on_progress,
    )
    evaluation.run()
    if matched:
        evaluation.run_matched(matched_base)
    return evaluation.items()
