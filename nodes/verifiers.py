"""Moved to `langgraph_pdr.checking`; this module keeps the old import path working."""

from langgraph_pdr.checking import (
    BUILT_IN,
    Answers,
    BaseVerifier,
    CheckRequest,
    PythonTests,
    Verifier,
    answers_programs,
    as_check,
    ensure_verifier,
    get_verifier,
    read_draft,
    reference,
    register_verifier,
    stored_reference,
)

__all__ = [
    "Answers",
    "BUILT_IN",
    "BaseVerifier",
    "CheckRequest",
    "PythonTests",
    "Verifier",
    "answers_programs",
    "as_check",
    "ensure_verifier",
    "get_verifier",
    "read_draft",
    "reference",
    "register_verifier",
    "stored_reference",
]
