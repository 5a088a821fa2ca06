"""OpenLineage: tracked Runs as standard events, through the client's file and HTTP transports.

Every event is parsed and validated against the spec's own JSON schemas (tests/data/openlineage-spec).
"""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import pandas as pd
import pytest
from _cli import run_cli
from _openlineage import Receiver, by_run, read_file_events, validate

from lamin_flows.config import reset_settings


@pytest.fixture
def events_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """OpenLineage configured its standard way: a file transport, one JSON event per line."""
    path = tmp_path / "openlineage.jsonl"
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(path))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    return path


def _pipeline(ln):  # noqa: ANN001, ANN202
    @ln.tracked
    def make_table() -> None:
        ln.File(pd.DataFrame({"sample": ["a", "b"], "count": [1, 2]}), key="tables/counts.parquet").save()

    @ln.tracked
    def summarize() -> None:
        df = ln.File.select(key="tables/counts.parquet").one().load()
        ln.File(df.describe(), key="tables/summary.parquet").save()

    return make_table, summarize


def test_a_tracked_function_emits_start_then_complete_with_its_files(ln_sqlite, events_file: Path) -> None:
    ln = ln_sqlite
    make_table, summarize = _pipeline(ln)
    make_table()
    summarize()
    runs = by_run(read_file_events(events_file))
    assert len(runs) == 2
    made = ln.File.select(key="tables/counts.parquet").one()
    storage_uri = Path(ln.settings.storage).as_uri()
    (make_start, make_end), (sum_start, sum_end) = sorted(runs.values(), key=lambda g: g[0]["eventTime"])
    assert make_end["eventType"] == sum_end["eventType"] == "COMPLETE"
    assert make_start["job"] == make_end["job"]
    assert make_end["job"]["namespace"] == "test"  # the instance name
    assert make_end["job"]["name"].endswith(":make_table") or make_end["job"]["name"].endswith(".make_table")
    assert [(d["namespace"], d["name"]) for d in make_end["outputs"]] == [(storage_uri, "tables/counts.parquet")]
    assert make_end["inputs"] == []
    output = make_end["outputs"][0]
    version = getattr(made, "version", None)
    assert output["facets"]["version"]["datasetVersion"] == str(version if version is not None else made.hash)
    assert output["facets"]["lamin_file"]["hash"] == made.hash
    assert output["facets"]["lamin_file"]["hashType"] == made.hash_type
    assert output["outputFacets"]["outputStatistics"]["size"] == made.size
    assert [(f["name"], f["type"]) for f in output["facets"]["schema"]["fields"]] == [
        ("sample", "string"),
        ("count", "int64"),
    ]
    assert [d["name"] for d in sum_end["inputs"]] == ["tables/counts.parquet"]
    assert sum_end["inputs"][0]["facets"]["lamin_file"]["fileId"] == made.id
    assert [d["name"] for d in sum_end["outputs"]] == ["tables/summary.parquet"]
    run = ln.Run.select(transform__name="make_table").one()
    assert make_end["run"]["runId"] == str(uuid.uuid5(uuid.UUID("6b1d3c2e-8f4a-5c7e-9d10-2a3b4c5d6e7f"), run.id))
    assert make_end["run"]["facets"]["lamin_run"]["runId"] == run.id
    engine = make_end["run"]["facets"]["processing_engine"]
    assert engine["name"] == "lamin_flows" and engine["openlineageAdapterVersion"] == ln.__version__


def test_a_failing_run_fails_and_a_child_run_names_its_parent(ln_sqlite, events_file: Path) -> None:
    ln = ln_sqlite

    @ln.tracked
    def child(x: int) -> int:
        return x + 1

    @ln.tracked
    def parent() -> None:
        child(1)
        raise ValueError("the input is empty")

    with pytest.raises(ValueError):
        parent()
    runs = by_run(read_file_events(events_file))
    ends = {group[1]["job"]["name"].rsplit(".", 1)[-1]: group[1] for group in runs.values()}
    assert set(ends) == {"child", "parent"}
    failed, done = ends["parent"], ends["child"]
    assert failed["eventType"] == "FAIL"
    assert failed["run"]["facets"]["errorMessage"]["message"] == "ValueError: the input is empty"
    assert failed["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"
    assert done["eventType"] == "COMPLETE"
    parent_facet = done["run"]["facets"]["parent"]
    assert parent_facet["run"]["runId"] == failed["run"]["runId"]
    assert (parent_facet["job"]["namespace"], parent_facet["job"]["name"]) == (
        failed["job"]["namespace"],
        failed["job"]["name"],
    )
    assert "parent" not in failed["run"]["facets"]


def test_an_http_transport_posts_each_event_to_the_receiver(ln_sqlite, monkeypatch: pytest.MonkeyPatch) -> None:
    ln = ln_sqlite
    make_table, summarize = _pipeline(ln)
    with Receiver() as receiver:
        monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
        make_table()
        summarize()
    assert receiver.paths == ["/api/v1/lineage"] * 4
    for event in receiver.events:
        validate(event)
    runs = by_run(receiver.events)
    outputs = sorted(d["name"] for group in runs.values() for d in group[1]["outputs"])
    assert outputs == ["tables/counts.parquet", "tables/summary.parquet"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_endpoint_warns_once_and_the_run_completes(
    ln_sqlite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ln = ln_sqlite
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY", json.dumps({"total": 0}))
    make_table, _ = _pipeline(ln)
    make_table()
    assert ln.Run.select(transform__name="make_table").one().status == "completed"
    assert ln.File.select(key="tables/counts.parquet").one_or_none() is not None
    warnings = [line for line in capsys.readouterr().err.splitlines() if "OpenLineage" in line]
    assert len(warnings) == 1, warnings
    assert "could not emit the OpenLineage events of run" in warnings[0]


def test_false_turns_it_off_and_unconfigured_stays_off(ln_sqlite, events_file: Path, monkeypatch) -> None:
    ln = ln_sqlite
    monkeypatch.setenv("LAMIN_OPENLINEAGE", "false")
    reset_settings()
    make_table, _ = _pipeline(ln)
    make_table()
    assert not events_file.exists()
    assert ln.Run.select(transform__name="make_table").one().status == "completed"


def test_lineage_export_backfills_runs_recorded_before(ln_sqlite, tmp_path: Path, lamin_home: Path) -> None:
    ln = ln_sqlite
    make_table, summarize = _pipeline(ln)
    make_table()  # nothing configured: nothing emitted
    summarize()
    path = tmp_path / "backfill.jsonl"
    env_file = tmp_path / "openlineage.yml"
    env_file.write_text(f"transport:\n  type: file\n  log_file_path: {path}\n  append: true\n")
    import os

    os.environ["OPENLINEAGE_CONFIG"] = str(env_file)
    try:
        proc = run_cli("lineage", "export", "--openlineage", home=lamin_home)
        assert proc.returncode == 0, proc.stderr
        assert "emitted 4 OpenLineage events" in proc.stdout
        runs = by_run(read_file_events(path))
        assert len(runs) == 2
        ids = {ln.Run.select(transform__name=n).one().id for n in ("make_table", "summarize")}
        assert {g[1]["run"]["facets"]["lamin_run"]["runId"] for g in runs.values()} == ids
        later = run_cli("lineage", "export", "--openlineage", "--since", "2999-01-01", home=lamin_home)
        assert later.returncode == 0 and "emitted 0 OpenLineage events" in later.stdout
        missing = run_cli("lineage", "export", home=lamin_home)
        assert missing.returncode != 0 and "--openlineage" in missing.stderr
        bad = run_cli("lineage", "export", "--openlineage", "--since", "yesterday", home=lamin_home)
        assert bad.returncode != 0 and "yesterday" in bad.stderr
        shown = run_cli("lineage", "tables/summary.parquet", home=lamin_home)  # the old command still works
        assert shown.returncode == 0 and "summarize" in shown.stdout
    finally:
        del os.environ["OPENLINEAGE_CONFIG"]


def test_export_says_how_to_configure_when_nothing_is(ln_sqlite, lamin_home: Path) -> None:
    proc = run_cli("lineage", "export", "--openlineage", home=lamin_home)
    assert proc.returncode == 1
    assert "OpenLineage is not configured" in proc.stderr and "OPENLINEAGE_URL" in proc.stderr
