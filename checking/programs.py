"""Programs in replies and tests: the last fenced Python block of a reply, its top-level definitions, and
visible tests split into one test per `assert`.

Example:
    ```python
    from langgraph_pdr.checking.programs import extract_program, sanitize, split_tests

    fence = "`" * 3  # a Markdown code fence
    reply = f"Here it is:\\n{fence}python\\ndef add(a, b):\\n    return a + b\\n\\nprint(add(1, 2))\\n{fence}"
    program = extract_program(reply)
    assert program == "def add(a, b):\\n    return a + b\\n\\nprint(add(1, 2))"
    assert sanitize(program, ["add"]) == "def add(a, b):\\n    return a + b"  # no side effects
    setup, tests = split_tests("from math import pi\\nassert add(2, 2) == 4\\nassert add(0, 0) == 0")
    assert setup == "from math import pi" and tests == ["assert add(2, 2) == 4", "assert add(0, 0) == 0"]
    ```
"""

from __future__ import annotations

import ast
import re

#: A fenced block: its language tag (maybe empty) and its body.
_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
_PYTHON_TAGS = ("python", "py", "python3")


def extract_program(text: str) -> str | None:
    """The last fenced Python block of `text` (a block tagged `python`, else the last untagged one);
    None when the reply holds no closed block.

    A reply cut off inside its block has no program: the block is not closed.
    """
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text or "")]
    tagged = [body for tag, body in blocks if tag in _PYTHON_TAGS]
    untagged = [body for tag, body in blocks if not tag]
    chosen = tagged or untagged
    if not chosen:
        return None
    program = chosen[-1].strip("\n").rstrip()
    return program or None


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _defined(node: ast.stmt) -> str | None:
    """The name a top-level definition binds: a function, a class, or an assignment to one name."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def sanitize(program: str, entry_points: list[str] | None = None) -> str:
    """The part of `program` a test loads: its imports and the definitions (functions, classes,
    assignments) that `entry_points` reach, without the top-level code around them (example calls,
    prints, `if __name__ == "__main__":` blocks, its own asserts), which would run, print or fail when
    the program is loaded (as EvalPlus's sanitizer does). Without entry points, every function and
    class is kept, and the assignments without calls. A program that does not parse, or that would
    keep nothing, is returned as it is (loading it reports the error).
    """
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return program
    definitions = {}
    for node in tree.body:
        name = _defined(node)
        if name is not None and name not in definitions:
            definitions[name] = node
    if entry_points and any(e in definitions for e in entry_points):
        wanted, queue = set(), [e for e in entry_points if e in definitions]
        while queue:
            name = queue.pop()
            if name not in wanted:
                wanted.add(name)
                queue += [n for n in _names(definitions[name]) if n in definitions and n not in wanted]
    else:
        wanted = {
            name
            for name, node in definitions.items()
            if not isinstance(node, (ast.Assign, ast.AnnAssign))
            or not any(isinstance(n, (ast.Call, ast.Await)) for n in ast.walk(node))
        }
    lines = program.splitlines()
    kept = []
    for node in tree.body:
        name = _defined(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)) or (name in wanted and definitions[name] is node):
            start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            kept.append("\n".join(lines[start - 1 : node.end_lineno or node.lineno]))
    return "\n".join(kept) if definitions and kept else program


def name_calls(tests: list[str]) -> list[ast.Call]:
    """Every call of a function by its name in the tests (`add(2, 2)` in `assert add(2, 2) == 4`), in
    order; a test that does not parse has none."""
    found: list[ast.Call] = []
    for test in tests:
        try:
            tree = ast.parse(test)
        except SyntaxError:
            continue
        found += [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    return found


def called_names(tests: list[str]) -> list[str]:
    """The functions the tests call by name (`add` in `assert add(2, 2) == 4`), in order."""
    return list(dict.fromkeys(call.func.id for call in name_calls(tests) if isinstance(call.func, ast.Name)))


class TestsError(ValueError):
    """Visible tests that are not Python (`tests: ...`)."""

    __test__ = False  # not a pytest class


def split_tests(tests: str | None) -> tuple[str, list[str]]:
    """Visible tests as (setup, tests): each top-level `assert` is one test; the other statements
    (imports, helpers) are the setup every test runs after.

    Raises:
        TestsError: `tests` is not valid Python.
    """
    if not tests or not tests.strip():
        return "", []
    try:
        tree = ast.parse(tests)
    except SyntaxError as exc:
        raise TestsError(f"tests: not valid Python (line {exc.lineno}: {exc.msg})") from None
    setup: list[str] = []
    found: list[str] = []
    for node in tree.body:
        source = ast.get_source_segment(tests, node) or ast.unparse(node)
        (found if isinstance(node, ast.Assert) else setup).append(source)
    return "\n".join(setup), found


def defined_names(text: str) -> list[str]:
    """The function names a task's text declares (`def name(`), in order: what a program for it must
    define when the task has no visible tests."""
    return list(dict.fromkeys(re.findall(r"^\s*def\s+([A-Za-z_]\w*)\s*\(", text or "", re.MULTILINE)))
