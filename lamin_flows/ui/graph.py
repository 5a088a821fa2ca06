"""The lineage page's drawing: a layered left-to-right layout of a lineage graph, as SVG.

* Fan-outs collapse: Files with the same producing Run and the same readers (the 1,000 outputs
  of one ingest) become one node "1,000 files", which expands on a click (``?expand=<key>``),
  so a graph of thousands of Files stays readable.
* Layers: every edge points right (longest path from the sources).
* Order within a layer: a few barycenter sweeps down and up, which removes the crossings of
  most pipeline graphs; then each node is moved towards its neighbours' height where it fits.
* Boxes are as wide as their text: labels are never cut.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from html import escape
from typing import Any

CHAR_W = 7.4  # px per character of 12px monospace (a little more than its 7.2 so nothing touches the border)
NODE_H = 42
GAP_X = 80
GAP_Y = 16
PAD = 24
FANOUT = 6  # more Files than this with the same producer and readers collapse into one node
SWEEPS = 6

STATUS_COLOURS = {
    "completed": ("#e6f4ea", "#2e8b57"),
    "failed": ("#fde8e8", "#c0392b"),
    "crashed": ("#fde8e8", "#c0392b"),
    "started": ("#fff6dd", "#d08a2e"),
    "running": ("#fff6dd", "#d08a2e"),
    "cancelled": ("#eeeeee", "#777777"),
}
KIND_COLOURS = {"file": ("#e8f1fb", "#3d7cc9"), "group": ("#f3eefc", "#7b5cc4"), "run": ("#eeeeee", "#777777")}


@dataclass
class Box:
    """One node as drawn."""

    id: str
    kind: str  # file, run or group
    label: str
    detail: str
    root: bool = False
    status: str | None = None
    members: list[str] = field(default_factory=list)  # a group's File node ids
    key: str | None = None  # a group's expand key
    layer: int = 0
    x: float = 0.0
    y: float = 0.0

    @property
    def width(self) -> float:
        return max(len(self.label), len(self.detail)) * CHAR_W + 24

    def as_dict(self) -> dict[str, Any]:
        """The node for the JSON API: id, kind, label, detail, position and size."""
        record = self.id.split(":", 1)[1]
        return {
            "id": record,
            "node": self.id,
            "kind": self.kind,
            "label": self.label,
            "detail": self.detail,
            "root": self.root,
            "status": self.status,
            "x": round(self.x, 1),
            "y": round(self.y, 1),
            "width": round(self.width, 1),
            "height": NODE_H,
            "expand": self.key,
            "members": [m.split(":", 1)[1] for m in self.members],
        }


def group_key(sources: tuple[str, ...], targets: tuple[str, ...]) -> str:
    """A short stable key for the Files between these producers and readers."""
    return hashlib.md5(("|".join(sources) + ">" + "|".join(targets)).encode()).hexdigest()[:10]


def _collapse(graph: Any, expand: set[str]) -> tuple[dict[str, Box], list[tuple[str, str]]]:
    into: dict[str, set[str]] = {}
    out: dict[str, set[str]] = {}
    for e in graph.edges:
        out.setdefault(e.source, set()).add(e.target)
        into.setdefault(e.target, set()).add(e.source)
    boxes = {}
    for node in graph.nodes.values():
        status = node.detail.split(",", 1)[0] if node.kind == "run" else None
        boxes[node.id] = Box(node.id, node.kind, node.label, node.detail, node.id == graph.root, status)
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for node in graph.nodes.values():
        if node.kind == "file" and node.id != graph.root:
            signature = (tuple(sorted(into.get(node.id, ()))), tuple(sorted(out.get(node.id, ()))))
            groups.setdefault(signature, []).append(node.id)
    alias: dict[str, str] = {}
    for (sources, targets), members in groups.items():
        key = group_key(sources, targets)
        if len(members) <= FANOUT or key in expand:
            continue
        members.sort(key=lambda m: boxes[m].label)
        first, last = boxes[members[0]].label, boxes[members[-1]].label
        group = Box(f"group:{key}", "group", f"{len(members):,} files", f"{first} … {last}", members=members, key=key)
        boxes[group.id] = group
        for member in members:
            alias[member] = group.id
            del boxes[member]
    edges = list(dict.fromkeys((alias.get(e.source, e.source), alias.get(e.target, e.target)) for e in graph.edges))
    return boxes, [(s, t) for s, t in edges if s in boxes and t in boxes and s != t]


def _layers(boxes: dict[str, Box], edges: list[tuple[str, str]]) -> None:
    """Longest path from the sources (Kahn's order); nodes on a cycle go one layer past their known inputs."""
    preds: dict[str, list[str]] = {b: [] for b in boxes}
    succs: dict[str, list[str]] = {b: [] for b in boxes}
    for s, t in edges:
        succs[s].append(t)
        preds[t].append(s)
    waiting = {b: len(preds[b]) for b in boxes}
    ready = [b for b, n in waiting.items() if n == 0]
    done: set[str] = set()
    while ready or len(done) < len(boxes):
        if not ready:  # a cycle: release the node with the fewest open inputs
            ready = [min((b for b in boxes if b not in done), key=lambda b: waiting[b])]
        node = ready.pop()
        if node in done:
            continue
        done.add(node)
        boxes[node].layer = max((boxes[p].layer + 1 for p in preds[node] if p in done), default=0)
        for t in succs[node]:
            waiting[t] -= 1
            if waiting[t] == 0:
                ready.append(t)


def _order(boxes: dict[str, Box], edges: list[tuple[str, str]]) -> list[list[Box]]:
    n_layers = max((b.layer for b in boxes.values()), default=0) + 1
    layers: list[list[Box]] = [[] for _ in range(n_layers)]
    for box in sorted(boxes.values(), key=lambda b: (b.kind != "run", b.label, b.id)):
        layers[box.layer].append(box)
    preds: dict[str, list[str]] = {b: [] for b in boxes}
    succs: dict[str, list[str]] = {b: [] for b in boxes}
    for s, t in edges:
        succs[s].append(t)
        preds[t].append(s)
    pos: dict[str, float] = {}

    def number(layer: list[Box]) -> None:
        for i, box in enumerate(layer):
            pos[box.id] = (i + 0.5) / len(layer)

    for layer in layers:
        number(layer)
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        sequence = range(1, n_layers) if downward else range(n_layers - 2, -1, -1)
        for li in sequence:
            neighbours = preds if downward else succs

            def centre(box: Box) -> float:
                values = [pos[n] for n in neighbours[box.id]]  # noqa: B023 - a sort key of this same iteration
                return sum(values) / len(values) if values else pos[box.id]

            layers[li].sort(key=lambda b: (centre(b), pos[b.id]))
            number(layers[li])
    return layers


def _place(layers: list[list[Box]], edges: list[tuple[str, str]]) -> tuple[float, float]:
    """x by layer; y stacked, each layer centred on its neighbours on the left where that fits."""
    preds: dict[str, list[Box]] = {}
    by_id = {b.id: b for layer in layers for b in layer}
    for s, t in edges:
        preds.setdefault(t, []).append(by_id[s])
    step = NODE_H + GAP_Y
    tallest = max(len(layer) for layer in layers)
    x: float = PAD
    y: float  # each layer's boxes, stacked
    for li, layer in enumerate(layers):
        for box in layer:
            box.x = x
        x += max(b.width for b in layer) + GAP_X
        wanted = []
        for i, box in enumerate(layer):
            ys = [p.y for p in preds.get(box.id, []) if p.layer < li]
            wanted.append(sum(ys) / len(ys) if ys else PAD + (tallest - len(layer)) * step / 2 + i * step)
        y = PAD - step
        for box, want in zip(layer, wanted, strict=True):  # keep the order; never overlap
            y = max(want, y + step)
            box.y = y
    top = min(b.y for b in by_id.values())
    for box in by_id.values():
        box.y += PAD - top
    height = max(b.y for b in by_id.values()) + NODE_H + PAD
    return x - GAP_X + PAD, height


def layout(graph: Any, expand: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """Lay out a :class:`~lamin_flows.tracking.lineage.LineageGraph`: boxes, edges and the size.

    Example:
        >>> drawing = layout(file.view_lineage())
        >>> drawing["width"], len(drawing["boxes"])
    """
    boxes, edges = _collapse(graph, set(expand))
    _layers(boxes, edges)
    layers = _order(boxes, edges)
    width, height = _place(layers, edges)
    return {
        "boxes": boxes,
        "edges": edges,
        "width": width,
        "height": height,
        "truncated": graph.truncated,
        "n_files": len(graph.files),
        "n_runs": len(graph.runs),
    }


def as_json(drawing: dict[str, Any]) -> dict[str, Any]:
    """The layout for ``/api/lineage``: nodes with positions, edges by node id."""
    return {
        "width": round(drawing["width"], 1),
        "height": round(drawing["height"], 1),
        "truncated": drawing["truncated"],
        "n_files": drawing["n_files"],
        "n_runs": drawing["n_runs"],
        "nodes": [b.as_dict() for b in drawing["boxes"].values()],
        "edges": [{"source": s, "target": t} for s, t in drawing["edges"]],
    }


def _href(box: Box, expand_href: Any) -> str:
    kind, record = box.id.split(":", 1)
    if kind == "group":
        return expand_href(box.key)
    return f"/{kind}s/{record}"


def to_svg(drawing: dict[str, Any], expand_href: Any) -> str:
    """The drawing as an inline SVG; every node a link (a group's link expands it)."""
    boxes = drawing["boxes"]
    w, h = drawing["width"], drawing["height"]
    parts = [
        f'<svg id="lineage" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" data-width="{w:.0f}"'
        f' data-height="{h:.0f}" font-family="ui-monospace, monospace" font-size="12">',
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' markerHeight='7'"
        " orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' fill='#888'/></marker></defs><g id='viewport'>",
    ]
    for s, t in drawing["edges"]:
        a, b = boxes[s], boxes[t]
        x1, y1, x2, y2 = a.x + a.width, a.y + NODE_H / 2, b.x, b.y + NODE_H / 2
        mid = (x1 + x2) / 2
        parts.append(
            f'<path class="edge" d="M{x1:.1f} {y1:.1f} C{mid:.1f} {y1:.1f},{mid:.1f} {y2:.1f},{x2:.1f} {y2:.1f}"'
            ' fill="none" stroke="#999" stroke-width="1.3" marker-end="url(#arrow)"/>'
        )
    for box in boxes.values():
        fill, stroke = (
            STATUS_COLOURS.get(box.status or "", KIND_COLOURS[box.kind])
            if box.kind == "run"
            else KIND_COLOURS[box.kind]
        )
        radius = 14 if box.kind == "file" else 4
        dash = ' stroke-dasharray="5 3"' if box.kind == "group" else ""
        title = f"{box.label} ({box.detail})" + (" — click to expand" if box.kind == "group" else "")
        parts.append(
            f'<a class="node {box.kind}{" root" if box.root else ""}" href="{escape(_href(box, expand_href))}"'
            f' data-node="{escape(box.id)}"><title>{escape(title)}</title>'
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{NODE_H}" rx="{radius}"'
            f' fill="{fill}" stroke="{stroke}" stroke-width="{3 if box.root else 1.5}"{dash}/>'
            f'<text class="name" x="{box.x + 12:.1f}" y="{box.y + 17:.1f}" font-weight="bold">{escape(box.label)}</text>'
            f'<text class="detail" x="{box.x + 12:.1f}" y="{box.y + 32:.1f}" fill="#555">{escape(box.detail)}</text></a>'
        )
    parts.append("</g></svg>")
    return "".join(parts)
