"""Reading runs: `list_runs` (the runs of a database) and `inspect_run` (what one run did)."""

from __future__ import annotations

from pathlib import Path

from langgraph_pdr.checkpoints.store import open_store, stored_runs
from langgraph_pdr.runner.execution import require_db
from langgraph_pdr.state.result import PDRResult, RunSummary


def list_runs(db: str | Path | None = None, *, limit: int | None = None) -> list[RunSummary]:
    """The runs stored in `db`, newest first (none if the database file does not exist yet).

    Args:
        db: the database (as for `run_pdr`; None is the default database).
        limit: at most this many runs (the newest); None lists them all.

    Returns:
        One `RunSummary` per run: id, question, method, status, answer, B_seq and B_total.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, list_runs, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 2))
        for thread_id in ("older", "newer"):
            run_pdr("What is 17 * 23?", model=model, config=PDRConfig(method="single"), db="list.sqlite",
                    thread_id=thread_id)
        assert [r.thread_id for r in list_runs("list.sqlite")] == ["newer", "older"]
        assert [r.thread_id for r in list_runs("list.sqlite", limit=1)] == ["newer"]
        assert list_runs("no-such-file.sqlite") == []  # and no file is created
        ```
    """
    return stored_runs(db, limit=limit)


def inspect_run(thread_id: str, db: str | Path | None = None) -> PDRResult:
    """Everything the ledger holds about one run: rounds, drafts, scores, workspaces, calls.

    It reads the ledger only (it never calls a model), so it also shows a run that is still going,
    or one that failed or was interrupted, as far as it got.

    Args:
        thread_id: the run's id.
        db: the database the run is in (as for `run_pdr`).

    Returns:
        The run's `PDRResult`, as `run_pdr` returned it (or will).

    Raises:
        RunNotFoundError: no run with this id in `db` (a `ValueError`).

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, inspect_run, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")] * 3))
        config = PDRConfig(schedule="2,1", distiller="majority_k", k=1)
        result = run_pdr("What is 17 * 23?", model=model, config=config, db="inspect.sqlite", thread_id="t1")
        stored = inspect_run("t1", db="inspect.sqlite")
        assert stored == result and [len(r.drafts) for r in stored.rounds] == [2, 1]
        assert stored.rounds[0].workspaces[0].sources == [0]
        ```
    """
    require_db(db, thread_id)
    with open_store(db) as store:
        return store.ledger.load_result(thread_id)
