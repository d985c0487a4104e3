"""Running, resuming, listing and inspecting runs, each checkpointed with its ledger in one database:
`running` (`run_pdr`, `arun_pdr`), `resuming` (`resume_pdr`, `aresume_pdr`), `queries` (`list_runs`,
`inspect_run`), `recovery` (`interrupted_runs`, `resume_interrupted`), what running and resuming
share (`execution`), and `start_turns` (the runs of a burst starting a few at a time)."""

from langgraph_pdr.runner.execution import EventHandler, ModelArg
from langgraph_pdr.runner.queries import inspect_run, list_runs
from langgraph_pdr.runner.recovery import aresume_interrupted, interrupted_runs, resume_interrupted
from langgraph_pdr.runner.resuming import aresume_pdr, resume_pdr
from langgraph_pdr.runner.running import ROLES, arun_pdr, checked_config, run_pdr, turns

__all__ = [
    "ROLES",
    "EventHandler",
    "ModelArg",
    "aresume_interrupted",
    "aresume_pdr",
    "arun_pdr",
    "checked_config",
    "inspect_run",
    "interrupted_runs",
    "list_runs",
    "resume_interrupted",
    "resume_pdr",
    "run_pdr",
    "turns",
]
