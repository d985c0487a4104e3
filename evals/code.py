"""Code tasks in EvalPlus's format (HumanEval+, MBPP+, or your own file): the prompt the model sees, the
visible tests its verifier checks, and the hidden tests that grade (`CodeTask`), kept apart.

A task's **visible** tests are what its prompt shows: HumanEval's docstring examples (`>>> f(1)` then
its output, or free-text examples such as `f(1) == 2`, `f(1) ➞ 2`, `f(1) => 2`), turned into asserts
where they parse; MBPP's `assert` line. The hidden tests (`base_input`, `plus_input`, graded against
`canonical_solution`'s outputs) never reach a prompt, a workspace or a verifier: they stay in the
`CodeTask` the grader reads (`langgraph_pdr.evals.code_grading`).

Example:
    ```python
    from langgraph_pdr.evals import load_dataset

    problems = load_dataset("humanevalplus")
    first = problems[0]
    assert first.id == "HumanEval/0" and first.tests.startswith("assert has_close_elements(")
    assert first.code is not None and len(first.code.plus_input) > 100  # hidden: only the grader reads them
    assert "plus_input" not in first.problem
    ```
"""

from __future__ import annotations

import ast
import gzip
import json
from dataclasses import dataclass
from typing import Any

#: The fields that make a row an EvalPlus task.
FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "base_input", "plus_input")


@dataclass(frozen=True)
class CodeTask:
    """The hidden part of a code task, for the grader only: the reference solution, the base and plus
    inputs (EvalPlus: "base" tests are `base_input`, "plus" tests `base_input` and `plus_input`), the
    float tolerance `atol`, and which dataset's special cases apply (`humaneval`, `mbpp`, or none)."""

    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    base_input: list[Any]
    plus_input: list[Any]
    atol: float
    kind: str


def is_evalplus(row: dict[str, Any]) -> bool:
    """Whether a JSON row is an EvalPlus task (it has every field of `FIELDS`)."""
    return all(field in row for field in FIELDS)


def kind_of(task_id: str) -> str:
    """Which EvalPlus special cases a task gets, from its id (`HumanEval/32`, `Mbpp/581`)."""
    head = task_id.split("/")[0].lower()
    return "humaneval" if head == "humaneval" else ("mbpp" if head == "mbpp" else "")


def code_task(row: dict[str, Any]) -> CodeTask:
    return CodeTask(
        task_id=str(row["task_id"]),
        prompt=row["prompt"],
        entry_point=row["entry_point"],
        canonical_solution=row["canonical_solution"],
        base_input=list(row["base_input"]),
        plus_input=list(row["plus_input"]),
        atol=float(row.get("atol") or 0),
        kind=kind_of(str(row["task_id"])),
    )


def read_rows(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file's bytes, gzipped or not."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


def question(task: CodeTask) -> str:
    """What the model is asked: the task's prompt as a Python block (a signature and docstring, or
    MBPP's description and assert); the run's prompt set says what to do with it."""
    return f"```python\n{task.prompt.strip()}\n```"


def _expression(text: str) -> str | None:
    """`text` as one Python expression, written back without its comments; None when it is not one."""
    text = text.strip().rstrip(",")
    if not text:
        return None
    try:
        return ast.unparse(ast.parse(text, mode="eval"))
    except SyntaxError:
        return None


def _calls(expr: str, name: str) -> bool:
    tree = ast.parse(expr, mode="eval")
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name for n in ast.walk(tree)
    )


def _doctests(doc: str, name: str) -> list[tuple[str, str]]:
    """`>>> expr` lines (with `...` continuations) and the output lines after them."""
    lines = doc.splitlines()
    found = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line.startswith(">>>"):
            i += 1
            continue
        expr = line[3:].strip()
        i += 1
        while i < len(lines) and lines[i].strip().startswith("..."):
            expr += "\n" + lines[i].strip()[3:].strip()
            i += 1
        out = []
        while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(">>>"):
            if lines[i].strip().startswith(('"""', "'''")):
                break
            out.append(lines[i].strip())
            i += 1
        found.append((expr, " ".join(out)))
    return found


_SEPARATORS = ("==", "➞", "=>", "->", "should return", "returns")


def _free_text(doc: str, name: str) -> list[tuple[str, str]]:
    """Examples written as `f(1) == 2`, `f(1) ➞ 2`, `f(1) => 2`, `f(1) -> 2`, `f(1) should return 2`,
    and `Input: X` / `Output: Y` pairs (a one-argument task's)."""
    found = []
    lines = [line.strip() for line in doc.splitlines()]
    for n, line in enumerate(lines):
        if name + "(" in line:
            for sep in _SEPARATORS:
                left, found_sep, right = line.partition(sep)
                if found_sep and name + "(" in left:
                    found.append((left.strip(), right.strip()))
                    break
        elif (
            line.lower().startswith("input:")
            and n + 1 < len(lines)
            and lines[n + 1].lower().startswith("output:")
        ):
            arg = line.split(":", 1)[1].strip()
            found.append((f"{name}({arg})", lines[n + 1].split(":", 1)[1].strip()))
    return found


def visible_tests(task: CodeTask) -> str:
    """The task's visible tests as asserts, one per line: the examples its prompt shows (HumanEval's
    docstring, MBPP's assert), where they parse as Python; "" when there are none."""
    asserts = []
    for line in task.prompt.splitlines():
        stripped = line.strip()
        if stripped.startswith("assert ") and _statement(stripped):
            asserts.append(stripped)
    if asserts:
        return "\n".join(dict.fromkeys(asserts))
    pairs = _doctests(task.prompt, task.entry_point) or _free_text(task.prompt, task.entry_point)
    for left, right in pairs:
        expr, expected = _expression(left), _expression(right)
        if expr is None or expected is None or not _calls(expr, task.entry_point):
            continue
        asserts.append(f"assert {expr} == {expected}")
    return "\n".join(dict.fromkeys(asserts))


def _statement(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True
