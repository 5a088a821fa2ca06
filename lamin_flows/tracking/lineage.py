"""Lineage: where a File came from, as a graph of Files and Runs.

Walking upstream from a File: the Run that made it (and its Transform), the Files that Run read,
the Runs that made those, and so on. Each level is three batched queries (runs with their
transforms and parents, input links, input files), never one query per record.

The graph renders as Mermaid text, as a tree in a terminal, and as an SVG or HTML file.
Runs with status "cached" (``@ln.tracked(cache=True)``) that reused a Run of the graph are
shown next to it, pointing at it (``graph.reuses``; the latest three per Run): they made no
Files themselves, the reused Run's outputs are what they returned.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamin_flows.errors import ValidationError

if TYPE_CHECKING:
    pass

MAX_DEPTH = 50
REUSES_SHOWN = 3  # cached Runs shown per reused Run (the latest)


@dataclass(frozen=True)
class Node:
    """A File or a Run in a lineage graph."""

    id: str  # "file:<record id>" or "run:<record id>"
    kind: str  # "file" or "run"
    label: str  # a File's key (or name); a Run's transform name
    detail: str = ""  # size; status, version and start time


@dataclass(frozen=True)
class Edge:
    """Data flow: an input File to the Run that read it, or a Run to the File it made."""

    source: str
    target: str


@dataclass
class LineageGraph:
    """The upstream lineage of one File: nodes (Files, Runs) and edges (data flow).

    Example:
        >>> graph = ln.File.select(key="reports/nonempty.parquet").one().view_lineage()
        >>> print(graph)                      # a tree
        >>> graph.to_mermaid()                # Mermaid flowchart text
        >>> graph.write("lineage.svg")        # or .html, .mmd
    """

    root: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    truncated: bool = False  # the walk stopped at the maximum depth
    # A cached Run (source) pointing at the Run whose result it reused (target); not data flow
    reuses: list[Edge] = field(default_factory=list)

    def add(self, node: Node) -> None:
        self.nodes.setdefault(node.id, node)

    def link(self, source: str, target: str) -> None:
        edge = Edge(source, target)
        if edge not in self._edge_set:
            self._edge_set.add(edge)
            self.edges.append(edge)

    def __post_init__(self) -> None:
        self._edge_set: set[Edge] = set(self.edges)

    def upstream(self, node_id: str) -> list[Node]:
        """The nodes with an edge into ``node_id`` (a File's Run; a Run's input Files)."""
        sources = [self.nodes[e.source] for e in self.edges if e.target == node_id]
        return sorted(sources, key=lambda n: (n.kind, n.label, n.id))

    @property
    def files(self) -> list[Node]:
        """The File nodes."""
        return [n for n in self.nodes.values() if n.kind == "file"]

    @property
    def runs(self) -> list[Node]:
        """The Run nodes."""
        return [n for n in self.nodes.values() if n.kind == "run"]

    # ---- renderings ---------------------------------------------------------------------
    def to_mermaid(self) -> str:
        """A Mermaid flowchart (left to right): Files as stadiums, Runs as boxes.

        Example:
            >>> print(graph.to_mermaid())
            flowchart LR
                f0(["raw/a.csv"])
                ...
        """
        names: dict[str, str] = {}
        lines = ["flowchart LR"]
        for i, node in enumerate(self.nodes.values()):
            names[node.id] = f"{node.kind[0]}{i}"
            text = _mermaid_text(node.label + (f"<br/>{node.detail}" if node.detail else ""))
            shape = f'(["{text}"])' if node.kind == "file" else f'["{text}"]'
            lines.append(f"    {names[node.id]}{shape}")
        for edge in self.edges:
            lines.append(f"    {names[edge.source]} --> {names[edge.target]}")
        for edge in self.reuses:
            lines.append(f"    {names[edge.source]} -. reuses .-> {names[edge.target]}")
        lines.append("    classDef file fill:#e8f1fb,stroke:#3d7cc9")
        lines.append("    classDef run fill:#fdf0e0,stroke:#d08a2e")
        lines.append("    classDef root stroke-width:3px")
        for kind in ("file", "run"):
            members = [names[n.id] for n in self.nodes.values() if n.kind == kind]
            if members:
                lines.append(f"    class {','.join(members)} {kind}")
        lines.append(f"    class {names[self.root]} root")
        return "\n".join(lines) + "\n"

    def tree(self) -> Any:
        """The lineage as a ``rich.tree.Tree``, the File at the top and its sources below."""
        from rich.markup import escape
        from rich.tree import Tree

        def label(node: Node) -> str:
            style = "bold blue" if node.kind == "file" else "bold dark_orange"
            prefix = "" if node.kind == "file" else "made by "
            detail = f" [dim]({escape(node.detail)})[/dim]" if node.detail else ""
            return f"{prefix}[{style}]{escape(node.label)}[/{style}]{detail}"

        top = Tree(label(self.nodes[self.root]))
        shown: set[str] = {self.root}

        def grow(branch: Any, node_id: str) -> None:
            for edge in self.reuses:
                if edge.target == node_id:
                    branch.add("[dim]reused by[/dim] " + label(self.nodes[edge.source]).removeprefix("made by "))
            sources = self.upstream(node_id)
            if self.nodes[node_id].kind == "run" and sources:
                branch = branch.add("[dim]read[/dim]")
            for source in sources:
                if source.id in shown:
                    branch.add(label(source) + " [dim](see above)[/dim]")
                    continue
                shown.add(source.id)
                grow(branch.add(label(source)), source.id)

        grow(top, self.root)
        if self.truncated:
            top.add(f"[dim]… stopped after {MAX_DEPTH} levels[/dim]")
        return top

    def print(self) -> None:
        """Print the tree to the terminal (with colours where supported)."""
        from rich.console import Console

        Console().print(self.tree())

    def __str__(self) -> str:
        from rich.console import Console

        buffer = io.StringIO()
        Console(file=buffer, width=120, color_system=None).print(self.tree())
        return buffer.getvalue()

    def __repr__(self) -> str:
        return f"<LineageGraph of {self.nodes[self.root].label!r}: {len(self.files)} files, {len(self.runs)} runs>"

    def __rich__(self) -> Any:
        return self.tree()

    def to_svg(self) -> str:
        """The graph as a standalone SVG image (laid out left to right, sources first)."""
        from lamin_flows.tracking.lineage_svg import render_svg

        return render_svg(self)

    def to_html(self) -> str:
        """A standalone HTML page with the SVG and the Mermaid source (no scripts, works offline)."""
        from html import escape

        title = escape(f"Lineage of {self.nodes[self.root].label}")
        return (
            "<!doctype html>\n<html><head><meta charset='utf-8'>"
            f"<title>{title}</title>"
            "<style>body{font-family:sans-serif;margin:2em} pre{background:#f6f6f6;padding:1em}</style>"
            f"</head><body><h1>{title}</h1>\n{self.to_svg()}\n"
            f"<details><summary>Mermaid</summary><pre>{escape(self.to_mermaid())}</pre></details>"
            "</body></html>\n"
        )

    def _repr_html_(self) -> str:
        return self.to_svg()

    def to_png(self) -> bytes:
        """The SVG rendered as a PNG image (needs the ``resvg-py`` package: ``pip install 'lamin-flows[png]'``)."""
        png: bytes = _png_renderer()(svg_string=self.to_svg(), background="#ffffff", zoom=2.0)
        return png

    def records(self) -> list[dict[str, Any]]:
        """The nodes as rows: kind, record id, label, detail and the ids of the nodes upstream."""
        return [
            {
                "kind": node.kind,
                "id": node.id.split(":", 1)[1],
                "label": node.label,
                "detail": node.detail,
                "root": node.id == self.root,
                "upstream": [up.id.split(":", 1)[1] for up in self.upstream(node.id)],
            }
            for node in self.nodes.values()
        ]

    def to_json(self) -> str:
        """The graph as JSON: ``{"root", "nodes", "edges", "truncated"}`` with record ids."""
        import json

        edges = [{"source": e.source.split(":", 1)[1], "target": e.target.split(":", 1)[1]} for e in self.edges]
        reuses = [{"cached": e.source.split(":", 1)[1], "reused": e.target.split(":", 1)[1]} for e in self.reuses]
        root = self.root.split(":", 1)[1]
        document = {
            "root": root,
            "nodes": self.records(),
            "edges": edges,
            "reuses": reuses,
            "truncated": self.truncated,
        }
        return json.dumps(document, indent=2)

    def to_csv(self) -> str:
        """The nodes as CSV, one per line; ``upstream`` lists the ids upstream, separated by ";"."""
        import csv

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, ["kind", "id", "label", "detail", "root", "upstream"], lineterminator="\n")
        writer.writeheader()
        for row in self.records():
            writer.writerow({**row, "upstream": ";".join(row["upstream"])})
        return buffer.getvalue()

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the graph to ``.svg``, ``.png``, ``.html`` or ``.mmd`` (Mermaid) by the path's suffix.

        Returns:
            The path written.

        Raises:
            ValidationError: another suffix.
            MissingDependencyError: ``.png`` without the ``resvg-py`` package.

        Example:
            >>> graph.write("lineage.html")
        """
        target = Path(path)
        suffix = check_output(path)
        if suffix == ".png":
            target.write_bytes(self.to_png())
            return target
        renderers = {".svg": self.to_svg, ".html": self.to_html, ".htm": self.to_html, ".mmd": self.to_mermaid}
        target.write_text(renderers[suffix](), encoding="utf-8")
        return target


SUFFIXES = (".svg", ".png", ".html", ".htm", ".mmd")


def check_output(path: str | os.PathLike[str]) -> str:
    """The suffix of ``path`` if a lineage graph can be written there; an error naming the ones it takes otherwise.

    Called before any work, so ``lamin lineage KEY -o x.pdf`` fails at once.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValidationError(f"cannot write lineage to {os.fspath(path)!r}: use a .svg, .png, .html or .mmd file name")
    if suffix == ".png":
        _png_renderer()
    return suffix


def _png_renderer() -> Any:
    from lamin_flows.errors import MissingDependencyError

    try:
        from resvg_py import svg_to_bytes  # a Rust SVG renderer in one wheel: no system libraries
    except ImportError as exc:
        raise MissingDependencyError(
            "writing .png needs the resvg-py package: pip install 'lamin-flows[png]' (or write .svg, .html or .mmd)"
        ) from exc
    return svg_to_bytes


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("[", "#91;").replace("]", "#93;")


def _human(size: int | None) -> str:
    from lamin_flows.registry.listing import human_size as human

    return human(size)


def _file_node(file: Any) -> Node:
    version = getattr(file, "version", None)
    detail = _human(file.size) + (f", version {version}" if version else "")
    return Node(f"file:{file.id}", "file", file.key or file.name or file.id, detail)


def _run_node(run: Any, transform: Any, parent_name: str | None) -> Node:
    started = run.started_at.strftime("%Y-%m-%d %H:%M:%S") if run.started_at else "?"
    name = transform.name if transform is not None else run.transform_id
    detail = f"{run.status}, v{transform.version if transform is not None else '?'}, {started}"
    if parent_name:
        detail += f", in {parent_name}"
    return Node(f"run:{run.id}", "run", name, detail)


def _add_reuses(graph: LineageGraph, run_ids: list[str], transforms: dict[str, Any]) -> None:
    """The latest cached Runs that reused each of ``run_ids`` (one query per batch), pointing at them."""
    from lamin_flows.registry.models import Run
    from lamin_flows.registry.sql import chunks

    shown: dict[str, int] = {}
    for batch in chunks(run_ids):
        for run in Run.select(reused_id__in=list(batch)).order_by("-started_at").all():
            shown[run.reused_id] = shown.get(run.reused_id, 0) + 1
            if shown[run.reused_id] > REUSES_SHOWN:
                continue
            node = _run_node(run, transforms.get(run.transform_id), None)
            graph.add(Node(node.id, "run", node.label, f"{node.detail}, reuses run {run.reused_id[:8]}"))
            graph.reuses.append(Edge(node.id, f"run:{run.reused_id}"))
