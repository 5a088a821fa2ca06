"""OpenLineage: every tracked Run emits START when it starts and COMPLETE, FAIL or ABORT when it ends.

Events go through ``openlineage-python``'s own client and transports, configured its standard
way (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``, ``openlineage.yml``, ``OPENLINEAGE__TRANSPORT__*``):
http, console, file, kafka, composite, ... Emission is off unless OpenLineage is configured, or
forced with ``LAMIN_OPENLINEAGE=true``; ``LAMIN_OPENLINEAGE=false`` turns it off.

Emission never fails the user's run: a transport error is logged once per Run as a warning.
Nothing here is imported by ``import lamin_flows``; the client is imported at the first tracked
call of a process where OpenLineage is configured.

Example:
    $ export OPENLINEAGE_URL=http://localhost:5000      # a Marquez server
    $ python my_pipeline.py                               # each tracked Run is now a run in Marquez
    $ lamin lineage export --openlineage --since 2026-01-01   # and the Runs recorded before
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lamin_flows import _logging
from lamin_flows.config import Settings, get_settings, openlineage_configured

if TYPE_CHECKING:
    from lamin_flows.tracking.openlineage_events import RunInfo
    from lamin_flows.tracking.runs import Frame

BATCH = 500  # Runs per query when exporting
_lock = threading.Lock()
_state: tuple[Settings, Any] | None = None  # (the settings it was built for, the client or None)
_warned: set[str] = set()  # Runs whose emission failed and that were told so
_parents: dict[str, RunInfo] = {}  # parent Runs of recent child Runs


def _build_client(settings: Settings) -> Any:
    mode = settings.openlineage
    try:
        wanted = mode is True or (mode is None and openlineage_configured())
    except OSError:  # the working directory is gone: no openlineage.yml to find there
        wanted = False
    if not wanted:
        return None
    try:
        from openlineage.client import OpenLineageClient
    except ImportError:
        report = _logging.warning if mode else _logging.hint
        report(
            "OpenLineage is configured but openlineage-python is not installed, so no lineage events are"
            " emitted: pip install 'lamin-flows[openlineage]' (or set LAMIN_OPENLINEAGE=false)"
        )
        return None
    try:
        client = OpenLineageClient()
    except Exception as exc:  # noqa: BLE001 - a bad transport config: warn and run without lineage
        _logging.warning(f"the OpenLineage configuration could not be used ({exc}); no lineage events are emitted")
        return None
    kind = getattr(client.transport, "kind", None)
    if kind == "noop":  # OPENLINEAGE_DISABLED=true
        return None
    if mode is None and kind == "console" and not (client.config.transport or {}).get("type"):
        return None  # the client found no transport and fell back to printing: that is not "configured"
    return client


def client() -> Any:
    """The OpenLineage client of this process, or None while emission is off.

    Built once per settings object: ``reset_settings()`` (tests) makes the next call look again.

    Example:
        >>> from lamin_flows.tracking import openlineage
        >>> openlineage.client().transport.kind
        'http'
    """
    global _state
    settings = get_settings()
    state = _state
    if state is not None and state[0] is settings:
        return state[1]
    with _lock:
        if _state is None or _state[0] is not settings:
            _state = (settings, _build_client(settings))
        return _state[1]


def namespace() -> str:
    """The job namespace: ``LAMIN_OPENLINEAGE_NAMESPACE``, else the current instance's name."""
    from lamin_flows.registry import instance

    return get_settings().openlineage_namespace or instance.current().config.name


# ---- reading the registry ------------------------------------------------------------------
def _run_infos(run_ids: Sequence[str] | None = None, since: datetime | None = None) -> Iterator[RunInfo]:
    import sqlalchemy as sa

    from lamin_flows.registry import instance
    from lamin_flows.registry.models import Run, Transform
    from lamin_flows.registry.sql import one_of
    from lamin_flows.tracking.openlineage_events import RunInfo

    run, transform = Run.__table__, Transform.__table__
    query = sa.select(
        run,
        transform.c.name.label("t_name"),
        transform.c.version.label("t_version"),
        transform.c.type.label("t_type"),
        transform.c.reference.label("t_reference"),
    ).join(transform, transform.c.id == run.c.transform_id)
    with instance.current().engine.connect() as conn:
        if run_ids is not None:
            query = query.where(one_of(conn, run.c.id, list(run_ids)))
        if since is not None:
            query = query.where(run.c.started_at >= _as_stored(since, conn.dialect.name))
        for row in conn.execute(query.order_by(run.c.started_at, run.c.id)).mappings():
            yield RunInfo(
                id=row["id"],
                status=row["status"],
                started_at=row["started_at"],
                finished_at=row["finished_at"],
                error=row["error"],
                reference=row["reference"],
                reference_type=row["reference_type"],
                meta=row["meta"],
                parent_id=row["parent_id"],
                transform_id=row["transform_id"],
                transform_name=row["t_name"],
                transform_version=row["t_version"],
                transform_type=row["t_type"],
                transform_reference=row["t_reference"],
            )


def _as_stored(moment: datetime, dialect: str) -> datetime:
    """A moment as the registry compares it: aware UTC, naive UTC on SQLite (which drops zones)."""

    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.replace(tzinfo=None) if dialect == "sqlite" else aware


def _info_of(frame: Frame) -> RunInfo:
    from lamin_flows.tracking.openlineage_events import RunInfo

    run, transform = frame.run, frame.transform
    return RunInfo(
        id=run.id,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        error=run.error,
        reference=run.reference,
        reference_type=run.reference_type,
        meta=run.meta,
        parent_id=run.parent_id,
        transform_id=transform.id,
        transform_name=transform.name,
        transform_version=transform.version,
        transform_type=transform.type,
        transform_reference=transform.reference,
    )


_files_of_one: Any = None


def _files_statement(runs_are: Callable[[Any], Any]) -> Any:
    """Inputs (through ``run_input``) and outputs (``file.run_id``) of the Runs ``runs_are`` selects, in one
    round trip, with each File's storage root and type."""
    import sqlalchemy as sa

    from lamin_flows.registry.file import File
    from lamin_flows.registry.models import RunInputLink, Storage

    file, storage, link = File.__table__, Storage.__table__, RunInputLink.__table__
    columns = (file, storage.c.root.label("storage_root"), storage.c.type.label("storage_type"))
    read = (
        sa.select(link.c.run_id.label("owner_id"), sa.literal("in").label("role"), *columns)
        .join(file, file.c.id == link.c.file_id)
        .join(storage, storage.c.id == file.c.storage_id)
        .where(runs_are(link.c.run_id))
    )
    written = (
        sa.select(file.c.run_id.label("owner_id"), sa.literal("out").label("role"), *columns)
        .join(storage, storage.c.id == file.c.storage_id)
        .where(runs_are(file.c.run_id))
    )
    return sa.union_all(read, written)


def _files_of(run_ids: Sequence[str]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """(inputs, outputs) of each Run: File rows with their storage's root and type."""
    import sqlalchemy as sa

    from lamin_flows.registry import instance
    from lamin_flows.registry.sql import one_of

    inputs: dict[str, list[Any]] = {}
    outputs: dict[str, list[Any]] = {}
    with instance.current().engine.connect() as conn:
        if len(run_ids) == 1:  # the end of every tracked call: a statement built once, half of the cost otherwise
            global _files_of_one
            if _files_of_one is None:
                _files_of_one = _files_statement(lambda column: column == sa.bindparam("run_id"))
            rows = list(conn.execute(_files_of_one, {"run_id": run_ids[0]}).mappings())
        else:
            ids = list(run_ids)
            rows = list(conn.execute(_files_statement(lambda column: one_of(conn, column, ids))).mappings())
    for row in sorted(rows, key=lambda r: (r["key"] or "", r["id"])):
        (inputs if row["role"] == "in" else outputs).setdefault(row["owner_id"], []).append(row)
    return inputs, outputs


def _parent_of(run: RunInfo, known: dict[str, RunInfo] | None = None) -> RunInfo | None:
    if run.parent_id is None:
        return None
    found = (known or {}).get(run.parent_id) or _parents.get(run.parent_id)
    if found is None:
        found = next(_run_infos([run.parent_id]), None)
        if found is not None:
            if len(_parents) > 256:
                _parents.clear()
            _parents[run.parent_id] = found
    return found


def _events(
    run: RunInfo,
    *,
    start: bool,
    end: bool,
    known: dict[str, RunInfo] | None = None,
    files: tuple[dict[str, list[Any]], dict[str, list[Any]]] | None = None,
) -> list[Any]:
    from lamin_flows.tracking import openlineage_events as ev

    space, parent = namespace(), _parent_of(run, known)
    events = []
    if start:
        events.append(ev.run_event(run, ev.RunState.START, namespace=space, parent=parent))
    state = ev.TERMINAL.get(run.status)
    if end and state is not None:
        inputs, outputs = files if files is not None else _files_of([run.id])
        schemas = ev.parquet_schemas
        events.append(
            ev.run_event(
                run,
                state,
                namespace=space,
                parent=parent,
                inputs=[ev.input_dataset(row, schemas.of(row)) for row in inputs.get(run.id, [])],
                outputs=[ev.output_dataset(row, schemas.of(row)) for row in outputs.get(run.id, [])],
            )
        )
    return events


# ---- live emission ---------------------------------------------------------------------------
def _emit_for(run_id: str, build: Any, final: bool) -> None:
    emitter = client()
    if emitter is None:
        return
    try:
        for event in build():
            emitter.emit(event)
    except Exception as exc:  # lineage is a by-product: it never fails the run it describes  # noqa: BLE001
        if run_id not in _warned:
            _warned.add(run_id)
            _logging.warning(
                f"could not emit the OpenLineage events of run {run_id} ({type(exc).__name__}: {exc});"
                " the run itself is unaffected. Check the OpenLineage transport configuration."
            )
    finally:
        if final:
            _warned.discard(run_id)


def run_started(frame: Frame) -> None:
    """Emit the START event of a tracked call's Run (never raises)."""
    if client() is None:
        return
    _emit_for(frame.run.id, lambda: _events(_info_of(frame), start=True, end=False), final=False)


def run_ended(frame: Frame) -> None:
    """Emit the COMPLETE, FAIL or ABORT event of a tracked call's Run, with its Files (never raises)."""
    if client() is None:
        return
    _emit_for(frame.run.id, lambda: _events(_info_of(frame), start=False, end=True), final=True)


def runs_ended(run_ids: Iterable[str]) -> None:
    """Emit the terminal events of Runs that Prefect ended (crashed, cancelled, failed) (never raises)."""
    ids = list(run_ids)
    if not ids or client() is None:
        return
    try:
        infos = list(_run_infos(ids))
        files = _files_of(ids)
    except Exception as exc:  # noqa: BLE001 - lineage is a by-product: it never fails the run it describes
        _logging.warning(f"could not read the Runs {', '.join(ids)} to emit their OpenLineage events: {exc}")
        return
    known = {info.id: info for info in infos}
    for info in infos:
        _emit_for(info.id, lambda info=info: _events(info, start=False, end=True, known=known, files=files), final=True)


# ---- backfill --------------------------------------------------------------------------------
def export(since: datetime | None = None) -> int:
    """Emit the events of the Runs already in the registry: START, and the terminal event of ended Runs.

    The run ids are the ones live emission uses, so exporting Runs that were emitted already sends
    the same runs again (consumers such as Marquez update them in place).

    Args:
        since: only Runs started at or after this moment (naive datetimes are UTC).

    Returns:
        How many events were emitted.

    Raises:
        ValidationError: OpenLineage is not configured, or turned off with ``LAMIN_OPENLINEAGE=false``.
        LaminFlowsError: the transport failed; the message says after how many events.

    Example:
        >>> from lamin_flows.tracking import openlineage
        >>> openlineage.export(since=datetime(2026, 1, 1))
        42
    """
    from lamin_flows.errors import LaminFlowsError, ValidationError

    emitter = client()
    if emitter is None:
        if get_settings().openlineage is False:
            raise ValidationError("OpenLineage is turned off (LAMIN_OPENLINEAGE=false): unset it to export")
        raise ValidationError(
            "OpenLineage is not configured: set OPENLINEAGE_URL (e.g. http://localhost:5000 for Marquez),"
            " OPENLINEAGE_CONFIG or an openlineage.yml, or LAMIN_OPENLINEAGE=true for the console"
        )
    runs = list(_run_infos(since=since))
    known = {run.id: run for run in runs}
    sent = 0
    for offset in range(0, len(runs), BATCH):
        batch = runs[offset : offset + BATCH]
        files = _files_of([run.id for run in batch])
        for run in batch:
            try:
                for event in _events(run, start=True, end=True, known=known, files=files):
                    emitter.emit(event)
                    sent += 1
            except Exception as exc:
                raise LaminFlowsError(
                    f"could not emit the OpenLineage events of run {run.id} after {sent} events"
                    f" ({type(exc).__name__}: {exc}); check the transport, then export again (it is safe to repeat)"
                ) from exc
    return sent
