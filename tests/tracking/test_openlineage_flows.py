"""OpenLineage from a tracked Prefect flow built of lamin_flows' ready-made tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from _openlineage import by_run, read_file_events
from prefect import flow

import lamin_flows as ln_module
from lamin_flows.tasks import ingest_directory, tag_files

pytestmark = pytest.mark.usefixtures("prefect_server")


@flow
@ln_module.tracked
def ingest_landing(landing: str) -> list[str]:
    files = ingest_directory(landing, key_prefix="raw/")
    tag_files(files, "nightly")
    return [f.key for f in files]


def test_a_tracked_flow_is_one_openlineage_run_with_the_flow_run_id(
    ln_sqlite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ln = ln_sqlite
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in ("a.csv", "b.csv"):
        (landing / name).write_text(f"x\n{name}\n")
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(path))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    assert sorted(ingest_landing(str(landing))) == ["raw/a.csv", "raw/b.csv"]
    run = ln.Run.select(transform__name="ingest_landing").one()
    runs = by_run(read_file_events(path))
    start, end = runs[run.reference]  # the OpenLineage run id is the Prefect flow run id
    assert end["eventType"] == "COMPLETE"
    assert sorted(d["name"] for d in end["outputs"]) == ["raw/a.csv", "raw/b.csv"]
    for dataset in end["outputs"]:
        file = ln.File.select(key=dataset["name"]).one()
        version = getattr(file, "version", None)
        assert dataset["facets"]["version"]["datasetVersion"] == str(version if version is not None else file.hash)
        assert dataset["facets"]["storage"]["fileFormat"] == "csv"
    engine = end["run"]["facets"]["processing_engine"]
    assert engine["name"] == "prefect" and engine["openlineageAdapterVersion"] == ln.__version__
    assert end["job"]["facets"]["jobType"]["integration"] == "PREFECT"
    assert end["job"]["facets"]["jobType"]["jobType"] == "FLOW"
    assert end["run"]["facets"]["lamin_run"]["prefectFlowRunId"] == run.reference


def test_a_flow_run_prefect_marks_crashed_ends_with_abort(ln_sqlite, tmp_path: Path) -> None:
    """A termination signal: Prefect's on_crashed hook ends the Run, and OpenLineage gets ABORT."""
    import os
    import subprocess
    import sys
    import textwrap

    from prefect.settings import PREFECT_API_URL

    ln = ln_sqlite
    path = tmp_path / "events.jsonl"
    code = textwrap.dedent(
        """
        import signal
        from prefect import flow
        from prefect.exceptions import TerminationSignal
        import lamin_flows as ln

        @ln.tracked
        @flow
        def terminated():
            raise TerminationSignal(signal.SIGTERM)

        terminated()
        """
    )
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),  # the session's test server
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(path),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
    }
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=180)
    assert proc.returncode != 0
    run = ln.Run.select(transform__name="terminated").one()
    assert run.status == "crashed", proc.stderr.decode()[-2000:]
    events = by_run(read_file_events(path))[run.reference]  # each event validated against the spec
    assert [e["eventType"] for e in events] == ["START", "ABORT"]
    assert "TerminationSignal" in events[1]["run"]["facets"]["errorMessage"]["message"]
