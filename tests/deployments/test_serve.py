"""`deployments/serve.py` against a real Prefect server: scheduled runs are tracked in the registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deployments._processes import DEPLOYMENTS, PrefectServer, flow_runs, read_flow_run, start, wait_for
from deployments.helpers import make_landing

DEPLOYMENT = "ingest-landing/nightly"
RUNS_TIMEOUT = 180.0  # two runs 5 s apart take ~20 s; a slow CI machine gets generous room


def _delete_deployment(url: str, name: str) -> None:
    """Remove a deployment and its scheduled runs, so later tests on the server do not see them."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    from deployments._processes import api

    with api(url), get_client(sync_client=True) as client:
        try:
            client.delete_deployment(client.read_deployment_by_name(name).id)
        except ObjectNotFound:
            pass


@pytest.mark.slow
def test_served_deployment_runs_on_its_schedule_and_is_tracked(server: PrefectServer, tmp_path: Path) -> None:
    import lamin_flows as ln

    landing = make_landing(tmp_path / "landing", n_files=12, n_folders=3)
    ln.setup.init(storage=tmp_path / "data", name="served")  # SQLite; the served runs find it by name
    serve = start(
        "serve.py",
        [
            sys.executable,
            str(DEPLOYMENTS / "serve.py"),
            "--deployment",
            "nightly",
            "--interval",
            "5",
            "--param",
            f"landing={landing}",
            "--param",
            "tag=served",
            "--instance",
            "served",
            "--limit",
            "1",  # one run at a time: the first run is the one that registers the files
        ],
        server.env(PREFECT_RUNNER_POLL_FREQUENCY="2"),
        tmp_path / "logs",
    )
    try:
        completed = wait_for(
            "two completed scheduled runs",
            lambda: (runs := flow_runs(server.url, DEPLOYMENT, ("COMPLETED",))) and len(runs) >= 2 and runs,
            RUNS_TIMEOUT,
            interval=1.0,
            watch=[serve],
        )
    finally:
        serve.stop()
        _delete_deployment(server.url, DEPLOYMENT)
    assert all(run.auto_scheduled for run in completed), "runs made by the schedule, not triggered"

    transform = ln.Transform.select(name="ingest_landing").one()  # one Transform for every run
    assert transform.type == "flow"
    runs = ln.Run.select(transform=transform).order_by("started_at").all()
    done = [run for run in runs if run.status == "completed"]
    assert len(done) >= 2, [(r.status, r.error) for r in runs]
    for run in done:
        assert run.reference_type == "prefect-flow-run"
        known = read_flow_run(server.url, run.reference)  # the Prefect API knows the id
        assert known.state.is_completed()
        assert run.params["landing"] == str(landing) and run.params["instance"] == "served"
    assert {str(r.id) for r in completed} >= {run.reference for run in done[:2]}

    first = runs[0]
    ingested = ln.File.select(key__startswith="landing/").all()
    assert len(ingested) == 12
    assert {f.run_id for f in ingested} == {first.id}, "the files belong to the run that registered them"
    tag = ln.Tag.select(name="served").one()
    assert len(ln.File.select(tags=tag).all()) == 12
    report = ln.File.select(key__startswith="reports/ingest_landing/").order_by("created_at").first()
    assert report.run_id == first.id
    assert sorted(report.load()["key"]) == sorted(f.key for f in ingested)
