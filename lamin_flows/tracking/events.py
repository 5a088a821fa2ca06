"""Events of the registry, queued for Prefect: a new File saved, a tracked Run ended.

The registry calls :func:`files_saved` and :func:`run_ended` after every save and Run end (the
package root registers them in :mod:`lamin_flows.registry.hooks`). When events are off they
cost one settings lookup. When on, the save's thread only copies a few fields of each File
into a tuple and puts one batch on a queue; a background thread imports Prefect, builds the
events and sends them (:mod:`lamin_flows.tasks.events`), so neither Prefect's import nor the
network is on the save's path.

Events are on when ``LAMIN_PREFECT_EVENTS`` is not false and a Prefect API is configured
(``PREFECT_API_URL`` in the environment, or in the settings of a process that imported Prefect)
or a flow or task is running; ``LAMIN_PREFECT_EVENTS=true`` forces them on.

Example:
    >>> import lamin_flows as ln
    >>> ln.save(ln.File.from_dir("./landing"))   # with PREFECT_API_URL set: one event per new File
    >>> from lamin_flows.tracking import events
    >>> events.flush()                            # wait until they are delivered (tests, short scripts)
    True
"""

from __future__ import annotations

import atexit
import datetime as dt
import operator
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lamin_flows.config import get_settings, prefect_api_url_from_env
from lamin_flows.registry import hooks

_UNSET = object()


@dataclass
class Batch:
    """The events of one save (or one Run end), as plain values, for the sender thread."""

    api_url: str | None
    kind: str  # "files", "run", or "close" (flush: close the connection once everything before is sent)
    rows: list[tuple[Any, ...]]
    context: dict[str, Any]
    occurred: dt.datetime
    done: threading.Event = field(default_factory=threading.Event)


_queue: queue.Queue[Batch] = queue.Queue()
_lock = threading.Lock()
_idle = threading.Condition(_lock)
_thread: threading.Thread | None = None
_pending = 0
_roots: dict[tuple[str, str], str] = {}  # (instance, storage id) -> storage root
stats = {"queued": 0, "sent": 0, "dropped": 0}
_sender_imports_prefect = False  # the sender thread, not the user, is importing Prefect
_prefect_imported = threading.Event()


def _prefect_loaded(module: str) -> bool:
    """Whether ``module`` of Prefect is imported and usable from this thread.

    While the sender thread imports Prefect, its modules are in ``sys.modules`` half-initialized;
    touching them from the save's thread then would race that import.
    """
    if module not in sys.modules:
        return False
    return not _sender_imports_prefect or _prefect_imported.is_set()


def destination() -> Any:
    """The Prefect API URL events go to; None: a running flow's temporary server; ``_UNSET``: off."""
    mode = get_settings().prefect_events
    if mode is False:
        return _UNSET
    url = prefect_api_url_from_env()
    if _prefect_loaded("prefect.settings"):  # Prefect's own settings (profiles, temporary_settings) win
        from prefect.settings import get_current_settings

        url = get_current_settings().api.url or None
        if url is None and _flow_run_id() is not None:
            return None  # a flow run on Prefect's temporary server: Prefect's client finds it
    if url is None and mode is not True:
        return _UNSET
    return url


def _flow_run_id() -> str | None:
    if not _prefect_loaded("prefect.context"):  # no Prefect imported (by the user): no flow can be running
        return None
    from lamin_flows.tracking.prefect_runs import current_flow_run

    found = current_flow_run()
    return found[0] if found else None


def _storage_roots(storage_ids: set[str]) -> tuple[str, dict[str, str]]:
    """The instance's name and the root of each storage (one query for storages not seen before)."""
    from lamin_flows.registry import instance
    from lamin_flows.registry.models import Storage

    name = instance.current().config.name
    missing = [s for s in storage_ids if (name, s) not in _roots]
    if missing:
        for storage in Storage.select(id__in=missing).all():
            _roots[(name, storage.id)] = storage.root
    return name, {s: _roots.get((name, s), "") for s in storage_ids}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _submit(batch: Batch) -> None:
    global _thread, _pending, _sender_imports_prefect
    with _lock:
        _pending += 1
        stats["queued"] += len(batch.rows)
        if _thread is None or not _thread.is_alive():
            if "prefect" not in sys.modules:
                _sender_imports_prefect = True
            _thread = threading.Thread(target=_work, name="lamin-prefect-events", daemon=True)
            _thread.start()
    _queue.put(batch)


FILE_FIELDS = ("id", "key", "suffix", "size", "hash", "storage_id", "run_id", "transform_id", "name")
_get_fields = operator.itemgetter(*FILE_FIELDS)


def _file_rows(files: list[Any]) -> list[tuple[Any, ...]]:
    """``FILE_FIELDS`` + (version,) of each File.

    Read from the instances' ``__dict__``: through SQLAlchemy's attribute descriptors the same
    tuples cost ~8 µs per File, 12 times more, which was 10 % of saving 10,000 Files.
    """
    if not files:
        return []
    cls = type(files[0])
    version_column = "version" in cls.__table__.c  # Files may or may not have versions yet
    rows = []
    for f in files:
        values = f.__dict__
        try:
            row = _get_fields(values)
        except KeyError:  # an attribute not loaded into __dict__: the slow, sure way
            row = tuple(getattr(f, name) for name in FILE_FIELDS)
        version = values.get("version") if version_column else getattr(f, "version", None)
        rows.append((*row, version))
    return rows


def files_saved(files: list[Any]) -> None:
    """After a save committed: queue one ``lamin.file.saved`` event per new File, if events are on."""
    url = destination()
    if url is _UNSET:
        return
    rows = _file_rows(files)
    instance_name, roots = _storage_roots({row[5] for row in rows})
    context = {"instance": instance_name, "roots": roots, "flow_run_id": _flow_run_id()}
    _submit(Batch(url, "files", rows, context, _now()))


def run_ended(run: Any) -> None:
    """After a Run ended: queue its ``lamin.run.<status>`` event, if events are on."""
    url = destination()
    if url is _UNSET:
        return
    from lamin_flows.registry import instance

    flow_run_id = run.reference if run.reference_type == "prefect-flow-run" else _flow_run_id()
    row = (run.id, run.status, run.transform_id, run.parent_id, run.error)
    context = {"instance": instance.current().config.name, "flow_run_id": flow_run_id}
    _submit(Batch(url, "run", [row], context, _now()))


IDLE_CLOSE_S = 2.0  # the sender keeps its connection this long after the last batch


def _work() -> None:
    global _pending
    sender: Any = None  # lamin_flows.tasks.events, imported by the first batch
    while True:
        try:
            batches = [_queue.get(timeout=IDLE_CLOSE_S)]
        except queue.Empty:
            if sender is not None:
                _close(sender)
            continue
        while True:  # whatever queued up meanwhile goes through the same connection
            try:
                batches.append(_queue.get_nowait())
            except queue.Empty:
                break
        real = [b for b in batches if b.kind != "close"]
        sent = 0
        try:
            # Prefect is imported here, off the save's path; the sender lives in the tasks layer above,
            # which the package root names (tracking never imports tasks)
            sender = hooks.provider("prefect_events")

            _prefect_imported.set()
            if real:
                sent = sender.deliver(real)
        except Exception:  # deliver() reports its own failures; an import error drops the batch  # noqa: BLE001
            sent = 0
        if sender is not None and len(real) < len(batches):
            _close(sender)  # flush() asked: a clean close is the server's receipt for what was sent
        with _lock:
            stats["sent"] += sent
            stats["dropped"] += sum(len(b.rows) for b in batches) - sent
            _pending -= len(batches)
            _idle.notify_all()
        for batch in batches:
            batch.done.set()


def _close(sender: Any) -> None:
    try:
        sender.close()
    except Exception:  # closing a broken connection: nothing more to deliver on it  # noqa: BLE001
        pass


def flush(timeout: float = 30.0) -> bool:
    """Wait until every queued event was sent (or given up on).

    Args:
        timeout: seconds to wait at most.

    Returns:
        Whether the queue drained in time.

    Example:
        >>> events.flush(timeout=10)
        True
    """
    deadline = time.monotonic() + timeout
    with _lock:
        running = _thread is not None and _thread.is_alive()
    if running:
        _submit(Batch(None, "close", [], {}, _now()))
    with _lock:
        while _pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _idle.wait(left)
    return True


atexit.register(flush, 10.0)  # a short script's last events still leave before the interpreter does
