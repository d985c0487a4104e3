"""The errors of the run store: a missing or existing run, a busy database, a run held by another process."""

from __future__ import annotations


class RunNotFoundError(ValueError):
    """No run with this thread id in this database.

    Raised by `resume_pdr`, `aresume_pdr` and `inspect_run` for an unknown thread id, or when the
    database file does not exist (which they never create). A `ValueError`.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, RunNotFoundError, inspect_run, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")]))
        run_pdr("What is 17 * 23?", model=model, config=PDRConfig(method="single"), db="known.sqlite")
        try:
            inspect_run("nope", db="known.sqlite")
        except RunNotFoundError as exc:
            error = exc
        assert isinstance(error, ValueError) and str(error).startswith("thread_id: no run 'nope'")
        ```
    """


class RunExistsError(ValueError):
    """A run with this thread id already exists.

    `run_pdr` / `arun_pdr` raise it when a `thread_id` is reused for another question or config, or
    for the same run while it has not finished (resume that with `resume_pdr`). Running a finished run
    again with the same question and config is no error: it returns the stored result. A `ValueError`.

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, RunExistsError, run_pdr

        model = GenericFakeChatModel(messages=iter([AIMessage("17 * 23 = \\\\boxed{391}")]))
        options = {"model": model, "config": PDRConfig(method="single"), "db": "reused.sqlite"}
        first = run_pdr("What is 17 * 23?", thread_id="t1", **options)
        assert run_pdr("What is 17 * 23?", thread_id="t1", **options) == first  # stored: no model call
        try:
            run_pdr("What is 18 * 23?", thread_id="t1", **options)
        except RunExistsError as exc:
            error = str(exc)
        assert "already exists" in error and "pick another thread id" in error
        ```
    """


class RunLockedError(RuntimeError):
    """Another process is running this thread right now.

    A running run is leased to the process that runs it (a lock owner `host:pid:nonce` and an expiry,
    extended by a heartbeat). `resume_pdr` / `aresume_pdr` raise this error when a live process holds
    the lease; a lease whose holder died or expired is taken over instead. A `RuntimeError`.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, RunLockedError
        from langgraph_pdr.checkpoints.ledger import Ledger, new_lock_owner

        ledger = Ledger("sqlite://")  # the run ledger, here in memory
        holder = new_lock_owner()  # this process, alive: its lease holds
        ledger.start_run("t1", question="What is 17 * 23?", config=PDRConfig(), lock_owner=holder)
        try:
            ledger.acquire("t1", new_lock_owner())  # what a second resume would do
        except RunLockedError as exc:
            error = str(exc)
        assert "is being run by another process" in error and holder in error
        ```
    """


class LeaseLostError(RuntimeError):
    """Another process took this run over (this one's lease had expired): this process writes no more
    to it.

    A process paused past its lease (a stopped laptop, a stalled call) may find, when it wakes, that
    another process resumed its run. Every write of the run's ledger and checkpointer checks the
    lease first, so the first holder's next write raises this error instead of mixing its rows with
    the new holder's. A `RuntimeError`.

    Example:
        ```python
        from sqlalchemy import text
        from langgraph_pdr import LeaseLostError, PDRConfig
        from langgraph_pdr.checkpoints.ledger import Ledger, new_lock_owner

        first = Ledger("sqlite:///lease.sqlite")  # the ledger of the process that runs t1 (on host-a)
        second = Ledger("sqlite:///lease.sqlite")  # another process's
        first.start_run("t1", question="What is 17 * 23?", config=PDRConfig(), lock_owner="host-a:42:x")
        with first.engine.begin() as conn:
            conn.execute(text("UPDATE runs SET lock_until = 0"))  # the first holder's lease expires
        second.acquire("t1", new_lock_owner())  # the second takes the run over
        try:
            first.check_lease("t1")  # done before each of the first holder's writes
        except LeaseLostError as exc:
            error = str(exc)
        assert "was taken over by another process" in error
        ```
    """


class DatabaseBusyError(RuntimeError):
    """Another process holds the database's write lock for longer than `PDR_DB_TIMEOUT` seconds."""
