"""file.view_lineage() and `lamin lineage`: the graph upstream of a File and its renderings."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from typer.testing import CliRunner

from lamin_flows.cli import app
from lamin_flows.errors import ValidationError
from lamin_flows.tracking import LineageGraph


def _pipeline(ln):  # noqa: ANN001, ANN202
    """raw/a + raw/b --ingest--> ; clean reads both -> clean/ab ; report reads clean/ab -> report."""

    @ln.tracked
    def ingest() -> None:
        ln.File(pd.DataFrame({"a": [1, 2]}), key="raw/a.parquet").save()
        ln.File(pd.DataFrame({"b": [3]}), key="raw/b.parquet").save()

    @ln.tracked
    def clean() -> None:
        a = ln.File.select(key="raw/a.parquet").one().load()
        b = ln.File.select(key="raw/b.parquet").one().load()
        ln.File(pd.concat([a, b]), key="clean/ab.parquet").save()

    @ln.tracked
    def inner_report() -> None:
        df = ln.File.select(key="clean/ab.parquet").one().load()
        ln.File(df.describe(), key="reports/summary.parquet").save()

    @ln.tracked
    def report() -> None:
        inner_report()

    ingest()
    clean()
    report()
    return ln.File.select(key="reports/summary.parquet").one()


def test_lineage_walks_runs_and_inputs_upstream(ln) -> None:
    graph = _pipeline(ln).view_lineage()
    assert isinstance(graph, LineageGraph)
    assert sorted(n.label for n in graph.files) == [
        "clean/ab.parquet",
        "raw/a.parquet",
        "raw/b.parquet",
        "reports/summary.parquet",
    ]
    assert sorted(n.label for n in graph.runs) == ["clean", "ingest", "inner_report"]
    labels = {n.id: n.label for n in graph.nodes.values()}
    edges = {(labels[e.source], labels[e.target]) for e in graph.edges}
    assert edges == {
        ("inner_report", "reports/summary.parquet"),
        ("clean/ab.parquet", "inner_report"),
        ("clean", "clean/ab.parquet"),
        ("raw/a.parquet", "clean"),
        ("raw/b.parquet", "clean"),
        ("ingest", "raw/a.parquet"),
        ("ingest", "raw/b.parquet"),
    }
    inner = next(n for n in graph.runs if n.label == "inner_report")
    assert "completed" in inner.detail and "in report" in inner.detail
    assert not graph.truncated


def test_lineage_renders_as_mermaid_tree_svg_and_html(ln_sqlite, tmp_path) -> None:
    graph = _pipeline(ln_sqlite).view_lineage()
    mermaid = graph.to_mermaid()
    assert mermaid.startswith("flowchart LR\n")
    assert mermaid.count(" --> ") == 7 and '"clean/ab.parquet' in mermaid and "class " in mermaid
    tree = str(graph)
    assert tree.splitlines()[0].startswith("reports/summary.parquet")
    assert "made by inner_report" in tree and "made by ingest" in tree and "raw/b.parquet" in tree
    assert "(see above)" in tree  # ingest made both raw files: shown once
    svg = graph.write(tmp_path / "lineage.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg") and len(root.findall(".//{http://www.w3.org/2000/svg}rect")) == 7
    html = graph.write(tmp_path / "lineage.html").read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html and "flowchart LR" in html
    assert graph.write(tmp_path / "lineage.mmd").read_text() == mermaid
    assert graph.write(tmp_path / "lineage.png").read_bytes().startswith(b"\x89PNG")  # rendered from the SVG
    with pytest.raises(ValidationError, match=r"\.svg, \.png, \.html or \.mmd"):
        graph.write(tmp_path / "lineage.pdf")
    assert not (tmp_path / "lineage.pdf").exists()
    assert "4 files, 3 runs" in repr(graph)


def test_lineage_of_a_file_without_a_run_is_the_file_alone(ln_sqlite) -> None:
    file = ln_sqlite.File(pd.DataFrame({"a": [1]}), key="manual.parquet").save()
    graph = file.view_lineage()
    assert list(graph.nodes) == [f"file:{file.id}"] and graph.edges == []
    assert "manual.parquet" in graph.to_svg()


def test_lineage_stops_at_max_depth(ln_sqlite) -> None:
    graph = _pipeline(ln_sqlite).view_lineage(max_depth=1)
    assert graph.truncated
    assert sorted(n.label for n in graph.runs) == ["inner_report", "…"]


def test_lamin_lineage_command(ln_sqlite, tmp_path) -> None:
    _pipeline(ln_sqlite)
    runner = CliRunner()
    tree = runner.invoke(app, ["lineage", "reports/summary.parquet"])
    assert tree.exit_code == 0, tree.output
    assert "reports/summary.parquet" in tree.output and "made by clean" in tree.output
    out = tmp_path / "l.html"
    mermaid = runner.invoke(app, ["lineage", "reports/summary.parquet", "--mermaid", "-o", str(out)])
    assert mermaid.exit_code == 0 and mermaid.stdout.startswith("flowchart LR") and out.exists()
    missing = runner.invoke(app, ["lineage", "no/such.csv"])
    assert missing.exit_code == 1 and "no File with key or id 'no/such.csv'" in missing.output


def test_lineage_of_a_run_and_downstream_of_a_file(ln) -> None:
    from lamin_flows.tracking.lineage_walk import lineage_of_file, lineage_of_run

    _pipeline(ln)
    clean = ln.Run.select(transform__name="clean").one()
    graph = lineage_of_run(clean)
    assert graph.root == f"run:{clean.id}"
    assert sorted(n.label for n in graph.nodes.values()) == [
        "clean",
        "clean/ab.parquet",
        "ingest",
        "raw/a.parquet",
        "raw/b.parquet",
    ]
    down = lineage_of_run(clean, downstream=True)
    assert {"inner_report", "reports/summary.parquet"} <= {n.label for n in down.nodes.values()}
    raw = ln.File.select(key="raw/a.parquet").one()
    assert [n.label for n in lineage_of_file(raw).nodes.values()] == ["raw/a.parquet", "ingest"]
    below = lineage_of_file(raw, downstream=True)
    labels = {n.id: n.label for n in below.nodes.values()}
    edges = {(labels[e.source], labels[e.target]) for e in below.edges}
    assert {
        ("raw/a.parquet", "clean"),
        ("clean", "clean/ab.parquet"),
        ("clean/ab.parquet", "inner_report"),
        ("inner_report", "reports/summary.parquet"),
    } <= edges
    assert "raw/b.parquet" not in labels.values()  # downstream only: clean's other input is not walked


def test_a_deleted_input_stays_in_lineage_marked_deleted(ln, tmp_path, capsys):  # noqa: ANN001
    """Deleting a File that a Run read: a warning says so, and the Run's lineage keeps it, marked deleted."""
    src = tmp_path / "in.csv"
    src.write_text("x\n1\n")
    data = ln.File(src, key="raw/in.csv").save()
    src.write_text("x\n2\n")
    newer = ln.File(src, key="raw/in.csv").save()  # version 2; the run reads version 1

    @ln.tracked
    def summarize() -> None:
        ln.File.select(id=data.id).one().load()
        ln.File(pd.DataFrame({"n": [1]}), key="out/summary.parquet").save()

    summarize()
    capsys.readouterr()
    ln.File.select(id=data.id).one().delete(storage=True)
    assert "their lineage will show it as a deleted input" in capsys.readouterr().err
    newer.delete(storage=True)  # never read: nothing to remember
    run = ln.Run.select(transform__name="summarize").one()
    assert [g["id"] for g in run.meta["deleted_inputs"]] == [data.id]
    graph = ln.File.select(key="out/summary.parquet").one().view_lineage()
    node = graph.nodes[f"file:{data.id}"]
    assert (node.label, node.detail) == ("raw/in.csv", "deleted, version 1")
    assert (f"file:{data.id}", f"run:{run.id}") in {(e.source, e.target) for e in graph.edges}
    assert "deleted, version 1" in graph.to_mermaid()
