"""`pdr graph --format png|svg`: every method's graph drawn from LangGraph's own structure with grandalf
and matplotlib, no pygraphviz or Graphviz needed; Graphviz still draws PNGs when pygraphviz is there."""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from langchain_core.runnables.graph import Graph
from PIL import Image

import langgraph_pdr.graphs.draw as draw
from langgraph_pdr import PDRConfig, create_pdr_graph, draw_graph
from langgraph_pdr.cli import main
from langgraph_pdr.state.config import FAMILIES

PNG = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def no_pygraphviz(monkeypatch):
    """pygraphviz cannot be imported (as on a machine without it, whatever this one has)."""
    monkeypatch.setitem(sys.modules, "pygraphviz", None)
    assert not draw.has_pygraphviz()


def structure(method: str) -> Graph:
    """The graph as `draw_graph` draws it: no error handlers, annotated (fan-out nodes, conditions)."""
    graph = create_pdr_graph(PDRConfig(method=method)).compile().get_graph()
    for name in [n for n in graph.nodes if n.startswith("__error_handler__")]:
        graph.remove_node(graph.nodes[name])
    return draw.annotate(graph)


def assert_png(path: Path, graph: Graph) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        colours = image.convert("RGB").getcolors(1 << 20) or []
    rows = max(len({round(y) for _, y, _, _ in draw.layout(graph)[0].values()}), 1)
    assert width >= 150 and height >= 60 * rows  # room for each layer of boxes
    assert len(colours) > 20  # boxes, text and arrows, not a blank canvas


def assert_svg(text: str, graph: Graph) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg" and float(root.get("width", "0").removesuffix("pt")) > 100
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', text))  # nothing to fetch
    assert "<image" not in text and "@import" not in text and "@font-face" not in text
    labels = {draw.label_of(n, graph.nodes[n]) for n in graph.nodes}
    # matplotlib writes each text as glyph paths after a comment holding the text
    texts = set(re.findall(r"<!-- ([^<>]+?) -->", text))
    assert labels <= texts
    assert {e.data for e in graph.edges if e.conditional} <= texts  # every condition is labelled
    assert set(draw.LEGEND) <= texts  # and the legend says what the lines and stacks mean
    return root


@pytest.mark.parametrize("method", list(FAMILIES))
def test_every_method_draws_as_png_and_svg_without_pygraphviz(method, tmp_path):
    graph = structure(method)
    png = tmp_path / "graph.png"
    assert draw_graph(PDRConfig(method=method), format="png", output=str(png)) is None
    assert_png(png, graph)
    svg = draw_graph(PDRConfig(method=method), format="svg")
    root = assert_svg(svg, graph)
    dashed = [
        p
        for p in root.iter(f"{SVG}path")
        if "stroke-dasharray" in (p.get("style") or "") and "fill: none" in p.get("style", "")
    ]
    conditional = sum(1 for e in graph.edges if e.conditional)
    assert len(dashed) == conditional + 1  # one dashed line per conditional edge, and the legend's
    out = tmp_path / "graph.svg"
    assert draw_graph(PDRConfig(method=method), format="svg", output=str(out)) is None
    assert_svg(out.read_text(), graph)


@pytest.mark.parametrize("method", list(FAMILIES))
def test_every_format_shows_the_fan_out_the_conditions_and_a_legend(method):
    graph = structure(method)
    conditional = [e for e in graph.edges if e.conditional]
    assert conditional and all(e.data for e in conditional)  # every condition has a label
    fanned = [n for n in draw.FAN_OUT if n in graph.nodes]
    assert "draft" in fanned
    text = draw_graph(PDRConfig(method=method))
    for e in conditional:
        assert f"{e.source} -. &nbsp;{e.data}&nbsp; .-> {e.target};" in text
    for node in fanned:
        assert f'\t{node}[["{node} ×N"]];' in text
    assert "subgraph legend" in text and all(meaning in text for meaning in draw.LEGEND)
    art = draw_graph(PDRConfig(method=method), format="ascii")
    assert all(f"| {node} xN |" in art for node in fanned)
    for e in conditional:
        assert f"{draw.label_of(e.source)} ..> {draw.label_of(e.target)}: {e.data}" in art
    assert "xN: one task per draft, run in parallel (Send)" in art


def test_the_layout_keeps_boxes_apart_and_edges_on_their_boxes():
    graph = structure("pdr")
    boxes, edges = draw.layout(graph)
    assert set(boxes) == set(graph.nodes) and len(edges) == len(graph.edges)
    items = list(boxes.values())
    for i, (x1, y1, w1, h1) in enumerate(items):
        for x2, y2, w2, h2 in items[i + 1 :]:
            assert abs(x1 - x2) >= (w1 + w2) / 2 or abs(y1 - y2) >= (h1 + h2) / 2  # no overlap
    for e in edges:
        for end, node in ((e["points"][0], e["source"]), (e["points"][-1], e["target"])):
            x, y, w, h = boxes[node]
            assert abs(end[0] - x) <= w / 2 + 0.5 and abs(end[1] - y) <= h / 2 + 0.5  # on the box's border
    assert boxes["__start__"][1] < boxes["begin_round"][1] < boxes["finalize"][1] < boxes["__end__"][1]


def test_pdr_graph_png_and_svg_from_the_command_line(tmp_path, capsys):
    png = tmp_path / "pdr.png"
    assert main(["graph", "--format", "png", "--output", str(png)]) == 0
    assert_png(png, structure("pdr"))
    assert capsys.readouterr().out == f"{png}\n"  # what it wrote
    assert main(["graph", "--method", "sr_error", "--format", "svg"]) == 0
    assert_svg(capsys.readouterr().out, structure("sr_error"))
    svg = tmp_path / "sr.svg"
    assert main(["graph", "--method", "sr", "--format", "svg", "--output", str(svg)]) == 0
    assert_svg(svg.read_text(), structure("sr"))
    assert main(["graph", "--format", "png"]) == 2
    assert "needs --output" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["graph", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "svg" in help_text and "pygraphviz" not in help_text


def test_graphviz_draws_pngs_when_pygraphviz_is_installed(tmp_path, monkeypatch):
    drawn: list[str] = []

    def graphviz_png(self, output_file_path=None, **kwargs):
        drawn.append(output_file_path)
        Path(output_file_path).write_bytes(PNG + b"graphviz")

    monkeypatch.setattr(draw, "has_pygraphviz", lambda: True)
    monkeypatch.setattr(Graph, "draw_png", graphviz_png)
    out = tmp_path / "g.png"
    draw_graph(PDRConfig(), format="png", output=str(out))
    assert drawn == [str(out)] and out.read_bytes() == PNG + b"graphviz"

    def broken(self, output_file_path=None, **kwargs):
        raise ImportError("libgraphviz.so: cannot open shared object file")

    monkeypatch.setattr(Graph, "draw_png", broken)  # pygraphviz there, its library not: matplotlib draws
    draw_graph(PDRConfig(), format="png", output=str(out))
    assert_png(out, structure("pdr"))


def test_bad_formats_are_refused():
    with pytest.raises(ValueError, match="format"):
        draw_graph(PDRConfig(), format="pdf")
    with pytest.raises(ValueError, match="output"):
        draw_graph(PDRConfig(), format="png")
    with pytest.raises(ValueError, match="image format"):
        draw.draw_image(structure("single"), format="jpg")


def test_docstring_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = []
    for _, obj in inspect.getmembers(draw, lambda o: getattr(o, "__module__", None) == draw.__name__):
        blocks += re.findall(r"```python\n(.*?)```", inspect.getdoc(obj) or "", re.S)
    blocks += re.findall(r"```python\n(.*?)```", inspect.getdoc(draw_graph) or "", re.S)
    assert len(blocks) >= 5
    for block in blocks:
        exec(compile(textwrap.dedent(block), "<docstring>", "exec"), {})
