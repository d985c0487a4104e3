"""The repository root installs as the package `langgraph_pdr`, and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import importlib.util, json, importlib.metadata as md
found = {n: importlib.util.find_spec(n) is not None for n in ("graphs", "nodes", "state", "checkpoints")}
import langgraph_pdr.graphs, langgraph_pdr.nodes, langgraph_pdr.state, langgraph_pdr.checkpoints
top = md.distribution("langgraph-pdr").read_text("top_level.txt").split()
print(json.dumps({"found": found, "top": top}))
"""


def test_no_global_module_named_graphs_nodes_state_or_checkpoints(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout)
    assert report["found"] == {"graphs": False, "nodes": False, "state": False, "checkpoints": False}
    assert report["top"] == ["langgraph_pdr"]


def test_public_api():
    import langgraph_pdr

    for name in ("PDRConfig", "PDRResult", "create_pdr_graph", "run_pdr", "arun_pdr"):
        assert hasattr(langgraph_pdr, name)
    assert set(langgraph_pdr.__all__) <= set(dir(langgraph_pdr))
