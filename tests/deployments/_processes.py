"""Processes of the deployment tests: a real Prefect server, `serve.py`, workers, the `prefect` CLI.

Every process starts in its own session (process group), so stopping it also stops what it
started (flow run subprocesses of a runner or worker). Output goes to a log file whose tail is
shown when something times out or fails. Waiting is polling with a deadline, never a bare sleep.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENTS = REPO / "deployments"
BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")
SERVER_START_TIMEOUT = 120.0
T = TypeVar("T")


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(api_url: str | None, prefect_home: Path, **extra: str | None) -> dict[str, str]:
    """The environment of a child process: ours without Prefect settings, then the given ones.

    Inherited ``PREFECT_*`` variables (another test harness, a developer's profile) could point a
    child at another server; ``LAMIN_*`` ones (the test's LAMIN_HOME) are kept.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_CLI_PROMPT="false",
        PYTHONUNBUFFERED="1",
    )
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class Child:
    """A started process, its log file and how to stop it."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    _log_handle: Any = field(repr=False, default=None)

    def tail(self, lines: int = 60) -> str:
        """The last lines of the process's output."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        """SIGINT (a graceful shutdown), then SIGTERM, then SIGKILL, to the whole process group."""
        try:
            for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
                if self.process.poll() is not None:
                    break
                _signal_group(self.process.pid, sig)
                try:
                    self.process.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    continue
            # the leader is gone; make sure nothing it started outlives it
            _signal_group(self.process.pid, signal.SIGKILL)
        finally:
            if self._log_handle is not None:
                self._log_handle.close()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the child leads its own session: its group id is its pid
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the test process dies, even if it is killed outright.

    Fixtures stop every process on failures and timeouts; this also covers a test session that
    is itself killed (CI's timeout), which runs no teardown at all.
    """
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start(name: str, args: list[str], env: dict[str, str], log_dir: Path, cwd: Path | None = None) -> Child:
    """Start ``args`` in its own process group, output to ``log_dir/<name>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    handle = open(log, "wb")  # noqa: SIM115  (closed by Child.stop)
    process = subprocess.Popen(
        args,
        env=env,
        cwd=cwd,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # noqa: PLW1509  (only calls prctl)
    )
    return Child(name, process, log, handle)


def run(args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 120.0) -> str:
    """Run a command to completion; its output, or an AssertionError showing it."""
    out = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, f"{' '.join(args)} exited with {out.returncode}:\n{text[-4000:]}"
    return text


def wait_for(
    what: str, check: Callable[[], T | None], timeout: float, *, interval: float = 1.0, watch: list[Child] | None = None
) -> T:
    """Poll ``check`` until it returns something truthy; fail with the watched processes' output."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        for child in watch or []:
            if not child.alive():
                raise AssertionError(
                    f"{child.name} exited ({child.process.returncode}) while waiting for {what}:\n{child.tail()}"
                )
        if time.monotonic() > deadline:
            logs = "\n\n".join(f"--- {c.name} ---\n{c.tail()}" for c in watch or [])
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")
        time.sleep(interval)


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class PrefectServer:
    """A `prefect server start` process on a free port of 127.0.0.1."""

    url: str
    home: Path
    child: Child
    log_dir: Path

    def env(self, **extra: str | None) -> dict[str, str]:
        """The environment of a process that talks to this server."""
        return child_env(self.url, self.home, **extra)


@contextmanager
def prefect_server(base: Path) -> Iterator[PrefectServer]:
    """Start a Prefect server (SQLite under ``base/prefect-home``) and stop it afterwards, whatever happens."""
    home = base / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = child_env(None, home, PREFECT_UI_ENABLED="false")
    child = start("prefect-server", [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, base)
    try:
        wait_for(
            "the Prefect server to answer", lambda: _healthy(url), SERVER_START_TIMEOUT, interval=0.5, watch=[child]
        )
        yield PrefectServer(url, home, child, base)
    finally:
        child.stop()


@contextmanager
def api(url: str) -> Iterator[None]:
    """Point Prefect in this process at ``url``, with flow heartbeats off (they slow every run down)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def drain_prefect_workers() -> None:
    """Send the logs and events this process still holds to the server, while it is up.

    Otherwise they are sent at interpreter exit, to a server that is gone, and every retry
    delays the end of the test session by a minute.
    """
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        try:
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        except RuntimeError:  # never started
            pass
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())


def flow_runs(url: str, deployment: str, states: tuple[str, ...] | None = None) -> list[Any]:
    """The flow runs of deployment ``flow/deployment`` (only those in ``states``, if given), oldest first.

    None yet if the deployment does not exist yet.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    with api(url), get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(deployment)
        except ObjectNotFound:  # not created yet
            return []
        run_filter = None
        if states is not None:
            run_filter = FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in states]))
            )
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
            flow_run_filter=run_filter,
            sort=FlowRunSort.START_TIME_ASC,
        )


def read_flow_run(url: str, flow_run_id: str) -> Any:
    """A flow run as the server knows it."""
    from prefect import get_client

    with api(url), get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)
