"""Every ```python example in the public API's docstrings runs."""

from __future__ import annotations

import inspect
import re
import textwrap

import pytest

import langgraph_pdr
import langgraph_pdr.checking
import langgraph_pdr.checkpoints.ledger
import langgraph_pdr.checkpoints.snapshot
import langgraph_pdr.evals
import langgraph_pdr.nodes.distill

BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _examples():
    objects = [getattr(langgraph_pdr, n) for n in langgraph_pdr.__all__]
    objects += [langgraph_pdr.nodes.distill, langgraph_pdr.checking]
    objects += [langgraph_pdr.checkpoints.snapshot.snapshot]
    objects += [langgraph_pdr.evals] + [getattr(langgraph_pdr.evals, n) for n in langgraph_pdr.evals.__all__]
    for obj in objects:
        doc = inspect.getdoc(obj) or ""
        for n, block in enumerate(BLOCK.findall(doc)):
            yield pytest.param(block, id=f"{getattr(obj, '__name__', obj)}-{n}")


@pytest.mark.parametrize("code", list(_examples()))
def test_docstring_example_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from langgraph_pdr.state.registry import DISTILLERS, PROMPT_SETS, VERIFIERS

    before = {registry: dict(registry._items) for registry in (DISTILLERS, PROMPT_SETS, VERIFIERS)}
    try:
        exec(compile(textwrap.dedent(code), "<docstring>", "exec"), {})
    finally:
        for registry, items in before.items():  # an example registers what no other test expects
            registry._items.clear()
            registry._items.update(items)
