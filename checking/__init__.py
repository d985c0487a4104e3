"""Verifiers: checks of a draft from outside the model (DESIGN.md §1, "Verifiers (checks)").

A verifier gets the task and one draft and returns a `Check`: `passed`, a `score` in 0..1 and bounded
`feedback`. Checks cost no model tokens; they drive the method when a run has them: the workspace shows
the best-checked drafts with their feedback (`verified_top_k`, `per_draft_repair`), refine drafts repair
from it, `stop_on_pass` ends a run at its first passing round, and the answer is the best-checked draft.

`python_tests` is built in: it runs the draft's program (its last fenced Python block) against the run's
visible tests (`run_pdr(..., tests="assert add(2, 2) == 4")`) in the `python` tool's sandbox, one result
per test. Register your own with `register_verifier`, as a class or as a function (sync or async)
returning a `Check`, a bool or a score:

```python
import json

from langgraph_pdr import CheckRequest, register_verifier


@register_verifier(name="json_object", replace=True)
def json_object(request: CheckRequest) -> bool:  # the answer must be a JSON object
    try:
        return isinstance(json.loads(request.answer or ""), dict)
    except ValueError:
        return False
```
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from langgraph_pdr.checking.programs import extract_program
from langgraph_pdr.checking.python_tests import PythonTests
from langgraph_pdr.checking.verifier import Answers, BaseVerifier, CheckRequest, Verifier, as_check
from langgraph_pdr.selection.answer_votes import final_answer, is_cut, is_unfinished
from langgraph_pdr.state.records import Check
from langgraph_pdr.state.registry import VERIFIERS, Missing


def _function_verifier(fn: Callable[..., Any], name: str, answers: Answers) -> type:
    """A verifier class around a function of a `CheckRequest` (sync or async)."""
    if inspect.iscoroutinefunction(fn):

        async def acheck(self: Any, request: CheckRequest) -> Check:
            return as_check(request, await fn(request), name)

        def check(self: Any, request: CheckRequest) -> Check:
            return as_check(request, asyncio.run(fn(request)), name)

    else:

        def check(self: Any, request: CheckRequest) -> Check:
            return as_check(request, fn(request), name)

        async def acheck(self: Any, request: CheckRequest) -> Check:
            return as_check(request, await asyncio.to_thread(fn, request), name)

    cls = type(name, (BaseVerifier,), {"name": name, "answers": answers, "check": check, "acheck": acheck})
    cls.function = staticmethod(fn)  # type: ignore[attr-defined]
    return cls


V = TypeVar("V")


def register_verifier(
    verifier: V | None = None,
    /,
    *,
    name: str | None = None,
    answers: Answers = "text",
    replace: bool = False,
) -> Any:
    """Register a verifier, a class or a function (sync or async) of a `CheckRequest`; usable as a
    decorator, with or without arguments.

    A function returns a `Check`, a bool (passed) or a score in 0..1 (passed at 1). A run stores the
    import path of the verifier it used (`module:name`), so a resume or `pdr inspect` in another
    process imports it when it is importable (defined at the top level of a module).

    Args:
        verifier: a class with the `Verifier` members (subclass `BaseVerifier`) or a function.
        name: its name (default: the class's `name`, or the function's name).
        answers: for a function: what its runs answer with (`program` or `text`).
        replace: replace a verifier already registered under that name (else that is a ValueError).

    Returns:
        `verifier`, unchanged (or, without it, a decorator).

    Example:
        ```python
        from langchain_core.language_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph_pdr import PDRConfig, register_verifier, run_pdr

        @register_verifier(name="is_even", replace=True)
        def is_even(request):
            return request.answer is not None and int(request.answer) % 2 == 0

        model = GenericFakeChatModel(messages=iter([AIMessage("\\\\boxed{3}"), AIMessage("\\\\boxed{4}")]))
        config = PDRConfig(method="best_of_n", schedule=2, verifier="is_even")
        result = run_pdr("An even number?", model=model, config=config, db=":memory:")
        assert result.answer == "4"  # the draft that passed, whichever of the two it was
        assert sorted(d.check.passed for d in result.rounds[0].drafts) == [False, True]
        ```
    """
    if verifier is None:
        return lambda v: register_verifier(v, name=name, answers=answers, replace=replace)
    if inspect.isclass(verifier):
        key = name or str(getattr(verifier, "name", "") or "")
        if not key or not callable(getattr(verifier, "check", None)):
            raise TypeError(
                "a verifier class needs a `name` and a check(request) method; subclass BaseVerifier"
            )
        cls: type = verifier
        if name and getattr(verifier, "name", None) != name:
            cls = type(name, (verifier,), {"name": name})
    elif callable(verifier):
        key = str(name or getattr(verifier, "__name__", ""))
        cls = _function_verifier(verifier, key, answers)
    else:
        raise TypeError(f"register_verifier: expected a class or a function, got {type(verifier).__name__}")
    cls.reference = reference(verifier)  # type: ignore[attr-defined]
    stored_only = key in VERIFIERS and isinstance(VERIFIERS.get(key), Missing)  # named by a stored run
    VERIFIERS.register(key, cls, replace=replace or stored_only)
    return verifier


def reference(obj: Any) -> str | None:
    """`module:qualname` of a class or function defined at the top level of an importable module,
    else None (a function defined in a function, or in `__main__`)."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return None
    return f"{module}:{qualname}"


def stored_reference(name: str) -> str | None:
    """The import path a run stores for verifier `name`: None for a built-in one (always registered)."""
    cls = VERIFIERS.get(name)
    if name in BUILT_IN or isinstance(cls, Missing):
        return None
    return getattr(cls, "reference", None)


def ensure_verifier(name: str | None, ref: str | None) -> None:
    """Make verifier `name` usable in this process: a stored run's verifier that this process has not
    registered is imported from its stored path `ref` (its module registers it, or it is registered
    from the path).

    Raises:
        ValueError: it cannot be imported; register it (`register_verifier`) before resuming.
    """
    if name is None or (name in VERIFIERS and not isinstance(VERIFIERS.get(name), Missing)):
        return
    if ref:
        module, _, qualname = ref.partition(":")
        try:
            obj: Any = importlib.import_module(module)
            if name not in VERIFIERS or isinstance(VERIFIERS.get(name), Missing):
                for part in qualname.split("."):
                    obj = getattr(obj, part)
                register_verifier(obj, name=name, replace=True)
            return
        except (ImportError, AttributeError, TypeError, ValueError):
            pass
    raise ValueError(
        f"verifier: the run uses verifier {name!r}, which this process has not registered"
        + (f" and cannot import ({ref})" if ref else "")
        + ": register it with register_verifier before resuming"
    )


def get_verifier(name: str) -> Verifier:
    """A new instance of the verifier registered as `name` (ValueError lists the allowed names).

    Example:
        ```python
        from langgraph_pdr import get_verifier

        assert get_verifier("python_tests").name == "python_tests"
        try:
            get_verifier("magic")
        except ValueError as exc:
            error = str(exc)
        assert "unknown verifier 'magic'" in error and "python_tests" in error
        ```
    """
    cls = VERIFIERS.get(name)
    if isinstance(cls, Missing):
        raise ValueError(
            f"verifier: {name!r} is a stored run's verifier this process has not registered; "
            "register it with register_verifier"
        )
    verifier: Verifier = cls()
    return verifier


def answers_programs(verifier: str | None) -> bool:
    """Whether a run with `verifier` answers with programs (`Verifier.answers`)."""
    return verifier is not None and get_verifier(verifier).answers == "program"


def read_draft(text: str, finish_reason: str | None, verifier: str | None) -> tuple[bool, str | None]:
    """(unfinished, answer) of a reply: its program when the run's verifier answers with programs, else
    its last `\\boxed{}` (or whole text); a reply cut at its `max_tokens` before that answer (no
    complete program, no boxed answer) is unfinished and has none.

    Example:
        ```python
        from langgraph_pdr.checking import read_draft

        assert read_draft("So \\\\boxed{4}.", "stop", None) == (False, "4")
        fence = "`" * 3  # a Markdown code fence
        assert read_draft(f"{fence}python\\nx = 1\\n{fence}", "stop", "python_tests") == (False, "x = 1")
        assert read_draft(f"{fence}python\\nx = [1,", "length", "python_tests") == (True, None)
        ```
    """
    if answers_programs(verifier):
        program = extract_program(text)
        return (program is None and is_cut(finish_reason)), program
    unfinished = is_unfinished(text, finish_reason)
    return unfinished, None if unfinished else final_answer(text)


#: Verifiers registered by this package (their runs store no import path).
BUILT_IN = ("python_tests",)
if PythonTests.name not in VERIFIERS:
    register_verifier(PythonTests)

__all__ = [
    "Answers",
    "BaseVerifier",
    "CheckRequest",
    "PythonTests",
    "Verifier",
    "read_draft",
    "answers_programs",
    "as_check",
    "ensure_verifier",
    "get_verifier",
    "register_verifier",
    "stored_reference",
]
