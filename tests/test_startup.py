"""The package and the `pdr` command import only what they use: `import langgraph_pdr`, `pdr --help` and
`pdr runs` load no model, graph or provider code (their times are measured by benchmarks/startup.py), and
every public name is still importable from where it was. Each check runs in a fresh process."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import langgraph_pdr

PDR = [sys.executable, "-m", "langgraph_pdr.cli"]

#: What no start-up of `pdr --help` or `pdr runs` should import: the runner and the graphs, the models
#: and their providers' SDKs, LangGraph's engine.
HEAVY = (
    "langgraph_pdr.runner",
    "langgraph_pdr.models",
    "langgraph_pdr.graphs",
    "langgraph_pdr.nodes",
    "langchain_openai",
    "openai",
    "langgraph.pregel",
    "langchain_core.language_models",
)


def loaded_after(code: str) -> list[str]:
    """The modules a fresh Python has loaded after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.startswith(HEAVY)]


def test_pdr_version_prints_the_installed_version():
    proc = subprocess.run([*PDR, "--version"], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, f"pdr {version('langgraph-pdr')}\n")
    assert langgraph_pdr.__version__ == version("langgraph-pdr")


def test_import_langgraph_pdr_loads_nothing_else_of_it():
    loaded = loaded_after("import langgraph_pdr")
    assert [m for m in loaded if m.startswith("langgraph_pdr.")] == []


def test_pdr_help_and_pdr_runs_load_no_model_or_graph_code(tmp_path):
    from langgraph_pdr.checkpoints.store import open_ledger

    db = tmp_path / "runs.sqlite"
    open_ledger(db).dispose()  # a database with the ledger's tables: `pdr runs` reads it
    run = "from langgraph_pdr.cli import main\nmain({argv!r})"
    assert heavy(loaded_after(run.format(argv=["--help"]))) == []
    assert heavy(loaded_after(run.format(argv=["runs", "--db", str(db)]))) == []


def test_every_public_name_is_importable_and_declared_once_for_the_type_checker():
    """`__all__`, the lazy table and the imports the type checker reads name the same things."""
    tree = ast.parse(Path(langgraph_pdr.__file__).read_text())
    checked = {
        alias.name: node.module
        for block in tree.body
        if isinstance(block, ast.If)  # if TYPE_CHECKING:
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert checked == langgraph_pdr._MODULES
    assert set(langgraph_pdr.__all__) == set(checked)
    namespace: dict[str, object] = {}
    exec("from langgraph_pdr import *", namespace)
    assert set(langgraph_pdr.__all__) <= set(namespace)
    assert set(langgraph_pdr.__all__) <= set(dir(langgraph_pdr))


def test_registries_fill_themselves_on_first_use():
    """A config that names built-in tools, distillers and prompt sets validates in a process that
    imported nothing but the config (the built-ins are registered by modules it never imported)."""
    code = (
        "from langgraph_pdr.state.config import PDRConfig\n"
        "c = PDRConfig(tools=['python'], distiller='shared_top_k', prompts='classic')\n"
        "print(c.tools, c.distiller, c.prompts)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "('python',) shared_top_k classic"


def test_a_json_context_builds_its_model_without_importing_the_package_first():
    """`langgraph dev` loads a graph module, then a JSON context names the model by string."""
    code = (
        "from langgraph_pdr.runtime.environment import context_from_json\n"
        "ctx = context_from_json({'model': 'fake-model', 'base_url': 'http://127.0.0.1:9/v1'})\n"
        "print(type(ctx.model).__name__)"
    )
    env_code = f"import os\nos.environ.setdefault('OPENAI_API_KEY', 'sk-test')\n{code}"
    out = subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ChatOpenAI"
