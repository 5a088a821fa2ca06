"""The life of a Run: written before the work starts, finished once, and current in between.

A Run row is inserted with status "started" before the tracked code runs, so a process killed
outright leaves a visible "started" Run, never a missing one. It is finished with one UPDATE.
While it runs, it is current in two context variables: the registry's (which links saved and
loaded Files) and ours (which also knows the Run and Transform records and the Prefect flow run
the Run belongs to, for ``ln.context`` and for nesting). The Run of a script (``ln.track()``)
is current process-wide instead: wherever no tracked call is, in every thread. Where OpenLineage
is configured, starting and finishing a Run also emit its START and terminal events
(:mod:`lamin_flows.tracking.openlineage`).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lamin_flows import _logging
from lamin_flows.registry import hooks
from lamin_flows.registry.context import RunRef, add_resolver, reset_current_run, set_current_run
from lamin_flows.registry.context import current_run_ref as current_run_ref  # used as runs.current_run_ref
from lamin_flows.tracking import openlineage
from lamin_flows.tracking.source import VERSION_LENGTH

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
    cache_call: Any = None  # a cache=True call: its tracking.cache.Call, recorded when it completes
    tokens: tuple[object, object] | None = field(default=None, repr=False)


_frame: ContextVar[Frame | None] = ContextVar("lamin_flows_tracking_frame", default=None)
# The Run of ln.track(): current in every thread of the process where no tracked call is (a
# context variable would not reach threads started later, nor survive a notebook's cells).
_process_frame: Frame | None = None


def current_frame() -> Frame | None:
    """The innermost tracked call of this context (thread, task, coroutine), else the script's Run."""
    return _frame.get() or _process_frame


def tracked_call_frame() -> Frame | None:
    """The innermost ``@ln.tracked`` call of this context, ignoring the script's Run."""
    return _frame.get()


def set_process_frame(frame: Frame | None) -> None:
    """Make ``frame`` the process-wide Run (None: there is none)."""
    global _process_frame
    _process_frame = frame


def _process_run_ref() -> RunRef | None:
    frame = _process_frame
    return None if frame is None else RunRef(frame.run.id, frame.transform.id)


add_resolver(_process_run_ref)  # after the Prefect resolver: a tracked flow's Run is nearer than the script's


def save_transform(
    label: str, name: str, version: str | None, kind: str, digest: str | None, reference: str | None
) -> Transform:
    """Get or create the Transform of some code; warn if its code changed under a fixed version.

    Args:
        label: how the code is named in messages, e.g. ``"@ln.tracked clean"``.
        name: the Transform's name.
        version: its version; None: the first 12 hex characters of ``digest``.
        kind: "function", "flow", "script", "notebook".
        digest: the SHA-256 (hex) of the source; None where it cannot be read (then pass ``version``).
        reference: where the code lives (``module:qualname``, a script's path).

    Returns:
        The saved Transform (an existing one with the same name, version and reference is adopted).
    """
    from lamin_flows.registry.models import Transform

    version = version or (digest or "")[:VERSION_LENGTH]
    transform = Transform(name=name, version=version, type=kind, source_hash=digest, reference=reference)
    transform.save()  # an existing (name, version, reference) is adopted, not duplicated
    if transform.source_hash != digest:
        _logging.warning(
            f"{label}: the code changed but version={version!r} did not; runs are recorded under"
            f" the existing Transform {transform.id}. Bump version= to record the change."
        )
    return transform


def error_text(exc: BaseException) -> str:
    """``"Type: message"`` of an exception, as stored in ``run.error``."""
    try:
        message = str(exc)
    except Exception as error:  # a broken __str__ must not keep the Run from ending  # noqa: BLE001
        message = f"<the message could not be read: {type(error).__name__}>"
    # PostgreSQL's text cannot hold NUL: shown as \x00, so the Run still ends with its error
    message = message.replace("\x00", "\\x00")
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
    make_current: bool = True,
) -> Frame:
    """Insert a "started" Run (one INSERT) and make it current in this context; returns its frame.

    With ``make_current=False`` no context variable is set (the caller makes it current otherwise).
    """
    import sqlalchemy as sa

    from lamin_flows.registry import db, instance
    from lamin_flows.registry.models import Run
    from lamin_flows.registry.sql import utcnow

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
    try:
        with db.write(engine) as conn:
            conn.execute(Run.__table__.insert(), [run._values()])
    except (sa.exc.StatementError, ValueError) as exc:  # params the database refuses: the Run without them
        if not params:
            raise
        _logging.warning(
            f"the parameters of this run could not be stored ({type(exc).__name__}: {str(exc)[:200]}); the Run is"
            f" recorded without them: {', '.join(sorted(params))[:200]}"
        )
        run.params = {}
        with db.write(engine) as conn:
            conn.execute(Run.__table__.insert(), [run._values()])
    run._mark_saved()
    run._lf.related["transform"] = transform
    frame = Frame(run=run, transform=transform, engine=engine, flow_run_id=flow_run_id)
    if make_current:
        frame.tokens = (set_current_run(RunRef(run.id, transform.id)), _frame.set(frame))
    openlineage.run_started(frame)
    return frame


def finish_run(frame: Frame, status: str, error: str | None = None, extra: dict[str, Any] | None = None) -> None:
    """End a Run (one UPDATE, which also sets the columns in ``extra``) and restore the run that was current before it."""
    import sqlalchemy as sa

    from lamin_flows.registry import db
    from lamin_flows.registry.models import Run
    from lamin_flows.registry.sql import utcnow

    try:
        now = utcnow()
        values = {"status": status, "finished_at": now, "error": error, "updated_at": now, **(extra or {})}
        table = Run.__table__
        try:
            with db.write(frame.engine) as conn:
                conn.execute(table.update().where(table.c.id == frame.run.id).values(**values))
        except (sa.exc.StatementError, ValueError) as exc:  # an error text the database refuses: end it all the same
            if error is None:
                raise
            _logging.warning(
                f"run {frame.run.id}: its error text could not be stored ({type(exc).__name__}); stored as ASCII"
            )
            values["error"] = error.encode("ascii", "backslashreplace").decode("ascii").replace("\x00", "\\x00")
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
    Transform (found by the flow run id). Outside any tracked call, after ``ln.track()``, they
    are the script's.

    Example:
        >>> @ln.tracked
        ... def step():
        ...     print(ln.context.run.id, ln.context.transform.name)
        >>> ln.track()
        >>> ln.context.transform.type
        'script'
    """

    @property
    def run(self) -> Run | None:
        """The current Run, or None outside tracked code."""
        frame, ref = _current()
        if frame is not None:
            return frame.run
        if ref is None:
            return None
        from lamin_flows.registry.models import Run

        run: Run | None = Run.select(id=ref.run_id).one_or_none()
        return run

    @property
    def transform(self) -> Transform | None:
        """The Transform of the current Run, or None outside tracked code."""
        frame, ref = _current()
        if frame is not None:
            return frame.transform
        if ref is None:
            return None
        from lamin_flows.registry.models import Transform

        transform: Transform | None = Transform.select(id=ref.transform_id).one_or_none()
        return transform

    def __repr__(self) -> str:
        frame, ref = _current()
        if frame is None:
            return "RunContext(run=None)" if ref is None else f"RunContext(run_id={ref.run_id!r})"
        return f"RunContext(run_id={frame.run.id!r}, transform={frame.transform.name!r})"


def _current() -> tuple[Frame | None, RunRef | None]:
    """The current call's frame where this process has it, else the ids the resolvers found."""
    frame = _frame.get()
    if frame is not None:
        return frame, None
    ref = current_run_ref()  # a Prefect task of a tracked flow finds its flow's Run before the script's
    script = _process_frame
    if ref is not None and script is not None and ref.run_id == script.run.id:
        return script, None
    return None, ref


context = RunContext()
