"""Outputs and inputs of Prefect tasks link to their flow's Run in threads, processes and on Dask.

Threads share the flow's Run through the copied context; process-pool and Dask workers find it
by the flow run id. The tasks are lamin_flows' own (importable in every worker process).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from lamin_flows.tasks import load_file, serialize_dataframe

pytestmark = pytest.mark.usefixtures("prefect_server")

N_OUTPUTS = 6


def _fan_out_and_check(ln: Any, task_runner: Any) -> None:
    source = ln.File(pd.DataFrame({"a": range(5)}), key="in/source.parquet").save()

    @task(cache_policy=NONE)
    def current_run() -> tuple[str, str]:
        return ln.context.run.id, ln.context.transform.name

    @flow(task_runner=task_runner)
    @ln.tracked
    def fan_out(n: int) -> tuple[list[str], tuple[str, str]]:
        frames = [pd.DataFrame({"i": [i], "n": [n]}) for i in range(n)]
        futures = serialize_dataframe.map(frames, key=[f"out/{i}.parquet" for i in range(n)])
        loaded = load_file.submit(source.id)
        assert len(loaded.result()) == 5
        return [future.result().id for future in futures], current_run.submit().result()

    ids, seen_in_task = fan_out(N_OUTPUTS)
    run = ln.Run.select(transform__name="fan_out").one()
    assert seen_in_task == (run.id, "fan_out")  # ln.context inside the task
    assert run.status == "completed"
    outputs = ln.File.select(run=run).all()
    assert sorted(f.id for f in outputs) == sorted(ids) and len(ids) == N_OUTPUTS
    assert {f.transform_id for f in outputs} == {run.transform_id}
    assert [f.id for f in run.inputs.all()] == [source.id]


def test_thread_pool_tasks_share_the_flow_run_through_the_context(ln_sqlite) -> None:
    _fan_out_and_check(ln_sqlite, ThreadPoolTaskRunner(max_workers=4))


def test_thread_pool_tasks_of_a_nested_tracked_call_link_to_that_call(ln_sqlite) -> None:
    ln = ln_sqlite

    @task(cache_policy=NONE)
    def write(i: int) -> str:
        return ln.File(pd.DataFrame({"i": [i]}), key=f"nested/{i}.parquet").save().run_id

    @ln.tracked
    def stage(n: int) -> list[str]:
        return [f.result() for f in write.map(range(n))]

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=3))
    @ln.tracked
    def outer() -> list[str]:
        return stage(3)

    run_ids = outer()
    assert set(run_ids) == {ln.Run.select(transform__name="stage").one().id}


def test_process_pool_tasks_find_the_flow_run_by_its_id(ln_sqlite) -> None:
    _fan_out_and_check(ln_sqlite, ProcessPoolTaskRunner(max_workers=2))


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the multi-machine setup: a shared PostgreSQL
def test_dask_tasks_find_the_flow_run_by_its_id(ln) -> None:
    from prefect_dask import DaskTaskRunner

    # dashboard on a free port: 8787 may be held by another cluster on this machine
    runner = DaskTaskRunner(
        cluster_kwargs={"n_workers": 2, "processes": True, "threads_per_worker": 2, "dashboard_address": ":0"}
    )
    _fan_out_and_check(ln, runner)
