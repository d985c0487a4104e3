"""Moved to `langgraph_pdr.tooling.sandboxed_python`; this module keeps the old import path working."""

from langgraph_pdr.tooling.sandboxed_python import (
    BOOT,
    BREAK_ENV,
    ENVIRONMENT,
    REFUSED,
    REMEDY,
    UNCONFINED_ENV,
    PythonInput,
    PythonRun,
    python_tool,
    run_python,
)

__all__ = [
    "BOOT",
    "BREAK_ENV",
    "ENVIRONMENT",
    "PythonInput",
    "PythonRun",
    "REFUSED",
    "REMEDY",
    "UNCONFINED_ENV",
    "python_tool",
    "run_python",
]
