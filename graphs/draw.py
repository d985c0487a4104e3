"""Drawing a compiled graph's structure as a PNG or SVG file with no system package: grandalf lays it out
(the layered Sugiyama layout LangGraph's `draw_ascii` uses), matplotlib draws boxes, labels and arrows.

Every format shows the method's shape (`annotate`): the nodes a router fans out to with `Send` (a
round's drafts, their checks, their verifications: one task each, in parallel) are marked `×N` (drawn
stacked), each conditional edge is labelled with the router's condition and drawn dashed, and a legend
says so. With pygraphviz installed, PNGs come from Graphviz (`Graph.draw_png`).
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
#: The offset of a fan-out node's stacked boxes, a legend row's height and the legend's width.
STACK, LEGEND_ROW, LEGEND_WIDTH = 8.0, 18.0, 330.0
FONT_SIZE = 11
#: Colours: ordinary nodes, the start and end nodes, edges.
NODE_FILL, NODE_EDGE, TERMINAL_FILL, EDGE_COLOUR = "#f2f0ff", "#4b3fbf", "#e8e8e8", "#444444"


#: Nodes a router fans out to with `Send`: one task per draft of the round, all run in parallel.
FAN_OUT = ("draft", "check", "verify")
#: What the label of a fan-out node adds (`draft ×N`); text drawings write `xN`.
FAN_OUT_MARK, FAN_OUT_TEXT_MARK = " ×N", " xN"
#: The condition under which each conditional edge is taken, by (source, target).
CONDITIONS = {
    ("begin_round", "draft"): "Send: one per draft",
    ("begin_round", "finalize"): "stopped",
    ("collect", "check"): "Send: check each draft",
    ("collect", "verify"): "Send: verify each draft",
    ("checked", "verify"): "Send: verify each draft",
    ("collect", "distill"): "next round",
    ("checked", "distill"): "next round",
    ("collect", "critique"): "next round",
    ("checked", "critique"): "next round",
    ("collect", "begin_round"): "next window",
    ("checked", "begin_round"): "next window",
    ("collect", "finalize"): "last round, or stopped",
    ("checked", "finalize"): "last round, or stopped",
    ("distill", "begin_round"): "next round",
    ("distill", "finalize"): "stopped",
    ("critique", "distill"): "go on",
    ("critique", "finalize"): "stopped",
}
#: The legend of every drawing: what a solid arrow, a dashed arrow and a stacked `×N` node mean.
LEGEND = (
    "always taken",
    "conditional, taken when its label holds",
    "×N: one task per draft, run in parallel (Send)",
)


def annotate(graph: Any, *, mark: str = FAN_OUT_MARK) -> Any:
    """`graph` (a `langchain_core.runnables.graph.Graph`) with its conditional edges labelled by their
    conditions (`CONDITIONS`) and its fan-out nodes named with `mark` (`draft ×N`). Changed in place.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, create_pdr_graph
        from langgraph_pdr.graphs.draw import annotate

        graph = annotate(create_pdr_graph(PDRConfig()).compile().get_graph())
        assert graph.nodes["draft"].name == "draft ×N"
        labels = {(e.source, e.target): e.data for e in graph.edges}
        assert labels[("begin_round", "draft")] == "Send: one per draft"
        ```
    """
    for node_id in FAN_OUT:
        if node_id in graph.nodes:
            graph.nodes[node_id] = graph.nodes[node_id]._replace(name=node_id + mark)
    graph.edges = [
        e._replace(data=CONDITIONS.get((e.source, e.target), e.data)) if e.conditional else e
        for e in graph.edges
    ]
    return graph


def mermaid(graph: Any) -> str:
    """`graph` (annotated) in Mermaid: LangGraph's drawing with labelled edges, the fan-out nodes as
    stacked boxes named `draft ×N`, and a legend.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, create_pdr_graph
        from langgraph_pdr.graphs.draw import annotate, mermaid

        text = mermaid(annotate(create_pdr_graph(PDRConfig()).compile().get_graph()))
        assert "begin_round -. &nbsp;Send: one per draft&nbsp; .-> draft;" in text
        assert 'draft[["draft ×N"]];' in text and "subgraph legend" in text
        ```
    """
    lines = graph.draw_mermaid(with_styles=False).rstrip("\n").splitlines()
    for node_id in FAN_OUT:
        if node_id in graph.nodes:
            lines.append(f'\t{node_id}[["{graph.nodes[node_id].name}"]];')
    solid, dashed, parallel = LEGEND
    lines += [
        "\tsubgraph legend [legend]",
        "\t\tdirection LR",
        f'\t\tlegend_a[" "] -- {solid} --> legend_b[" "];',
        f'\t\tlegend_c[" "] -. {dashed} .-> legend_d[" "];',
        f'\t\tlegend_e[["{parallel}"]];',
        "\tend",
    ]
    return "\n".join(lines) + "\n"


def ascii_art(graph: Any) -> str:
    """`graph` (annotated with `FAN_OUT_TEXT_MARK`) as LangGraph's text drawing, then its conditional
    edges with their conditions and the legend.

    Example:
        ```python
        from langgraph_pdr import PDRConfig, draw_graph

        text = draw_graph(PDRConfig(method="sr"), format="ascii")  # through ascii_art
        assert "| draft xN |" in text and "distill ..> finalize: stopped" in text
        ```
    """
    lines = [graph.draw_ascii().rstrip("\n"), "", "conditional edges (dotted):"]
    for e in graph.edges:
        if e.conditional:
            lines.append(f"  {label_of(e.source)} ..> {label_of(e.target)}: {e.data or 'a router picks it'}")
    lines += ["", "legend: *** always taken; ... conditional; xN: one task per draft, run in parallel (Send)"]
    return "\n".join(lines) + "\n"


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


def _middle(points: list[tuple[float, float]]) -> tuple[tuple[float, float], tuple[float, float]]:
    """The segment of a polyline its label is centred on: the middle one."""
    k = max(len(points) // 2, 1)
    return points[k - 1], points[k]


def _box(ax: Any, x: float, y: float, w: float, h: float, *, terminal: bool, zorder: float) -> None:
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle=f"round,pad=0,rounding_size={h / 2 if terminal else 6}",
            facecolor=TERMINAL_FILL if terminal else NODE_FILL,
            edgecolor=EDGE_COLOUR if terminal else NODE_EDGE,
            linewidth=1.3,
            zorder=zorder,
        )
    )


def _legend(ax: Any, x: float, top: float) -> None:
    """The legend under the drawing: a solid arrow, a dashed one, a stacked box, each with its meaning."""
    sample = 36.0
    for row, meaning in enumerate(LEGEND):
        y = top + LEGEND_ROW * (row + 0.5)
        if row < 2:
            ax.plot(
                [x, x + sample],
                [y, y],
                color=EDGE_COLOUR,
                linewidth=1.2,
                linestyle="-" if row == 0 else (0, (4, 3)),
            )
            _arrow_head(ax, (x + sample, y), (x, y))
        else:
            for layer in (2, 1, 0):
                _box(
                    ax,
                    x + 12 + layer * 2,
                    y - layer * 2,
                    20,
                    11,
                    terminal=False,
                    zorder=4 + 0.1 * (2 - layer),
                )
        ax.text(
            x + sample + 10,
            y,
            meaning,
            fontsize=FONT_SIZE - 2,
            va="center",
            family="DejaVu Sans",
            color=EDGE_COLOUR,
        )


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

    boxes, edges = layout(graph)
    left = min(x - w / 2 for x, _, w, _ in boxes.values()) - MARGIN
    right = max(x + w / 2 for x, _, w, _ in boxes.values()) + MARGIN + STACK
    top = min(y - h / 2 for _, y, _, h in boxes.values()) - MARGIN - STACK
    bottom = max(y + h / 2 for _, y, _, h in boxes.values()) + MARGIN
    for e in edges:  # a routed edge may bend outside the boxes, and its label is centred on it
        half = len(e["label"] or "") * CHAR_W * 0.4
        left = min(left, *(x - MARGIN - half for x, _ in e["points"]))
        right = max(right, *(x + MARGIN + half for x, _ in e["points"]))
    legend_top = bottom
    bottom += LEGEND_ROW * len(LEGEND) + MARGIN
    right = max(right, left + LEGEND_WIDTH)
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
            (ax1, ay1), (ax2, ay2) = _middle(e["points"])
            ax.text(
                (ax1 + ax2) / 2,
                (ay1 + ay2) / 2,
                e["label"],
                fontsize=FONT_SIZE - 3,
                ha="center",
                va="center",
                color=EDGE_COLOUR,
                family="DejaVu Sans",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
                zorder=3,
            )
    for node_id, (x, y, w, h) in boxes.items():
        terminal = node_id in ("__start__", "__end__")
        # a fan-out node (one task per draft, in parallel) is a stack of boxes
        layers = (2, 1, 0) if node_id in FAN_OUT else (0,)
        for layer in layers:
            _box(
                ax,
                x + layer * STACK / 2,
                y - layer * STACK / 2,
                w,
                h,
                terminal=terminal,
                zorder=4 + 0.1 * (2 - layer),
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
    _legend(ax, left + MARGIN, legend_top)
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
