"""Running, resuming, listing and inspecting runs, each checkpointed with its ledger in one database."""

from langgraph_pdr.runner.running import (
    ROLES,
    EventHandler,
    ModelArg,
    aresume_pdr,
    arun_pdr,
    checked_config,
    inspect_run,
    list_runs,
    resume_pdr,
    run_pdr,
    turns,
)

__all__ = [
    "ROLES",
    "EventHandler",
    "ModelArg",
    "aresume_pdr",
    "arun_pdr",
    "checked_config",
    "inspect_run",
    "list_runs",
    "resume_pdr",
    "run_pdr",
    "turns",
]
