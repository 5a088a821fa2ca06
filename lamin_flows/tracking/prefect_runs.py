"""Tracking inside Prefect: flow runs, state hooks, tracked Flows and the run artifact.

Only called when Prefect is already imported (the decorator checks ``sys.modules``), so Prefect
is imported inside the functions here, never at module level.

A tracked flow's Run keeps the flow run id in ``reference`` (``reference_type``
"prefect-flow-run") and the flow run's name, tags, attempt and deployment in
``meta["prefect"]``; ``params`` holds only the flow's parameters. A flow run that Prefect marks
crashed or cancelled ends its Run through state hooks: attached when ``@ln.tracked`` wraps a
``Flow`` (``@ln.tracked`` above ``@flow``), or at the first call of a tracked function that is a
flow's body (``@flow`` above ``@ln.tracked``). With retries, each attempt of a flow run is one
Run; the latest is the one its tasks link to. Runs these hooks end emit their OpenLineage end
event here; a Run that had already ended keeps the one it emitted (one terminal event per run).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lamin_flows import _logging
from lamin_flows.tracking import openlineage

# published from here: decorator.py calls prefect_runs.publish_artifact (the `as` re-exports them, for mypy)
from lamin_flows.tracking.artifacts import apublish_artifact as apublish_artifact
from lamin_flows.tracking.artifacts import artifact_key, artifact_markdown, artifact_table  # noqa: F401
from lamin_flows.tracking.artifacts import publish_artifact as publish_artifact

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.flows import FlowStateHook


REFERENCE_TYPE = "prefect-flow-run"


@dataclass
class FlowRunInfo:
    """The Prefect flow run a tracked call runs in."""

    flow_run_id: str
    flow: Any  # the Flow whose body is the tracked function, else None
    meta: dict[str, Any]


def current_flow_run() -> tuple[str, int] | None:
    """(flow run id, attempt) of the flow or task run of this context, or None."""
    from prefect.context import FlowRunContext, TaskRunContext

    task_ctx = TaskRunContext.get()
    if task_ctx is not None and task_ctx.task_run.flow_run_id is not None:
        return str(task_ctx.task_run.flow_run_id), task_ctx.task_run.flow_run_run_count
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:
        return str(ctx.flow_run.id), ctx.flow_run.run_count
    return None


def _deployment_name() -> str | None:
    try:
        from prefect.runtime import deployment

        name: str | None = deployment.name
        return name
    except Exception:  # an offline or older server: the id is kept anyway  # noqa: BLE001
        return None


def flow_run_info(wrapper: Callable[..., Any] | None) -> FlowRunInfo | None:
    """The flow run the current call runs in, and whether ``wrapper`` is that flow's body."""
    from prefect.context import FlowRunContext, TaskRunContext

    ctx = FlowRunContext.get()
    task_ctx = TaskRunContext.get()
    if ctx is not None and ctx.flow_run is not None and ctx.flow is not None and ctx.flow.fn is wrapper:
        flow_run = ctx.flow_run
        deployment_id = str(flow_run.deployment_id) if flow_run.deployment_id else None
        meta = {
            "flow_run_id": str(flow_run.id),
            "flow_run_name": flow_run.name,
            "flow_name": ctx.flow.name,
            "tags": sorted(flow_run.tags or []),
            "attempt": flow_run.run_count,
            "deployment_id": deployment_id,
            "deployment_name": _deployment_name() if deployment_id else None,
        }
        return FlowRunInfo(str(flow_run.id), ctx.flow, {"prefect": meta})
    found = current_flow_run()
    if found is None:
        return None
    meta = {"flow_run_id": found[0]}
    if task_ctx is not None:
        meta.update(task_run_id=str(task_ctx.task_run.id), task_run_name=task_ctx.task_run.name)
    return FlowRunInfo(found[0], None, {"prefect": meta})


def status_of_result(result: Any, status: str) -> tuple[str, str | None]:
    """A flow body that returns a Prefect State ends as that state says."""
    from prefect.client.schemas.objects import State

    if isinstance(result, State):
        if result.is_failed():
            return "failed", result.message or "the flow returned a Failed state"
        if result.is_cancelled():
            return "cancelled", result.message or "the flow returned a Cancelled state"
        if result.is_crashed():
            return "crashed", result.message or "the flow returned a Crashed state"
    return status, None


# ---- state hooks --------------------------------------------------------------------------
_OVERRIDES = {"crashed": {"started"}, "cancelled": {"started", "crashed"}, "failed": {"started", "completed"}}


def end_flow_run(flow_run_id: str, status: str, message: str | None) -> int:
    """Give the Runs of a flow run (and their unfinished child Runs) Prefect's final verdict.

    Returns:
        How many Runs changed.
    """
    import sqlalchemy as sa

    from lamin_flows.registry import db, instance
    from lamin_flows.registry.models import Run
    from lamin_flows.registry.sql import utcnow

    table = Run.__table__
    now = utcnow()
    error = message or f"Prefect marked flow run {flow_run_id} {status}"
    changed = 0
    unfinished: list[str] = []  # Runs that had not ended yet: they still owe their OpenLineage end event
    with db.write(instance.current().engine) as conn:
        rows = conn.execute(
            sa.select(table.c.id, table.c.status).where(
                table.c.reference == flow_run_id,
                table.c.reference_type == REFERENCE_TYPE,
                table.c.status.in_(sorted(_OVERRIDES[status])),
            )
        ).all()
        ids = [row.id for row in rows]
        unfinished = [row.id for row in rows if row.status == "started"]
        level = ids
        while level:  # unfinished descendants end with their flow run
            level = [
                row.id
                for row in conn.execute(
                    sa.select(table.c.id).where(table.c.parent_id.in_(level), table.c.status == "started")
                )
            ]
            ids.extend(level)
            unfinished.extend(level)
        if ids:
            result = conn.execute(
                table.update()
                .where(table.c.id.in_(ids))
                .values(status=status, error=error, finished_at=now, updated_at=now)
            )
            changed = result.rowcount
    openlineage.runs_ended(unfinished)
    if ids:
        from lamin_flows.registry import hooks

        for run in Run.select(id__in=ids).all():  # their lamin.run.<status> events
            hooks.run_ended(run)
    return changed


def _hook(status: str) -> FlowStateHook[Any, Any]:
    def hook(flow: Any, flow_run: Any, state: Any) -> None:
        try:
            end_flow_run(str(flow_run.id), status, getattr(state, "message", None))
        except Exception as exc:  # a hook must not turn Prefect's bookkeeping into a second failure  # noqa: BLE001
            _logging.warning(f"could not mark the Run of flow run {flow_run.id} {status}: {exc}")

    hook.__name__ = hook.__qualname__ = f"lamin_flows_run_{status}"
    return hook


on_crashed = _hook("crashed")
on_cancellation = _hook("cancelled")
on_failure = _hook("failed")


def ensure_state_hooks(flow: Flow[Any, Any]) -> None:
    """Attach the hooks that end a flow's Run when Prefect crashes, cancels or fails it."""
    for hooks, hook in (
        (flow.on_crashed_hooks, on_crashed),
        (flow.on_cancellation_hooks, on_cancellation),
        (flow.on_failure_hooks, on_failure),
    ):
        if hook not in hooks:
            hooks.append(hook)


def track_flow(flow: Flow[Any, Any], wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Flow[Any, Any]:
    """A copy of ``flow`` whose function is tracked, with the state hooks, built by Prefect itself.

    ``Flow.with_options`` carries over every setting (name, task runner, retries, result storage,
    entrypoint), so the result serves and deploys like the original.
    """
    base = copy.copy(flow)
    base.fn = wrap(flow.fn)
    return base.with_options(
        on_crashed=[*flow.on_crashed_hooks, on_crashed],
        on_cancellation=[*flow.on_cancellation_hooks, on_cancellation],
        on_failure=[*flow.on_failure_hooks, on_failure],
    )
