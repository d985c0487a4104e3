"""The package's map holds: each part (a sub-package, or a module at the root) imports only the layers
below it, no cycle between them, no module imports another's private name, no module name is used twice,
no module is over 600 lines, the embedded model's defaults are applied in one place, and every public
name has a docstring example that asserts."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import langgraph_pdr

ROOT = Path(langgraph_pdr.__file__).parent
SKIP = {".venv", "tests", "benchmarks", "docs", "build", "dist"}
#: The most lines a module may have.
MAX_LINES = 600

#: What each part of the package may import (besides itself), bottom up. A part is a sub-package, or a
#: module at the root (`models`, `images`); the package's `__init__` (`api`) re-exports from all of them.
#: `state` declares; what the nodes use sits in packages named for it (model calls, budgets, prompts,
#: answers, tools, checks, and the node environment with the helpers that need it); `nodes` act,
#: `graphs` wire, `checkpoints` persist; the local model, model resolution, the runner, the page and
#: the ways in (chat model, tool, HTTP and MCP servers) sit on them; `evals` runs through the runner;
#: `cli` sits on top and nothing imports it.
ALLOWED: dict[str, set[str]] = {
    "state": set(),
    "calls": {"state"},
    "budgets": {"state"},
    "prompting": {"state"},
    "selection": {"state"},
    "tooling": {"state", "calls", "budgets", "selection"},
    "checking": {"state", "calls", "selection", "tooling"},
    "runtime": {"state", "calls", "budgets", "prompting", "selection", "tooling", "checking"},
}
ALLOWED["nodes"] = set(ALLOWED)  # the nodes use everything above
ALLOWED["graphs"] = {"state", "calls", "nodes"}
ALLOWED["checkpoints"] = {"state"}
ALLOWED["images"] = {"state"}
ALLOWED["local_model"] = {"state", "budgets"}
ALLOWED["models"] = {"state", "local_model", "runtime"}
ALLOWED["runner"] = set(ALLOWED) - {"selection", "runtime"}
ALLOWED["view"] = {"state", "budgets", "selection", "checkpoints", "runner"}
ALLOWED["integrations"] = {"state", "tooling", "checkpoints", "images", "local_model", "models", "runner"}
ALLOWED["evals"] = set(ALLOWED) - {"budgets", "nodes", "graphs", "local_model", "integrations"}
#: Root modules that only re-export a way in from its new home (`langgraph_pdr.serve`, ...): the
#: package's own code imports the new homes.
OLD_PATHS = {"chat_model", "tool", "serve", "mcp_server"}
ALLOWED.update({name: {"integrations"} for name in OLD_PATHS})
ALLOWED["cli"] = set(ALLOWED) - OLD_PATHS  # on top: nothing imports it
#: The package's `__init__`: the public API, imported on first use from every part but the CLI.
ALLOWED["api"] = set(ALLOWED) - OLD_PATHS - {"cli"}


def modules() -> dict[str, Path]:
    found = {}
    tops = [p for p in ROOT.iterdir() if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())]
    for top in tops:
        if top.name in SKIP:
            continue
        for path in [top] if top.is_file() else top.rglob("*.py"):
            rel = path.relative_to(ROOT)
            name = ".".join(("langgraph_pdr", *rel.with_suffix("").parts)).removesuffix(".__init__")
            found[name] = path
    return found


def part(module: str) -> str:
    """The part a module belongs to: its sub-package, or itself for a module at the root."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "api"


def imports(path: Path, module: str) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import of ours, function-level ones included."""
    out = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([target] if target else [])])
            if target.startswith("langgraph_pdr"):
                out.append((target, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("langgraph_pdr")]
    return out


def edges() -> set[tuple[str, str, str]]:
    """(importing part, imported part, importing module)."""
    found = set()
    for module, path in modules().items():
        for target, names in imports(path, module):
            targets = [target] + [f"{target}.{n}" for n in names if f"{target}.{n}" in modules()]
            for t in targets:
                if t == "langgraph_pdr":
                    continue  # the package's own __init__ re-exports; reached only from the top
                found.add((part(module), part(t), module))
    return found


def test_each_part_imports_only_the_layers_below_it():
    wrong = sorted(
        f"{module} ({src}) imports {dst}"
        for src, dst, module in edges()
        if src != dst and dst not in ALLOWED[src]
    )
    assert wrong == []


def test_no_cycle_between_parts():
    graph: dict[str, set[str]] = {}
    for src, dst, _ in edges():
        if src != dst:
            graph.setdefault(src, set()).add(dst)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ())
        )

    assert [p for p in graph if reaches(p, p, {p})] == []


def test_no_module_imports_a_private_name_of_another():
    found = []
    for module, path in modules().items():
        for target, names in imports(path, module):
            found += [
                f"{module}: from {target} import {n}"
                for n in names
                if n.startswith("_") and not n.startswith("__") and target != module
            ]
    assert found == []


def test_no_module_name_is_used_twice():
    """A name says which room you are in: no two modules or packages share one (`__init__` aside)."""
    found: dict[str, list[str]] = {}
    for module in modules():
        name = module.rpartition(".")[2]
        if module != "langgraph_pdr" and not name.startswith("__"):
            found.setdefault(name, []).append(module)
    assert {name: sorted(where) for name, where in found.items() if len(where) > 1} == {}


def test_no_module_is_over_600_lines():
    sizes = {module: len(path.read_text().splitlines()) for module, path in modules().items()}
    assert {module: n for module, n in sizes.items() if n > MAX_LINES} == {}


def test_every_public_name_has_a_docstring_example_that_asserts():
    missing = []
    for name in langgraph_pdr.__all__:
        doc = inspect.getdoc(getattr(langgraph_pdr, name)) or ""
        if "Example:" not in doc or "```python" not in doc or "assert " not in doc.split("Example:", 1)[1]:
            missing.append(name)
    assert missing == []


def test_the_embedded_models_defaults_are_applied_in_one_place():
    """Every way of starting a run turns what it was given into the run's config with
    `resolve_run_config`; no other module applies the embedded model's defaults itself."""
    home = "langgraph_pdr.local_model.run_defaults"
    defaults = {"local_defaults", "LOCAL_DEFAULTS", "LOCAL_PDR_DEFAULTS", "LOCAL_TOOL_FORMAT"}

    def names(path: Path) -> set[str]:
        tree = ast.parse(path.read_text())
        found = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        found |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        return found | {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}

    found = modules()
    applied = sorted(
        m
        for m, path in found.items()
        if m != home and m != "langgraph_pdr.local_model" and names(path) & defaults
    )
    assert applied == []
    ways_in = (
        "runner.running",
        "cli.run",
        "integrations.openai_endpoint",
        "integrations.mcp_endpoint",
        "integrations.langchain_chat",
    )
    assert [m for m in ways_in if "resolve_run_config" not in names(found[f"langgraph_pdr.{m}"])] == []
