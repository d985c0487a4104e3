"""`python -m langgraph_pdr.cli`: the `pdr` command."""

from langgraph_pdr.cli import entry

entry()
