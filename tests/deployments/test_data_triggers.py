"""Data-aware Prefect on a real server: lamin.file.saved events start a deployment once per ingest.

`deployments/serve.py` serves the `qc-new-raw-files` deployment of prefect.yaml (its event
trigger included); this process runs `ingest_landing` flows against the same server. Events are
read back through the server's `/events/filter`, runs through its flow-run API.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments._processes import DEPLOYMENTS, PrefectServer, api, flow_runs, start, wait_for
from deployments.helpers import make_landing

pytestmark = pytest.mark.slow
DEPLOYMENT = "process-new-files/qc-new-raw-files"
AUTOMATION = "qc-new-raw-files__automation_1"
INSTANCE = "triggered"


def read_events(url: str, name: str, instance: str) -> list[dict[str, Any]]:
    """The events called ``name`` of one lamin instance, as the server's /events/filter returns them."""
    body = {
        "filter": {"event": {"name": [name]}, "resource": {"labels": {"lamin.instance": [instance]}}},
        "limit": 50,  # the most one page of /events/filter holds; this test makes fewer
    }
    response = httpx.post(f"{url}/events/filter", json=body, timeout=10)
    response.raise_for_status()
    return response.json()["events"]


def _automation_exists(url: str) -> bool:
    from prefect import get_client

    with api(url), get_client(sync_client=True) as client:
        return bool(client.read_automations_by_name(AUTOMATION))


def _cleanup(url: str) -> None:
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    with api(url), get_client(sync_client=True) as client:
        for automation in client.read_automations_by_name(AUTOMATION):
            client.delete_automation(automation.id)
        try:
            client.delete_deployment(client.read_deployment_by_name(DEPLOYMENT).id)
        except ObjectNotFound:
            pass


def _ingest(landing: Path) -> Any:
    import lamin_flows as ln
    from lamin_flows.tasks.flows import ingest_landing
    from lamin_flows.tracking import events

    ingest_landing(str(landing), key_prefix="raw/", tag=None)
    assert events.flush(60), "the events of the ingest were not sent within 60 s"
    return ln.Run.select(transform__name="ingest_landing").order_by("-started_at").first()


def test_an_event_trigger_runs_the_qc_flow_once_per_ingest_of_new_raw_files(
    server: PrefectServer, prefect_api: str, tmp_path: Path
) -> None:
    import lamin_flows as ln
    from lamin_flows.tasks import events as sender

    sender.reset_failures()
    ln.setup.init(storage=tmp_path / "data", name=INSTANCE)  # the served runs find it by name
    serve = start(
        "serve.py",
        [
            sys.executable,
            str(DEPLOYMENTS / "serve.py"),
            "--deployment",
            "qc-new-raw-files",
            "--no-schedule",
            "--instance",
            INSTANCE,
        ],
        server.env(PREFECT_RUNNER_POLL_FREQUENCY="2"),
        tmp_path / "logs",
    )
    try:
        wait_for("the deployment's automation", lambda: _automation_exists(server.url), 120, watch=[serve])
        first = make_landing(tmp_path / "landing", n_files=5, n_folders=2)
        run_a = _ingest(first)
        for i in range(3):  # the second ingest finds 3 new files next to the 5 known ones
            (first / f"late_{i}.csv").write_text(f"sensor,value\nC,{i + 100}\n")
        run_b = _ingest(first)
        run_c = _ingest(first)  # nothing new: no lamin.file.saved for raw/, so no QC run
        completed = wait_for(
            "two completed QC runs",
            lambda: (runs := flow_runs(server.url, DEPLOYMENT, ("COMPLETED",))) and len(runs) >= 2 and runs,
            180,
            watch=[serve],
        )
        time.sleep(8)  # a negative check: give a wrong third run (from the unchanged ingest) time to appear
        every = flow_runs(server.url, DEPLOYMENT)
    finally:
        serve.stop()
        _cleanup(server.url)

    assert len(every) == 2, [(r.name, r.state_type, r.parameters) for r in every]
    new_a = {f.id: f for f in ln.File.select(run=run_a, key__startswith="raw/").all()}
    new_b = {f.id: f for f in ln.File.select(run=run_b, key__startswith="raw/").all()}
    assert len(new_a) == 5 and len(new_b) == 3
    assert ln.File.select(run=run_c, key__startswith="raw/").all() == []

    # the parameter is the id of a File of the ingest that fired the trigger, one run per ingest
    triggering = {r.parameters["file_id"] for r in completed}
    assert len(triggering & set(new_a)) == 1 and len(triggering & set(new_b)) == 1, triggering
    assert all(r.parameters["key_prefix"] == "raw/" and r.parameters["instance"] == INSTANCE for r in completed)

    # each QC Run has the new Files of its ingest as inputs, and wrote a report
    qc_runs = ln.Run.select(transform__name="process_new_files", status="completed").all()
    assert {r.reference for r in qc_runs} == {str(r.id) for r in completed}
    inputs = sorted(sorted(f.id for f in r.inputs.all()) for r in qc_runs)
    assert inputs == sorted([sorted(new_a), sorted(new_b)])
    for qc in qc_runs:
        report = ln.File.select(run=qc, key__startswith="reports/qc/").one().load()
        assert len(report) in (5, 3) and report["ok"].all(), report

    # the events, as the Prefect API has them: one per new File, with labels and related resources
    saved = wait_for(
        "the lamin.file.saved events of the raw files",
        lambda: (
            (
                found := [
                    e
                    for e in read_events(server.url, "lamin.file.saved", INSTANCE)
                    if e["resource"].get("lamin.file.key", "").startswith("raw/")
                ]
            )
            and len(found) >= 8
            and found
        ),
        60,
    )
    assert sorted(e["resource"]["prefect.resource.id"] for e in saved) == sorted(
        f"lamin.file.{i}" for i in [*new_a, *new_b]
    )
    event = next(e for e in saved if e["resource"]["prefect.resource.id"] == f"lamin.file.{next(iter(new_a))}")
    file = new_a[next(iter(new_a))]
    resource = event["resource"]
    assert resource["lamin.file.key"] == file.key and resource["lamin.file.size"] == str(file.size)
    assert resource["lamin.file.hash"] == file.hash and resource["lamin.file.suffix"] == ".csv"
    assert resource["lamin.storage.root"] == ln.Storage.select(id=file.storage_id).one().root
    assert (
        resource["lamin.run.id"] == run_a.id and "lamin.file.version" not in resource or resource["lamin.file.version"]
    )
    roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in event["related"]}
    assert roles == {
        "run": f"lamin.run.{run_a.id}",
        "transform": f"lamin.transform.{run_a.transform_id}",
        "flow-run": f"prefect.flow-run.{run_a.reference}",
    }
    assert event["payload"]["file_id"] == file.id

    # the ingest's artifacts, through /artifacts/filter: markdown and a sortable table of its Files
    response = httpx.post(
        f"{server.url}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [run_b.reference]}}, "limit": 10},
        timeout=10,
    )
    response.raise_for_status()
    artifacts = {a["type"]: a for a in response.json()}
    assert set(artifacts) == {"markdown", "table"}, artifacts
    assert artifacts["table"]["key"] == "lamin-ingest-landing-files"
    rows = json.loads(artifacts["table"]["data"])
    outputs = {r["key"]: r for r in rows if r["role"] == "output"}
    assert {f.key for f in new_b.values()} <= set(outputs)
    assert all(
        isinstance(outputs[f.key]["size"], int) and outputs[f.key]["size_human"].endswith(" B") for f in new_b.values()
    )
    assert (
        "## Outputs" in artifacts["markdown"]["data"] and "not Files until registered" in artifacts["markdown"]["data"]
    )

    ended = wait_for(
        "lamin.run.completed of the three ingests",
        lambda: (found := read_events(server.url, "lamin.run.completed", INSTANCE)) and len(found) >= 3 and found,
        60,
    )
    assert {f"lamin.run.{r.id}" for r in (run_a, run_b, run_c)} <= {e["resource"]["prefect.resource.id"] for e in ended}


def test_files_saved_outside_a_flow_and_a_failed_run_are_events(prefect_api: str, tmp_path: Path) -> None:
    import lamin_flows as ln
    from lamin_flows.tasks import events as sender
    from lamin_flows.tracking import events

    sender.reset_failures()
    ln.setup.init(storage=tmp_path / "data", name="outside")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")

    @ln.tracked
    def broken() -> None:
        ln.File(tmp_path / "a.txt", key="raw/a.txt").save()
        raise ValueError("boom")

    with pytest.raises(ValueError):
        broken()
    plain = ln.File(tmp_path / "b.txt", key="raw/b.txt").save()  # no Run, no flow
    assert events.flush(60)
    run = ln.Run.select(transform__name="broken").one()
    failed = wait_for(
        "lamin.run.failed", lambda: read_events(prefect_api, "lamin.run.failed", "outside"), 60, interval=0.5
    )
    assert [e["resource"]["prefect.resource.id"] for e in failed] == [f"lamin.run.{run.id}"]
    assert "boom" in failed[0]["payload"]["error"] and failed[0]["resource"]["lamin.run.status"] == "failed"
    saved = wait_for(
        "two lamin.file.saved",
        lambda: (found := read_events(prefect_api, "lamin.file.saved", "outside")) and len(found) == 2 and found,
        60,
        interval=0.5,
    )
    by_key = {e["resource"]["lamin.file.key"]: e for e in saved}
    assert by_key["raw/b.txt"]["resource"]["prefect.resource.id"] == f"lamin.file.{plain.id}"
    assert by_key["raw/b.txt"]["related"] == []  # saved outside any Run or flow run
    assert {r["prefect.resource.role"] for r in by_key["raw/a.txt"]["related"]} == {"run", "transform"}
