"""Probe inputs: arguments near the visible tests' own, on which passing programs are run to see whether
they agree (execution agreement beyond the visible inputs). Probes have no expected values: they never
pass or fail a draft, they only tell apart programs that pass the same visible tests but compute
different things (the S* idea, with inputs made by code instead of by a model).

Each visible test that calls a function of the program with literal arguments (`assert f([1, 2], 3) ==
...`) gives mutants of its arguments, one argument changed at a time, by type: numbers moved, negated
and zeroed, strings and sequences emptied, reversed, cut and grown, and so on. The inputs are shuffled
with a fixed seed and cut to `MAX_PROBES`, so every draft of a task gets the same ones.

Example:
    ```python
    from langgraph_pdr.checking.probes import probe_inputs

    name, inputs = probe_inputs(["assert add(2, 3) == 5"])
    assert name == "add" and [3, 3] in inputs and [2, -3] in inputs and [2, 3] not in inputs
    assert probe_inputs(["assert sorted([3, 1]) == [1, 3]"]) == (None, [])  # a builtin: no probes
    ```
"""

from __future__ import annotations

import ast
import builtins
import random
from typing import Any

from langgraph_pdr.checking.programs import name_calls

#: Probe inputs per task at most.
MAX_PROBES = 24
#: Items of a sequence whose own mutants are tried (the first few).
ITEMS_MUTATED = 3


def mutants(value: Any) -> list[Any]:
    """Values near `value`, by its type (none for a type it does not know)."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1, 0, -value, value * 2 + 1, 1]
    if isinstance(value, float):
        return [value * 1.5, -value, 0.0, value + 0.5]
    if isinstance(value, str):
        return ["", value[::-1], value + value[:1], value.upper(), value[1:], value * 2]
    if isinstance(value, (list, tuple)):
        kind = type(value)
        found = [kind(), kind(value[::-1]), kind(value[1:]), kind(list(value) + list(value[:1]))]
        try:
            found.append(kind(sorted(value)))
        except TypeError:
            pass
        for i, item in enumerate(value[:ITEMS_MUTATED]):
            for changed_item in mutants(item)[:2]:
                changed = list(value)
                changed[i] = changed_item
                found.append(kind(changed))
        return found
    if isinstance(value, dict):
        return [{}]
    return []


def _literal_calls(tests: list[str]) -> list[tuple[str, list[Any]]]:
    """(function name, arguments) of every call in the tests to a name that is not a builtin, with
    literal positional arguments only."""
    found: list[tuple[str, list[Any]]] = []
    for call in name_calls(tests):
        name = call.func.id if isinstance(call.func, ast.Name) else ""
        if call.keywords or not name or hasattr(builtins, name):
            continue
        try:
            found.append((name, [ast.literal_eval(a) for a in call.args]))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
    return found


def probe_inputs(tests: list[str], *, seed: int = 0) -> tuple[str | None, list[list[Any]]]:
    """The function the visible `tests` call (the first with literal arguments) and argument lists near
    theirs, none equal to a test's own; `(None, [])` when no test calls one with literal arguments."""
    calls = _literal_calls(tests)
    if not calls:
        return None, []
    name = calls[0][0]
    own = {repr(args) for called, args in calls if called == name}
    seen: set[str] = set()
    made: list[list[Any]] = []
    for called, args in calls:
        if called != name:
            continue
        for i, value in enumerate(args):
            for changed in mutants(value):
                new = [*args[:i], changed, *args[i + 1 :]]
                key = repr(new)
                if key not in seen and key not in own:
                    seen.add(key)
                    made.append(new)
    random.Random(seed).shuffle(made)
    return name, made[:MAX_PROBES]
