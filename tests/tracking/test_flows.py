"""@ln.tracked on Prefect flows: both decorator orders, serving, nesting, failures, hooks, artifacts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap

import _prefect
import pandas as pd
import pytest
from prefect import Flow, flow, tags, task
from prefect.cache_policies import NONE
from prefect.runtime import flow_run
from prefect.states import Cancelled

import lamin_flows as ln_module
from lamin_flows.registry.listing import human_size
from lamin_flows.tracking import prefect_runs

pytestmark = pytest.mark.usefixtures("prefect_server")


@flow
@ln_module.tracked()
def flow_outside(landing: str, tag: str = "nightly") -> str:
    ln_module.File(pd.DataFrame({"a": [1]}), key="outside/a.parquet").save()
    return str(flow_run.id)


@ln_module.tracked
@flow(name="custom-flow-name", retries=0)
def tracked_outside(landing: str, tag: str = "nightly") -> str:
    ln_module.File(pd.DataFrame({"a": [2]}), key="inside/a.parquet").save()
    return str(flow_run.id)


@pytest.mark.parametrize("order", ["flow above tracked", "tracked above flow"])
def test_a_flow_run_is_a_run_referencing_the_flow_run(ln, order: str) -> None:
    fn, name, key = (
        (flow_outside, "flow_outside", "outside/a.parquet")
        if order == "flow above tracked"
        else (tracked_outside, "tracked_outside", "inside/a.parquet")
    )
    assert isinstance(fn, Flow)
    with tags("team-a"):
        flow_run_id = fn("/data/landing")
    transform = ln.Transform.select(name=name).one()
    assert transform.type == "flow"
    assert transform.reference.endswith(f":{name}")
    run = ln.Run.select(transform=transform).one()
    assert run.status == "completed"
    assert run.params == {"landing": "/data/landing", "tag": "nightly"}
    assert run.reference == flow_run_id and run.reference_type == "prefect-flow-run"
    prefect = run.meta["prefect"]
    assert prefect["flow_run_id"] == flow_run_id and prefect["tags"] == ["team-a"]
    assert prefect["flow_run_name"] == _prefect.flow_run(flow_run_id).name
    assert prefect["flow_name"] == fn.name and prefect["deployment_id"] is None
    assert ln.File.select(key=key).one().run_id == run.id


def test_a_tracked_flow_keeps_its_prefect_settings_and_stays_deployable(ln_sqlite) -> None:
    ln = ln_sqlite
    assert tracked_outside.name == "custom-flow-name"
    assert tracked_outside.fn.__name__ == "tracked_outside"
    assert prefect_runs.on_crashed in tracked_outside.on_crashed_hooks
    assert prefect_runs.on_cancellation in tracked_outside.on_cancellation_hooks
    deployment = tracked_outside.to_deployment(name="nightly", parameters={"landing": "/data"}, interval=3600)
    assert deployment.flow_name == "custom-flow-name"
    assert deployment.entrypoint.endswith("test_flows.py:tracked_outside")
    assert callable(tracked_outside.serve) and callable(tracked_outside.deploy)
    renamed = tracked_outside.with_options(name="renamed")
    assert isinstance(renamed, Flow) and prefect_runs.on_crashed in renamed.on_crashed_hooks
    renamed("/x")
    assert ln.Run.select(transform__name="tracked_outside").one().meta["prefect"]["flow_name"] == "renamed"
    flow_outside.with_options(name="renamed-too")("/y")  # the inner order: with_options keeps the wrapper
    assert ln.Run.select(transform__name="flow_outside").one().status == "completed"


def test_nested_tracked_calls_and_subflows(ln_sqlite) -> None:
    ln = ln_sqlite

    @ln.tracked
    def step(n: int) -> None:
        ln.File(pd.DataFrame({"n": range(n)}), key=f"step/{n}.parquet").save()

    @flow
    @ln.tracked
    def subflow() -> str:
        step(1)
        return str(flow_run.id)

    @ln.tracked
    @flow
    def parent() -> tuple[str, str]:
        step(2)
        return str(flow_run.id), subflow()

    parent_id, sub_id = parent()
    parent_run = ln.Run.select(transform__name="parent").one()
    sub_run = ln.Run.select(transform__name="subflow").one()
    steps = {r.params["n"]: r for r in ln.Run.select(transform__name="step").all()}
    assert parent_run.reference == parent_id and sub_run.reference == sub_id
    assert sub_run.parent_id == parent_run.id
    assert steps[2].parent_id == parent_run.id and steps[1].parent_id == sub_run.id
    assert steps[2].reference is None and steps[2].meta["prefect"]["flow_run_id"] == parent_id
    assert [r.id for r in ln.Run.select(reference=parent_id).all()] == [parent_run.id]  # the id finds one Run
    assert ln.File.select(key="step/2.parquet").one().run_id == steps[2].id


def test_a_tracked_function_in_an_untracked_flow_does_not_claim_the_flow_run(ln_sqlite) -> None:
    ln = ln_sqlite

    @ln.tracked
    def helper() -> None:
        pass

    @flow
    def untracked() -> str:
        helper()
        helper()
        return str(flow_run.id)

    flow_run_id = untracked()
    runs = ln.Run.select(transform__name="helper").all()
    assert len(runs) == 2 and all(r.reference is None for r in runs)
    assert all(r.meta["prefect"]["flow_run_id"] == flow_run_id for r in runs)
    assert ln.Transform.select(name="helper").one().type == "function"


def test_a_failing_flow_keeps_its_error_and_partial_outputs(ln) -> None:
    error = RuntimeError("upstream API returned 503")

    @flow
    @ln.tracked()
    def broken() -> None:
        ln.File(pd.DataFrame({"x": [1]}), key="partial/x.parquet").save()
        raise error

    with pytest.raises(RuntimeError) as caught:
        broken()
    assert caught.value is error
    run = ln.Run.select(transform__name="broken").one()
    assert run.status == "failed" and run.error == "RuntimeError: upstream API returned 503"
    assert ln.File.select(key="partial/x.parquet").one().run_id == run.id
    assert prefect_runs.on_failure in broken.on_failure_hooks  # attached at the first call (inner order)


def test_retries_make_one_run_per_attempt(ln_sqlite) -> None:
    ln = ln_sqlite
    attempts = []

    @flow(retries=1, retry_delay_seconds=0)
    @ln.tracked
    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("first attempt fails")

    flaky()
    first, second = ln.Run.select(transform__name="flaky").order_by("started_at").all()
    assert (first.status, second.status) == ("failed", "completed")
    assert first.reference == second.reference and second.meta["prefect"]["attempt"] == 2
    assert second.parent_id is None


def test_a_flow_returning_a_cancelled_state_ends_its_run_cancelled(ln_sqlite) -> None:
    ln = ln_sqlite

    @ln.tracked
    @flow
    def stops() -> object:
        return Cancelled(message="nothing to do today")

    state = stops(return_state=True)
    assert state.is_cancelled()
    run = ln.Run.select(transform__name="stops").one()
    assert (run.status, run.error) == ("cancelled", "nothing to do today")


def test_state_hooks_end_runs_prefect_crashed_or_cancelled(ln_sqlite) -> None:
    ln = ln_sqlite
    transform = ln.Transform(name="killed", version="1", type="flow", reference="m:killed").save()
    root = ln.Run(transform_id=transform.id, reference="fr-1", reference_type="prefect-flow-run").save()
    child = ln.Run(transform_id=transform.id, parent_id=root.id).save()
    done = ln.Run(transform_id=transform.id, status="completed", parent_id=root.id).save()
    assert prefect_runs.end_flow_run("fr-1", "crashed", "Flow run infrastructure exited with non-zero status") == 2
    statuses = {r.id: (r.status, r.error) for r in ln.Run.select().all()}
    assert statuses[root.id] == ("crashed", "Flow run infrastructure exited with non-zero status")
    assert statuses[child.id][0] == "crashed" and statuses[done.id] == ("completed", None)
    assert prefect_runs.end_flow_run("fr-1", "cancelled", None) == 1  # the runner's later verdict wins
    assert ln.Run.select(id=root.id).one().status == "cancelled"


def test_a_process_that_crashes_or_dies_leaves_its_run(ln_sqlite) -> None:
    """Prefect crashes on a termination signal (hooks mark it); SIGKILL leaves a visible "started" Run."""
    from prefect.settings import PREFECT_API_URL

    ln = ln_sqlite
    code = textwrap.dedent(
        """
        import os, signal, sys
        from prefect import flow
        import lamin_flows as ln

        @ln.tracked
        @flow
        def doomed(how: str):
            if how == "term":
                from prefect.exceptions import TerminationSignal
                raise TerminationSignal(signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGKILL)

        doomed(sys.argv[1])
        """
    )
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}  # the session's test server
    procs = {
        how: subprocess.Popen([sys.executable, "-c", code, how], env=env, stderr=subprocess.PIPE)
        for how in ("term", "kill")
    }
    codes = {how: p.wait(timeout=120) for how, p in procs.items()}
    for p in procs.values():
        p.stderr.close()  # type: ignore[union-attr]
    assert codes["kill"] == -signal.SIGKILL and codes["term"] != 0
    runs = {r.params["how"]: r for r in ln.Run.select(transform__name="doomed").all()}
    assert runs["term"].status == "crashed" and "TerminationSignal" in runs["term"].error
    assert runs["kill"].status == "started" and runs["kill"].finished_at is None


@pytest.mark.parametrize("order", ["flow above tracked", "tracked above flow"])
def test_async_flows(ln_sqlite, order: str) -> None:
    ln = ln_sqlite

    async def body(n: int) -> str:
        await asyncio.sleep(0)
        ln.File(pd.DataFrame({"n": [n]}), key=f"async/{n}.parquet").save()
        return str(flow_run.id)

    body.__name__ = body.__qualname__ = "async_flow"
    fn = flow(ln.tracked(body)) if order == "flow above tracked" else ln.tracked(flow(body))
    assert fn.isasync
    flow_run_id = asyncio.run(fn(3))
    run = ln.Run.select(transform__name="async_flow").one()
    assert (run.status, run.reference, run.params) == ("completed", flow_run_id, {"n": 3})
    assert ln.File.select(key="async/3.parquet").one().run_id == run.id
    artifact = next(a for a in _prefect.artifacts_of(flow_run_id) if a.type == "markdown")
    assert "async/3.parquet" in artifact.data


def test_a_flow_run_publishes_an_artifact_of_its_outputs_and_inputs(ln_sqlite, monkeypatch) -> None:
    from lamin_flows.config import reset_settings

    ln = ln_sqlite
    monkeypatch.setenv("LAMIN_UI_URL", "https://lamin.example.org/")
    reset_settings()
    source = ln.File(pd.DataFrame({"a": [1, 2]}), key="in/source.parquet").save()

    @flow
    @ln.tracked
    def report() -> str:
        df = ln.File.select(key="in/source.parquet").one().load()
        ln.File(df.assign(b=1), key="out/report|v1.parquet").save()
        return str(flow_run.id)

    flow_run_id = report()
    artifacts = {a.type: a for a in _prefect.artifacts_of(flow_run_id)}
    assert set(artifacts) == {"markdown", "table"}
    artifact = artifacts["markdown"]
    output = ln.File.select(key="out/report|v1.parquet").one()
    assert artifact.key == "lamin-report" and artifacts["table"].key == "lamin-report-files"
    assert "## Outputs (1)" in artifact.data and "## Inputs (1)" in artifact.data
    assert "out/report\\|v1.parquet" in artifact.data  # table cells are escaped
    assert output.hash in artifact.data and f"| {human_size(output.size)} |" in artifact.data
    table = json.loads(artifacts["table"].data)
    assert [(r["role"], r["key"], r["size"]) for r in table] == [
        ("output", output.key, output.size),
        ("input", source.key, source.size),
    ]
    assert table[0]["url"] == f"https://lamin.example.org/files/{output.id}" and table[0]["size_human"]
    assert f"](https://lamin.example.org/files/{source.id})" in artifact.data  # the key links to the File page
    run = ln.Run.select(transform__name="report").one()
    assert f"](https://lamin.example.org/runs/{run.id})" in artifact.data  # and the run to its page in lamin ui
    assert "not Files until registered" in artifact.data
    assert str(output.path()).replace("|", "\\|") in artifact.data
    assert source.key in artifact.data and source.hash in artifact.data


def test_tasks_are_tracked_below_task_and_refused_above_it(ln_sqlite) -> None:
    ln = ln_sqlite

    @task(cache_policy=NONE)
    @ln.tracked
    def measure(i: int) -> str:
        return ln.File(pd.DataFrame({"i": [i]}), key=f"measure/{i}.parquet").save().run_id

    @flow
    @ln.tracked
    def survey() -> list[str]:
        return [future.result() for future in measure.map(range(3))]

    run_ids = survey()
    flow_run = ln.Run.select(transform__name="survey").one()
    task_runs = ln.Run.select(transform__name="measure").all()
    assert sorted(run_ids) == sorted(r.id for r in task_runs) and len(task_runs) == 3
    assert {r.parent_id for r in task_runs} == {flow_run.id}
    assert all(r.meta["prefect"]["task_run_name"].startswith("measure") for r in task_runs)
    with pytest.raises(TypeError, match="put @ln.tracked below @task"):
        ln.tracked(measure)
