"""The README's graph is the graph the code builds: its mermaid block equals `pdr graph --format mermaid`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_mermaid_block_is_what_pdr_graph_draws():
    blocks = re.findall(r"^```mermaid\n(.*?)^```$", README.read_text("utf-8"), re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, "the README holds one mermaid block: the PDR graph"
    drawn = subprocess.run(
        [sys.executable, "-m", "langgraph_pdr.cli", "graph", "--format", "mermaid"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    assert blocks[0].strip() == drawn.strip(), "regenerate it: pdr graph --format mermaid"
