"""The errors of the run store: a missing or existing run, a busy database, a run held by another process."""

from __future__ import annotations


class RunNotFoundError(ValueError):
    """No run with this thread id in this database."""


class RunExistsError(ValueError):
    """A run with this thread id already exists."""


class RunLockedError(RuntimeError):
    """Another process is running this thread right now."""


class LeaseLostError(RuntimeError):
    """Another process took this run over (this one's lease had expired): this process writes no more
    to it."""


class DatabaseBusyError(RuntimeError):
    """Another process holds the database's write lock for longer than `PDR_DB_TIMEOUT` seconds."""
