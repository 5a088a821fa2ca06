"""One Prefect test server for the whole test session, shared by every test folder that needs it.

Prefect's temporary server takes 7-14 s to start, so it starts once, on first use, and stops
when the last folder's session fixture is torn down. Heartbeats are off (each flow run would
otherwise wait about 1 s for its heartbeat thread) and telemetry is off (it logs errors offline).

Use it through the ``prefect_server`` fixture of ``tests/tracking`` and ``tests/tasks``.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Any

_stack: ExitStack | None = None
_users = 0


def acquire() -> None:
    """Start the shared test server (once) and register one more user of it."""
    global _stack, _users
    _users += 1
    if _stack is not None:
        return
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ.pop("PREFECT_API_URL", None)
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    stack = ExitStack()
    try:
        stack.enter_context(prefect_test_harness(server_startup_timeout=90))
        stack.enter_context(temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))
    except BaseException:
        stack.close()
        _users -= 1
        raise
    _stack = stack


def release() -> None:
    """One user is done; the last one stops the server."""
    global _stack, _users
    _users -= 1
    if _users <= 0 and _stack is not None:
        stack, _stack = _stack, None
        stack.close()


def flow_run(flow_run_id: str) -> Any:
    """The flow run with this id, read from the test server."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def artifacts_of(flow_run_id: str) -> list[Any]:
    """The artifacts a flow run published."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
