"""The queries of a lineage walk, upstream and downstream, batched per level.

Upstream from a File (``file.view_lineage()``) or a Run; downstream on request: the Runs that
read a File, what they wrote, who read that, and so on. Each level is a handful of batched
queries (runs with their parents and transforms, input links, files), never one per record.
The web page (``lamin ui``) and the terminal walk the same way, through these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lamin_flows.tracking.lineage import MAX_DEPTH, LineageGraph, Node, _add_reuses, _file_node, _run_node

if TYPE_CHECKING:
    from lamin_flows.registry.file import File
    from lamin_flows.registry.models import Run


def _add_runs(graph: LineageGraph, run_ids: list[str], transforms: dict[str, Any]) -> list[Any]:
    """Query the Runs (with their parents and Transforms) and add them as nodes; returns the Runs."""
    from lamin_flows.registry.models import Run, Transform
    from lamin_flows.registry.persist import DELETED_INPUTS
    from lamin_flows.registry.sql import chunks

    level_runs = [r for batch in chunks(run_ids) for r in Run.select(id__in=batch).all()]
    parent_ids = {r.parent_id for r in level_runs if r.parent_id}
    parents = {r.id: r for batch in chunks(list(parent_ids)) for r in Run.select(id__in=batch).all()}
    missing = {r.transform_id for r in [*level_runs, *parents.values()]} - set(transforms)
    for batch in chunks(list(missing)):
        transforms.update({t.id: t for t in Transform.select(id__in=batch).all()})
    for run in level_runs:
        parent = parents.get(run.parent_id) if run.parent_id else None
        parent_name = (
            transforms[parent.transform_id].name if parent is not None and parent.transform_id in transforms else None
        )
        graph.add(_run_node(run, transforms.get(run.transform_id), parent_name))
        for gone in (run.meta or {}).get(DELETED_INPUTS, []):  # inputs deleted since the Run read them
            version = f", version {gone['version']}" if gone.get("version") else ""
            graph.add(Node(f"file:{gone['id']}", "file", gone.get("key") or gone["id"], f"deleted{version}"))
            graph.link(f"file:{gone['id']}", f"run:{run.id}")
    _add_reuses(graph, run_ids, transforms)  # cached Runs that reused these, pointing at them
    return level_runs


def _input_links(column: str, ids: list[str]) -> list[tuple[str, str]]:
    """``(run_id, file_id)`` pairs of the run_input table whose ``column`` is one of ``ids``."""
    from lamin_flows.registry import db, instance
    from lamin_flows.registry.models import Run
    from lamin_flows.registry.sql import chunks

    link = Run.metadata.tables["run_input"]
    pairs: list[tuple[str, str]] = []
    with db.read(instance.current().engine) as conn:
        for batch in chunks(ids):
            stmt = sa.select(link.c.run_id, link.c.file_id).where(link.c[column].in_(batch))
            pairs += [(row[0], row[1]) for row in conn.execute(stmt)]
    return sorted(pairs)


def walk_upstream(
    graph: LineageGraph, frontier: list[Any], *, max_depth: int = MAX_DEPTH, run_ids: tuple[str, ...] = ()
) -> None:
    """Add to ``graph`` everything upstream of the Files in ``frontier`` (and of the Runs ``run_ids``)."""
    from lamin_flows.registry.file import File
    from lamin_flows.registry.sql import chunks

    seen_runs: set[str] = set()
    transforms: dict[str, Any] = {}
    pending = set(run_ids)
    for depth in range(max_depth + 1):
        level = sorted(({f.run_id for f in frontier if f.run_id} | pending) - seen_runs)
        pending = set()
        for f in frontier:
            if f.run_id:
                graph.link(f"run:{f.run_id}", f"file:{f.id}")
        if not level:
            break
        if depth == max_depth:
            graph.truncated = True
            for run_id in level:
                graph.add(Node(f"run:{run_id}", "run", "…", "not followed"))
            break
        seen_runs.update(level)
        _add_runs(graph, level, transforms)
        pairs = _input_links("run_id", level)
        file_ids = sorted({file_id for _, file_id in pairs})
        inputs = {f.id: f for batch in chunks(file_ids) for f in File.select(id__in=batch).order_by("key").all()}
        frontier = []
        for file_id in sorted(inputs, key=lambda i: inputs[i].key or ""):
            node = _file_node(inputs[file_id])
            if node.id not in graph.nodes:
                frontier.append(inputs[file_id])
            graph.add(node)
        for run_id, file_id in pairs:
            if file_id in inputs:
                graph.link(f"file:{file_id}", f"run:{run_id}")


def _outputs(graph: LineageGraph, run_ids: list[str]) -> list[str]:
    """Add the Files the Runs wrote (every version) with their edges; returns the ids new to the graph."""
    from lamin_flows.registry.file import File
    from lamin_flows.registry.sql import chunks

    new: list[str] = []
    for batch in chunks(run_ids):
        for f in File.select(run_id__in=list(batch)).order_by("key").all():
            node = _file_node(f)
            if node.id not in graph.nodes:
                new.append(f.id)
            graph.add(node)
            graph.link(f"run:{f.run_id}", node.id)
    return new


def walk_downstream(graph: LineageGraph, file_ids: list[str], *, max_depth: int = MAX_DEPTH) -> None:
    """Add to ``graph`` everything downstream of the Files ``file_ids``: the Runs that read them,
    the Files those wrote, and so on (at most ``max_depth`` Run levels)."""
    transforms: dict[str, Any] = {}
    seen_runs: set[str] = set()
    frontier = list(file_ids)
    for depth in range(max_depth + 1):
        pairs = _input_links("file_id", frontier)
        level = sorted({run_id for run_id, _ in pairs} - seen_runs)
        if level and depth == max_depth:
            graph.truncated = True
            break
        if level:
            seen_runs.update(level)
            _add_runs(graph, level, transforms)
        for run_id, file_id in pairs:
            graph.link(f"file:{file_id}", f"run:{run_id}")
        if not level:
            break
        frontier = _outputs(graph, level)


def lineage_of_run(run: Run, *, max_depth: int = MAX_DEPTH, downstream: bool = False) -> LineageGraph:
    """The lineage of a Run: its inputs and everything upstream of them, and the Files it wrote
    (with ``downstream=True`` also whatever read those, and further down).

    Example:
        >>> lineage_of_run(ln.Run.select().order_by("-started_at").first(), downstream=True)
    """
    graph = LineageGraph(root=f"run:{run.id}")
    walk_upstream(graph, [], max_depth=max_depth, run_ids=(run.id,))
    outputs = _outputs(graph, [run.id])
    if downstream:
        walk_downstream(graph, outputs, max_depth=max_depth)
    return graph


def lineage_of_file(file: File, *, max_depth: int = MAX_DEPTH, downstream: bool = False) -> LineageGraph:
    """:func:`lineage_of`, and with ``downstream=True`` the Runs
    that read the File, what they wrote, and so on.

    Example:
        >>> lineage_of_file(ln.File.select(key="raw/a.csv").one(), downstream=True)
    """
    graph = lineage_of(file, max_depth=max_depth)
    if downstream:
        walk_downstream(graph, [file.id], max_depth=max_depth)
    return graph


def lineage_of(file: File, *, max_depth: int = MAX_DEPTH) -> LineageGraph:
    """Walk upstream from ``file`` and return its lineage graph.

    Args:
        file: a saved File.
        max_depth: how many Run levels to follow before stopping (``graph.truncated`` says so).

    Returns:
        A :class:`LineageGraph`.

    Example:
        >>> lineage_of(ln.File.select(key="reports/nightly.parquet").one()).to_mermaid()
    """
    from lamin_flows.errors import ValidationError

    if not file.is_saved:
        raise ValidationError(f"{file!r} is not saved yet: save it first, then ask for its lineage")
    graph = LineageGraph(root=f"file:{file.id}")
    graph.add(_file_node(file))
    walk_upstream(graph, [file], max_depth=max_depth)
    return graph
