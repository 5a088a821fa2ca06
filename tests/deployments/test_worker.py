"""A process work pool: `prefect deploy` from deployments/prefect.yaml, a worker, a triggered run.

The worker shares a PostgreSQL registry with the test and learns about it only from the
`LaminInstance` block the deployment names: its own LAMIN_HOME stays empty.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from deployments._processes import DEPLOYMENTS, PREFECT, PrefectServer, read_flow_run, run, start, wait_for
from deployments.helpers import make_landing

POOL = "lamin-process"  # the pool prefect.yaml names
DEPLOYMENT = "ingest-landing/nightly"
RUN_TIMEOUT = 240.0  # worker start, polling, a flow run subprocess: ~20 s here, far more on a busy CI machine


def _run_deployment(server: PrefectServer, env: dict[str, str], name: str, worker: Any) -> Any:
    """Start a run of deployment ``name`` and wait until the worker finished it; the final flow run."""
    out = run([PREFECT, "deployment", "run", name], env)
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
    assert match, out
    flow_run_id = match.group(1)
    final = wait_for(
        f"flow run {flow_run_id} to finish",
        lambda: (fr := read_flow_run(server.url, flow_run_id)).state.is_final() and fr,
        RUN_TIMEOUT,
        watch=[worker],
    )
    assert final.state.is_completed(), f"{final.state}\n{worker.tail(120)}"
    return final


@pytest.mark.slow
@pytest.mark.postgres
def test_worker_runs_a_deployment_from_prefect_yaml(
    server: PrefectServer, prefect_api: str, pg_db: str, tmp_path: Path
) -> None:
    import lamin_flows as ln
    from lamin_flows.tasks.blocks import LaminInstance, block_reference

    landing = make_landing(tmp_path / "landing", n_files=25, n_folders=5)
    ln.setup.init(storage=tmp_path / "data", db=pg_db, name="pooled")
    LaminInstance.from_instance("pooled").save("pooled-test", overwrite=True)

    env = server.env()
    run([PREFECT, "work-pool", "create", POOL, "--type", "process", "--overwrite"], env)
    run(
        [
            PREFECT,
            "deploy",
            "--prefect-file",
            str(DEPLOYMENTS / "prefect.yaml"),
            "--name",
            "nightly",
            "--param",
            f"landing={landing}",
            "--param",
            f"instance={block_reference('pooled-test')}",
            "--param",
            "tag=pooled",
        ],
        env,
        cwd=DEPLOYMENTS,
    )
    worker_home = tmp_path / "worker-lamin-home"  # nothing in it: the block carries the instance
    worker = start(
        "worker",
        [PREFECT, "worker", "start", "--pool", POOL, "--type", "process"],
        server.env(LAMIN_HOME=str(worker_home), LAMIN_INSTANCE=None, PREFECT_WORKER_QUERY_SECONDS="2"),
        tmp_path / "logs",
    )
    try:
        final = _run_deployment(server, env, DEPLOYMENT, worker)
        flow_run_id = str(final.id)
    finally:
        worker.stop()

    registry_run = ln.Run.select(reference=flow_run_id).one()
    assert registry_run.status == "completed"
    assert registry_run.transform.name == "ingest_landing"
    assert registry_run.params["instance"] == "lamin-instance/pooled-test"
    assert registry_run.meta["prefect"]["deployment_id"] == str(final.deployment_id)
    ingested = ln.File.select(key__startswith="landing/").all()
    assert len(ingested) == 25 and {f.run_id for f in ingested} == {registry_run.id}
    assert len(ln.File.select(tags=ln.Tag.select(name="pooled").one()).all()) == 25
    report = ln.File.select(run=registry_run, key__startswith="reports/").one()
    assert len(report.load()) == 25
    assert not list(worker_home.rglob("*.json")), "the worker wrote no instance settings (no secrets on disk)"


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_flow_run_reuses_the_run_an_earlier_one_completed(
    server: PrefectServer, prefect_api: str, pg_db: str, tmp_path: Path
) -> None:
    """cache=True across processes through a shared PostgreSQL registry: each flow run is its own process."""
    import yaml

    import lamin_flows as ln
    from lamin_flows.tasks.blocks import LaminInstance, block_reference

    ln.setup.init(storage=tmp_path / "data", db=pg_db, name="cached-pool")
    notes = tmp_path / "notes.txt"
    notes.write_text("one two three")
    ln.File(notes, key="raw/notes.txt").save()
    LaminInstance.from_instance("cached-pool").save("cached-pool-test", overwrite=True)
    here = Path(__file__).resolve().parent
    spec = {
        "name": "cached-words",
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": str(here)}}],
        "deployments": [
            {
                "name": "words",
                "entrypoint": "_cached_flow.py:count_words",
                "work_pool": {"name": POOL},
                "parameters": {"key": "raw/notes.txt", "instance": block_reference("cached-pool-test")},
            }
        ],
    }
    prefect_file = tmp_path / "prefect.yaml"
    prefect_file.write_text(yaml.safe_dump(spec))
    env = server.env()
    run([PREFECT, "work-pool", "create", POOL, "--type", "process", "--overwrite"], env)
    run([PREFECT, "deploy", "--prefect-file", str(prefect_file), "--name", "words"], env, cwd=here)
    worker = start(
        "worker",
        [PREFECT, "worker", "start", "--pool", POOL, "--type", "process"],
        server.env(LAMIN_HOME=str(tmp_path / "worker-home"), LAMIN_INSTANCE=None, PREFECT_WORKER_QUERY_SECONDS="2"),
        tmp_path / "logs",
    )
    try:
        first = str(_run_deployment(server, env, "count-words/words", worker).id)
        second = str(_run_deployment(server, env, "count-words/words", worker).id)  # nothing changed: reused
        notes.write_text("one two three four")
        ln.File(notes, key="raw/notes.txt").save()  # a new version of the input
        third = str(_run_deployment(server, env, "count-words/words", worker).id)
    finally:
        worker.stop()

    runs = {r.reference: r for r in ln.Run.select(transform__name="count_words").all()}
    assert [runs[i].status for i in (first, second, third)] == ["completed", "cached", "completed"]
    assert runs[second].reused_id == runs[first].id
    assert runs[third].reused_id is None and runs[third].cache["value"] != runs[first].cache["value"]
