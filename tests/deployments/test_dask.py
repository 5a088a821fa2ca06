"""Parallel ingestion with prefect-dask on a local cluster of two worker processes."""

from __future__ import annotations

import faulthandler
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployments.helpers import make_landing

N_FILES = 2000
BATCH = 100
HANG_AFTER = 150.0  # the ingest takes ~10 s; past this, dump the workers' stacks and stop them


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Dask cluster of two processes (one thread each), closed whatever happens.

    Prefect events are off in the workers: this test is about the parallel ingest at size; events
    from Dask workers have their own, smaller test below (a loaded run of this one once timed out
    while a worker was compressing an event batch; see the issue on events).
    """
    monkeypatch.setenv("LAMIN_PREFECT_EVENTS", "false")  # the worker processes inherit it
    yield from _local_cluster()


@pytest.fixture
def cluster_with_events(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The same cluster with Prefect events on in the workers (the default)."""
    monkeypatch.delenv("LAMIN_PREFECT_EVENTS", raising=False)
    yield from _local_cluster()


def _local_cluster() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        with Client(local) as client:
            yield client


def _arm_stack_dumps(folder: str) -> int:
    """On a Dask worker: write every thread's stack to ``folder/<pid>.txt`` on SIGUSR1."""
    handle = open(os.path.join(folder, f"{os.getpid()}.txt"), "w")  # noqa: SIM115  (lives as long as the worker)
    faulthandler.register(signal.SIGUSR1, file=handle, all_threads=True)
    return os.getpid()


class _Watchdog:
    """If the flow hangs, dump the workers' stacks (for the failure message) and kill them, so the test ends."""

    def __init__(self, pids: list[int], folder: Path) -> None:
        self.pids, self.folder = pids, folder
        self.fired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if self._done.wait(HANG_AFTER):
            return
        self.fired = True
        for pid in self.pids:
            _kill(pid, signal.SIGUSR1)
        self._done.wait(3.0)
        for pid in self.pids:
            _kill(pid, signal.SIGKILL)

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def report(self) -> str:
        dumps = sorted(self.folder.glob("*.txt"))
        return "\n".join(f"--- worker {d.stem} ---\n{d.read_text()}" for d in dumps)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _worker_state() -> tuple[int, str | None]:
    """On a Dask worker: its pid and the lamin_flows instance it used (None if it ran no batch)."""
    import sys

    registry = sys.modules.get("lamin_flows.registry.instance")
    current = getattr(registry, "_current", None)
    return os.getpid(), current.config.name if current is not None else None


def _task_runs(flow_run_id: str) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


@pytest.mark.slow
@pytest.mark.postgres
def test_dask_ingests_a_large_folder_in_parallel(prefect_api: str, pg_db: str, tmp_path: Path, cluster: Any) -> None:
    from prefect_dask import DaskTaskRunner

    import lamin_flows as ln
    from lamin_flows.tasks.flows import ingest_landing

    landing = make_landing(tmp_path / "landing", n_files=N_FILES, n_folders=20)
    ln.setup.init(storage=tmp_path / "data", db=pg_db, name="dask")
    address = cluster.scheduler.address
    parallel = ingest_landing.with_options(task_runner=DaskTaskRunner(address=address))

    dumps = tmp_path / "stacks"
    dumps.mkdir()
    pids = list(cluster.run(_arm_stack_dumps, str(dumps)).values())
    with _Watchdog(pids, dumps) as watchdog:
        try:
            report = parallel(str(landing), tag="bulk", instance="dask", batch_size=BATCH)
        except BaseException:
            if watchdog.fired:
                pytest.fail(f"the Dask ingest hung for {HANG_AFTER:.0f} s; worker stacks:\n{watchdog.report()}")
            raise
    assert not watchdog.fired, f"the Dask ingest hung for {HANG_AFTER:.0f} s; worker stacks:\n{watchdog.report()}"

    run = ln.Run.select(transform__name="ingest_landing").one()  # the one flow Run, no per-task Runs
    assert run.status == "completed" and run.reference
    files = ln.File.select(key__startswith="landing/").all()
    keys = [f.key for f in files]
    assert len(keys) == N_FILES and len(set(keys)) == N_FILES, "nothing lost, nothing duplicated"
    expected = {f"landing/{p.relative_to(landing).as_posix()}" for p in landing.rglob("*.csv")}
    assert set(keys) == expected
    assert len({f.hash for f in files}) == N_FILES
    assert {f.run_id for f in files} == {run.id}, "every File is linked to the flow's Run"
    assert {f.transform_id for f in files} == {run.transform_id}
    stored = [p for p in (tmp_path / "data" / "landing").rglob("*") if p.is_file()]
    assert len(stored) == N_FILES
    assert len(ln.File.select(tags=ln.Tag.select(name="bulk").one()).all()) == N_FILES
    assert len(report.load()) == N_FILES

    batches = [t for t in _task_runs(run.reference) if t.name.startswith("ingest_batch")]
    assert len(batches) == N_FILES // BATCH and all(t.state.is_completed() for t in batches)
    states = cluster.run(_worker_state)
    assert len(states) == 2 and os.getpid() not in {pid for pid, _ in states.values()}
    assert {name for _, name in states.values()} == {"dask"}, f"both workers ran batches: {states}"


def _saved_events(url: str, instance: str) -> int:
    """How many ``lamin.file.saved`` events of ``instance`` the server holds (its /events/filter total)."""
    import httpx

    body = {
        "filter": {
            "event": {"name": ["lamin.file.saved"]},
            "resource": {"labels": {"lamin.instance": [instance]}},
            "occurred": {"since": "2000-01-01T00:00:00Z"},
        },
        "limit": 1,
    }
    response = httpx.post(f"{url}/events/filter", json=body, timeout=10)
    response.raise_for_status()
    return int(response.json()["total"])


@pytest.mark.slow
@pytest.mark.postgres
def test_dask_workers_send_one_event_per_file_and_never_hang(
    prefect_api: str, pg_db: str, tmp_path: Path, cluster_with_events: Any
) -> None:
    """Events on in the worker processes: every File's event reaches the server, and no batch hangs."""
    import time

    from prefect_dask import DaskTaskRunner

    import lamin_flows as ln
    from lamin_flows.tasks.flows import ingest_landing

    n = 300
    landing = make_landing(tmp_path / "landing", n_files=n, n_folders=3)
    ln.setup.init(storage=tmp_path / "data", db=pg_db, name="dask-events")
    parallel = ingest_landing.with_options(task_runner=DaskTaskRunner(address=cluster_with_events.scheduler.address))
    dumps = tmp_path / "stacks"
    dumps.mkdir()
    pids = list(cluster_with_events.run(_arm_stack_dumps, str(dumps)).values())
    with _Watchdog(pids, dumps) as watchdog:
        try:
            parallel(str(landing), instance="dask-events", batch_size=30)
        except BaseException:
            if watchdog.fired:
                pytest.fail(f"the Dask ingest hung for {HANG_AFTER:.0f} s; worker stacks:\n{watchdog.report()}")
            raise
    assert len(ln.File.select(key__startswith="landing/").all()) == n
    saved = ln.File.select(is_latest__in=[True, False]).count()  # the landing files and the ingest's report
    deadline = time.monotonic() + 60  # the workers send in the background, in batches
    while (seen := _saved_events(prefect_api, "dask-events")) < saved and time.monotonic() < deadline:
        time.sleep(1)
    assert seen == saved, f"{seen} lamin.file.saved events for {saved} Files"
