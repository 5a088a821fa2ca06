"""A lineage graph as SVG, laid out without Graphviz: columns by distance from the File.

The File whose lineage is shown sits in the right-most column; each step upstream (its Run,
that Run's inputs, their Runs, ...) is one column further left, at the longest distance a node
is found at, so every edge points rightwards.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lamin_flows.tracking.lineage import LineageGraph, Node

CHAR_W = 7.2  # px per character at 12px monospace
NODE_H = 40
GAP_X = 70
GAP_Y = 18
PAD = 20
MAX_LABEL = 48

_STYLE = {
    "file": ("#e8f1fb", "#3d7cc9", 14),
    "run": ("#fdf0e0", "#d08a2e", 3),
}


def _columns(graph: LineageGraph) -> dict[str, int]:
    """Longest distance (in edges) from the root, walking upstream; bounded so cycles end."""
    depth = {graph.root: 0}
    into: dict[str, list[str]] = {}
    for edge in graph.edges:
        into.setdefault(edge.target, []).append(edge.source)
    for _ in range(len(graph.nodes)):
        changed = False
        for target, sources in into.items():
            if target not in depth:
                continue
            for source in sources:
                if depth.get(source, -1) < depth[target] + 1 <= len(graph.nodes):
                    depth[source] = depth[target] + 1
                    changed = True
        if not changed:
            break
    for edge in graph.reuses:  # a cached Run stands next to the Run it reused
        if edge.target in depth:
            depth[edge.source] = depth[edge.target]
    for node_id in graph.nodes:
        depth.setdefault(node_id, 0)
    return depth


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else "…" + text[-(MAX_LABEL - 1) :]


def _width(node: Node) -> float:
    return max(len(_short(node.label)), len(_short(node.detail))) * CHAR_W + 24


def render_svg(graph: LineageGraph) -> str:
    """The SVG document of a lineage graph."""
    depth = _columns(graph)
    n_cols = max(depth.values()) + 1
    columns: list[list[Node]] = [[] for _ in range(n_cols)]
    for node in graph.nodes.values():
        columns[n_cols - 1 - depth[node.id]].append(node)
    col_w = [max((_width(n) for n in col), default=0) for col in columns]
    col_x: list[float] = []
    x: float = PAD
    for w in col_w:
        col_x.append(x)
        x += w + GAP_X
    width = x - GAP_X + PAD
    tallest = max(len(col) for col in columns)
    height = PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y
    boxes: dict[str, tuple[float, float, float]] = {}  # node id -> (x, y, w)
    for ci, col in enumerate(columns):
        col_h = len(col) * NODE_H + (len(col) - 1) * GAP_Y
        y = (height - col_h) / 2
        for node in col:
            boxes[node.id] = (col_x[ci], y, _width(node))
            y += NODE_H + GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="0 0 {width:.0f} {height:.0f}" font-family="monospace" font-size="12">',
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' markerHeight='7'"
        " orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' fill='#666'/></marker></defs>",
    ]
    for edge in graph.edges:
        if edge.source not in boxes or edge.target not in boxes:
            continue
        sx, sy, sw = boxes[edge.source]
        tx, ty, _ = boxes[edge.target]
        x1, y1, x2, y2 = sx + sw, sy + NODE_H / 2, tx, ty + NODE_H / 2
        mid = (x1 + x2) / 2
        parts.append(
            f'<path d="M {x1:.1f} {y1:.1f} C {mid:.1f} {y1:.1f}, {mid:.1f} {y2:.1f}, {x2:.1f} {y2:.1f}"'
            ' fill="none" stroke="#666" stroke-width="1.2" marker-end="url(#arrow)"/>'
        )
    for edge in graph.reuses:  # dashed, from the cached Run to the Run it reused
        if edge.source in boxes and edge.target in boxes:
            sx, sy, sw = boxes[edge.source]
            tx, ty, tw = boxes[edge.target]
            x1, y1 = sx + sw / 2, sy + (0 if ty < sy else NODE_H)
            x2, y2 = tx + tw / 2, ty + (NODE_H if ty < sy else 0)
            parts.append(
                f'<path d="M {x1:.1f} {y1:.1f} L {x2:.1f} {y2:.1f}" fill="none" stroke="#d08a2e"'
                ' stroke-width="1.2" stroke-dasharray="4 3" marker-end="url(#arrow)"><title>reuses</title></path>'
            )
    for node in graph.nodes.values():
        bx, by, bw = boxes[node.id]
        fill, stroke, radius = _STYLE[node.kind]
        stroke_width = 3 if node.id == graph.root else 1.5
        parts.append(
            f"<g><title>{escape(node.label)} ({escape(node.detail)})</title>"
            f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bw:.1f}" height="{NODE_H}" rx="{radius}"'
            f' fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"/>'
            f'<text x="{bx + 12:.1f}" y="{by + 16:.1f}" font-weight="bold">{escape(_short(node.label))}</text>'
            f'<text x="{bx + 12:.1f}" y="{by + 31:.1f}" fill="#555">{escape(_short(node.detail))}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
