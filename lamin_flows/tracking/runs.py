"""The life of a Run: written before the work starts, finished once, and current in between.

A Run row is inserted with status "started" before the tracked code runs, so a process killed
outright leaves a visible "started" Run, never a missing one. It is finished with one UPDATE.
While it runs, it is current in two context variables: the registry's (which links saved and
loaded Files) and ours (which also knows the Run and Transform records and the Prefect flow run
the Run belongs to, for ``ln.context`` and for nesting). Where OpenLineage is configured, starting
and finishing a Run also emit its START and terminal events (:mod:`lamin_flows.tracking.openlineage`).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lamin_flows.registry.context import RunRef, current_run_ref, reset_current_run, set_current_run
from lamin_flows.registry import hooks
from lamin_flows.tracking import openlineage

if TYPE_CHECKING:
    from lamin_flows.registry.models import Run, Transform

ERROR_MAX_CHARS = 10_000


@dataclass
class Frame:
    """One tracked call in progress."""

    run: Run
    transform: Transform
    engine: Any
    flow_run_id: str | None = None  # the Prefect flow run this call runs in, if any
    tokens: tuple[object, object] | None = field(default=None, repr=False)


_frame: ContextVar[Frame | None] = ContextVar("lamin_flows_tracking_frame", default=None)


def current_frame() -> Frame | None:
    """The innermost tracked call of this context (thread, task, coroutine), if any."""
    return _frame.get()


def error_text(exc: BaseException) -> str:
    """``"Type: message"`` of an exception, as stored in ``run.error``."""
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 1] + "…"


def start_run(
    transform: Transform,
    params: dict[str, Any],
    *,
    parent_id: str | None = None,
    reference: str | None = None,
    reference_type: str | None = None,
    meta: dict[str, Any] | None = None,
    flow_run_id: str | None = None,
) -> Frame:
    """Insert a "started" Run (one INSERT) and make it current; returns its frame."""
    from lamin_flows.registry import db, instance
    from lamin_flows.registry.models import Run
    from lamin_flows.registry.record import utcnow

    inst = instance.current()
    engine = inst.engine
    run = Run(
        transform_id=transform.id,
        status="started",
        params=params,
        started_at=utcnow(),
        reference=reference,
        reference_type=reference_type,
        parent_id=parent_id,
        meta=meta,
        created_by_id=inst.user_id(),
    )
    with db.write(engine) as conn:
        conn.execute(Run.__table__.insert(), [run._values()])
    run._mark_saved()
    run._lf.related["transform"] = transform
    frame = Frame(run=run, transform=transform, engine=engine, flow_run_id=flow_run_id)
    frame.tokens = (set_current_run(RunRef(run.id, transform.id)), _frame.set(frame))
    openlineage.run_started(frame)
    return frame


def finish_run(frame: Frame, status: str, error: str | None = None) -> None:
    """End a Run (one UPDATE) and restore the run that was current before it."""
    from lamin_flows.registry import db
    from lamin_flows.registry.models import Run
    from lamin_flows.registry.record import utcnow

    try:
        now = utcnow()
        values = {"status": status, "finished_at": now, "error": error, "updated_at": now}
        table = Run.__table__
        with db.write(frame.engine) as conn:
            conn.execute(table.update().where(table.c.id == frame.run.id).values(**values))
        for name, value in values.items():
            setattr(frame.run, name, value)
        frame.run._mark_saved()
        openlineage.run_ended(frame)
        hooks.run_ended(frame.run)
    finally:
        release(frame)


def release(frame: Frame) -> None:
    """Restore the context variables that were current before ``frame`` started."""
    if frame.tokens is None:
        return
    registry_token, frame_token = frame.tokens
    frame.tokens = None
    try:
        _frame.reset(frame_token)  # type: ignore[arg-type]
        reset_current_run(registry_token)
    except ValueError:
        # Reset from another context (a generator finished elsewhere): clear instead.
        _frame.set(None)
        set_current_run(None)


class RunContext:
    """The Run and Transform of the tracked call that is running now: ``ln.context``.

    Inside a Prefect task in another process or on a Dask worker, these are the flow's Run and
    Transform (found by the flow run id).

    Example:
        >>> @ln.tracked
        ... def step():
        ...     print(ln.context.run.id, ln.context.transform.name)
    """

    @property
    def run(self) -> Run | None:
        """The current Run, or None outside tracked code."""
        frame = _frame.get()
        if frame is not None:
            return frame.run
        ref = current_run_ref()
        if ref is None:
            return None
        from lamin_flows.registry.models import Run

        return Run.select(id=ref.run_id).one_or_none()

    @property
    def transform(self) -> Transform | None:
        """The Transform of the current Run, or None outside tracked code."""
        frame = _frame.get()
        if frame is not None:
            return frame.transform
        ref = current_run_ref()
        if ref is None:
            return None
        from lamin_flows.registry.models import Transform

        return Transform.select(id=ref.transform_id).one_or_none()

    def __repr__(self) -> str:
        frame = _frame.get()
        if frame is None:
            ref = current_run_ref()
            return "RunContext(run=None)" if ref is None else f"RunContext(run_id={ref.run_id!r})"
        return f"RunContext(run_id={frame.run.id!r}, transform={frame.transform.name!r})"


context = RunContext()
