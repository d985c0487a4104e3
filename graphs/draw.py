"""Drawing a compiled graph's structure as a PNG or SVG file with no system package: grandalf lays it out
(the layered Sugiyama layout LangGraph's `draw_ascii` uses), matplotlib draws boxes, labels and arrows.

Conditional edges are dashed. With pygraphviz installed, PNGs come from Graphviz (`Graph.draw_png`).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

#: Formats `draw_image` writes.
IMAGE_FORMATS = ("png", "svg")
#: Sizes in points (1/72 inch): character width and box height of a node, gaps between them.
CHAR_W, BOX_H, PAD_X, GAP_X, GAP_Y, MARGIN = 7.2, 28.0, 14.0, 26.0, 40.0, 18.0
FONT_SIZE = 11
#: Colours: ordinary nodes, the start and end nodes, edges.
NODE_FILL, NODE_EDGE, TERMINAL_FILL, EDGE_COLOUR = "#f2f0ff", "#4b3fbf", "#e8e8e8", "#444444"


class _Box:
    """A vertex's view for grandalf: its size, and its centre once laid out."""

    def __init__(self, w: float, h: float) -> None:
        self.w, self.h = w, h
        self.xy = (0.0, 0.0)


class _Route:
    """An edge's view for grandalf: the polyline it is routed along."""

    def __init__(self) -> None:
        self.pts: list[tuple[float, float]] = []

    def setpath(self, pts: list[tuple[float, float]]) -> None:
        self.pts = [(float(x), float(y)) for x, y in pts]


def has_pygraphviz() -> bool:
    """Whether pygraphviz (and so Graphviz's `dot`) can draw PNGs.

    Example:
        ```python
        from langgraph_pdr.graphs.draw import has_pygraphviz

        assert has_pygraphviz() in (True, False)
        ```
    """
    return importlib.util.find_spec("pygraphviz") is not None


def label_of(node_id: str, node: Any = None) -> str:
    """The text in a node's box: its name, `start`/`end` for LangGraph's terminals.

    Example:
        ```python
        from langgraph_pdr.graphs.draw import label_of

        assert (label_of("__start__"), label_of("draft")) == ("start", "draft")
        ```
    """
    name = getattr(node, "name", None) or node_id
    return {"__start__": "start", "__end__": "end"}.get(name, name)


def layout(graph: Any) -> tuple[dict[str, tuple[float, float, float, float]], list[dict[str, Any]]]:
    """Lay `graph` (a `langchain_core.runnables.graph.Graph`) out with grandalf's Sugiyama layout.

    Returns:
        The boxes by node id, `(x, y, w, h)` with `(x, y)` the centre and y growing downwards, and the
        edges, each `{"source", "target", "conditional", "label", "points"}` where `points` run from
        the source box's border to the target box's border.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, create_pdr_graph
        from langgraph_pdr.graphs.draw import layout

        boxes, edges = layout(create_pdr_graph(PDRConfig(method="single")).compile().get_graph())
        assert boxes["__start__"][1] < boxes["finalize"][1] < boxes["__end__"][1]
        assert all(len(e["points"]) >= 2 for e in edges)
        ```
    """
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout
    from grandalf.routing import route_with_lines

    vertices = {node_id: Vertex(node_id) for node_id in graph.nodes}
    for node_id, vertex in vertices.items():
        text = label_of(node_id, graph.nodes[node_id])
        vertex.view = _Box(len(text) * CHAR_W + 2 * PAD_X, BOX_H)
    edges = []
    for e in graph.edges:
        edge = Edge(vertices[e.source], vertices[e.target], data=e)
        edge.view = _Route()
        edges.append(edge)
    g = Graph(list(vertices.values()), edges)
    boxes: dict[str, tuple[float, float, float, float]] = {}
    routes: list[dict[str, Any]] = []
    offset = 0.0
    for component in g.C:  # side by side, should a graph have several
        sug = SugiyamaLayout(component)
        roots = [v for v in component.sV if len(v.e_in()) == 0]
        sug.init_all(roots=roots or None, optimize=True)
        sug.xspace, sug.yspace = GAP_X, GAP_Y
        sug.route_edge = route_with_lines
        sug.draw()
        left = min(v.view.xy[0] - v.view.w / 2 for v in component.sV)
        shift = offset - left
        for v in component.sV:
            x, y = v.view.xy
            boxes[v.data] = (x + shift, float(y), v.view.w, v.view.h)
        for edge in component.sE:
            lang = edge.data
            routes.append(
                {
                    "source": lang.source,
                    "target": lang.target,
                    "conditional": bool(lang.conditional),
                    "label": None if lang.data is None else str(lang.data),
                    "points": [(x + shift, y) for x, y in edge.view.pts],
                }
            )
        offset = max(x + w / 2 for x, _, w, _ in boxes.values()) + GAP_X
    return boxes, routes


def _arrow_head(ax: Any, tip: tuple[float, float], tail: tuple[float, float]) -> None:
    from matplotlib.patches import Polygon

    angle = math.atan2(tip[1] - tail[1], tip[0] - tail[0])
    length, half = 9.0, 4.0
    base = (tip[0] - length * math.cos(angle), tip[1] - length * math.sin(angle))
    normal = (-math.sin(angle) * half, math.cos(angle) * half)
    corners = [tip, (base[0] + normal[0], base[1] + normal[1]), (base[0] - normal[0], base[1] - normal[1])]
    ax.add_patch(Polygon(corners, closed=True, facecolor=EDGE_COLOUR, edgecolor=EDGE_COLOUR, zorder=3))


def draw_image(graph: Any, output: str | Path | None = None, *, format: str = "png") -> bytes | None:
    """Draw `graph` as a PNG or SVG: boxes and labels for the nodes, arrows for the edges (dashed when
    conditional), laid out by grandalf and drawn by matplotlib, fonts embedded as paths (SVG).

    Args:
        graph: a `langchain_core.runnables.graph.Graph`, e.g. `compiled.get_graph()`.
        output: the file to write; None returns the image's bytes instead.
        format: `png` or `svg`.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, create_pdr_graph
        from langgraph_pdr.graphs.draw import draw_image

        svg = draw_image(create_pdr_graph(PDRConfig()).compile().get_graph(), format="svg")
        assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
        ```
    """
    if format not in IMAGE_FORMATS:
        raise ValueError(f"format: unknown image format {format!r}; allowed: {', '.join(IMAGE_FORMATS)}")
    import io

    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    boxes, edges = layout(graph)
    left = min(x - w / 2 for x, _, w, _ in boxes.values()) - MARGIN
    right = max(x + w / 2 for x, _, w, _ in boxes.values()) + MARGIN
    top = min(y - h / 2 for _, y, _, h in boxes.values()) - MARGIN
    bottom = max(y + h / 2 for _, y, _, h in boxes.values()) + MARGIN
    for e in edges:  # a routed edge may bend outside the boxes
        left = min(left, *(x - MARGIN for x, _ in e["points"]))
        right = max(right, *(x + MARGIN for x, _ in e["points"]))
    fig = Figure(figsize=((right - left) / 72, (bottom - top) / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)  # y grows downwards, as grandalf lays it out
    ax.set_axis_off()
    for e in edges:
        xs, ys = zip(*e["points"], strict=True)
        ax.plot(xs, ys, color=EDGE_COLOUR, linewidth=1.2, linestyle=(0, (4, 3)) if e["conditional"] else "-")
        _arrow_head(ax, e["points"][-1], e["points"][-2])
        if e["label"]:
            mx, my = e["points"][len(e["points"]) // 2]
            ax.text(mx, my, e["label"], fontsize=FONT_SIZE - 2, ha="center", va="center", color=EDGE_COLOUR)
    for node_id, (x, y, w, h) in boxes.items():
        terminal = node_id in ("__start__", "__end__")
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle=f"round,pad=0,rounding_size={h / 2 if terminal else 6}",
                facecolor=TERMINAL_FILL if terminal else NODE_FILL,
                edgecolor=EDGE_COLOUR if terminal else NODE_EDGE,
                linewidth=1.3,
                zorder=4,
            )
        )
        ax.text(
            x,
            y,
            label_of(node_id, graph.nodes[node_id]),
            ha="center",
            va="center",
            fontsize=FONT_SIZE,
            family="DejaVu Sans",
            zorder=5,
        )
    buffer = io.BytesIO()
    metadata = {"Date": None} if format == "svg" else {"Software": None}
    fig.savefig(buffer, format=format, dpi=144, facecolor="white", metadata=metadata)
    data = buffer.getvalue()
    if output is None:
        return data
    Path(output).write_bytes(data)
    return None


def draw_png(graph: Any, output: str | Path) -> None:
    """Write `graph` as a PNG: with Graphviz when pygraphviz is installed, else with `draw_image`.

    Example:
        ```python
        import tempfile
        from pathlib import Path

        from langgraph_pdr import PDRConfig, create_pdr_graph
        from langgraph_pdr.graphs.draw import draw_png

        path = Path(tempfile.mkdtemp()) / "sr.png"
        draw_png(create_pdr_graph(PDRConfig(method="sr")).compile().get_graph(), path)
        assert path.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        ```
    """
    if has_pygraphviz():
        try:
            graph.draw_png(str(output))
            return
        except ImportError:  # pygraphviz is there but cannot load (its Graphviz library is missing)
            pass
    draw_image(graph, output, format="png")
