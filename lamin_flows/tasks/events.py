"""Sending the registry's events to Prefect, through Prefect's own events client.

:mod:`lamin_flows.tracking.events` queues them after each save (one batch per save); its
background thread calls :func:`deliver` here, which builds Prefect ``Event`` objects and sends
every waiting batch through one events client (one websocket connection).

Every File a save inserts becomes one event:

* ``event``: ``lamin.file.saved``;
* ``resource``: ``lamin.file.<id>`` with labels ``lamin.file.key``, ``lamin.file.version`` (when
  Files have versions), ``lamin.file.suffix``, ``lamin.file.size``, ``lamin.file.hash``,
  ``lamin.storage.root``, ``lamin.instance`` and ``lamin.run.id`` (so a trigger can react once
  per Run with ``for_each: [lamin.run.id]``);
* ``related``: the Run (role ``run``), the Transform (``transform``) and the Prefect flow run
  (``flow-run``) that saved it;
* ``payload``: ``file_id``, ``key``, ``run_id``, ``size``, for deployment trigger parameters
  (``"{{ event.payload.file_id }}"``).

A tracked Run that ends emits ``lamin.run.completed`` / ``lamin.run.failed`` (or the other final
statuses) on the resource ``lamin.run.<id>``.

An unreachable server is reported once as a warning; for ``RETRY_AFTER_S`` seconds after a
failure, batches are dropped without trying, so a dead server never slows saves down.

Example:
    $ export PREFECT_API_URL=http://127.0.0.1:4200/api
    $ python -c "import lamin_flows as ln; ln.File('a.csv', key='raw/a.csv').save()"
    $ # Prefect UI, Events: lamin.file.saved on lamin.file.<id>, key raw/a.csv
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from lamin_flows import _logging

if TYPE_CHECKING:
    from lamin_flows.tracking.events import Batch

FILE_SAVED = "lamin.file.saved"
RETRY_AFTER_S = 30.0
RECONNECT_ATTEMPTS = 10  # Prefect's default: a connection lost mid-batch is re-opened and its unconfirmed events resent
HEALTH_TIMEOUT_S = 3.0
_warned = False
_failed_at: float | None = None


# ---- the background sender ----------------------------------------------------------------
def _related(run_id: str | None, transform_id: str | None, flow_run_id: str | None) -> list[dict[str, str]]:
    related = []
    if run_id:
        related.append({"prefect.resource.id": f"lamin.run.{run_id}", "prefect.resource.role": "run"})
    if transform_id:
        related.append({"prefect.resource.id": f"lamin.transform.{transform_id}", "prefect.resource.role": "transform"})
    if flow_run_id:
        related.append({"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"})
    return related


def file_event_fields(row: tuple[Any, ...], context: dict[str, Any]) -> dict[str, Any]:
    """The fields of the ``lamin.file.saved`` event of one File row (see the module docstring)."""
    file_id, key, suffix, size, hash_, storage_id, run_id, transform_id, name, version = row
    resource = {
        "prefect.resource.id": f"lamin.file.{file_id}",
        "prefect.resource.name": key or name or file_id,
        "lamin.file.suffix": suffix or "",
        "lamin.file.size": "" if size is None else str(size),
        "lamin.file.hash": hash_ or "",
        "lamin.storage.root": context["roots"].get(storage_id, ""),
        "lamin.instance": context["instance"],
        "lamin.run.id": run_id or "",
    }
    if key is not None:
        resource["lamin.file.key"] = key
    if version is not None:
        resource["lamin.file.version"] = str(version)
    return {
        "event": FILE_SAVED,
        "resource": resource,
        "related": _related(run_id, transform_id, context["flow_run_id"]),
        "payload": {"file_id": file_id, "key": key, "run_id": run_id, "size": size},
    }


def _run_event_fields(row: tuple[Any, ...], context: dict[str, Any]) -> dict[str, Any]:
    run_id, status, transform_id, parent_id, error = row
    resource = {
        "prefect.resource.id": f"lamin.run.{run_id}",
        "lamin.run.status": status or "",
        "lamin.instance": context["instance"],
    }
    related = _related(parent_id, transform_id, context["flow_run_id"])
    if parent_id:
        related[0]["prefect.resource.role"] = "parent-run"
    return {
        "event": f"lamin.run.{status}",
        "resource": resource,
        "related": related,
        "payload": {"run_id": run_id, "status": status, "error": (error or "")[:2000] or None},
    }


_loop: asyncio.AbstractEventLoop | None = None  # the sender thread's loop, kept between batches
_clients: dict[str | None, Any] = {}  # open events clients by API URL: one websocket, reused


async def _client(url: str | None) -> Any:
    from prefect.events.clients import PrefectEventsClient, get_events_client

    client = _clients.get(url)
    if client is None:
        if url:
            await _check_health(url)
        client = (
            PrefectEventsClient(api_url=url, reconnection_attempts=RECONNECT_ATTEMPTS)
            if url
            else get_events_client(reconnection_attempts=RECONNECT_ATTEMPTS)
        )
        await client.__aenter__()
        _clients[url] = client
    return client


async def _check_health(url: str) -> None:
    """Fail fast on a server that is down, instead of the client's ten reconnection attempts (~10 s)."""
    import httpx

    async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT_S) as http:
        response = await http.get(f"{url.rstrip('/')}/health")
        response.raise_for_status()


async def _send(batches: list[Batch]) -> int:
    from prefect.events import Event

    sent = 0
    for batch in batches:
        client = await _client(batch.api_url)
        build = file_event_fields if batch.kind == "files" else _run_event_fields
        for row in batch.rows:
            await client.emit(Event(occurred=batch.occurred, **build(row, batch.context)))  # type: ignore[arg-type]  # pydantic takes a datetime
        sent += len(batch.rows)
    return sent


async def _close_all() -> None:
    clients = list(_clients.values())
    _clients.clear()
    for client in clients:
        try:
            await client.__aexit__(None, None, None)
        except Exception:  # a connection that is already gone has nothing left to close  # noqa: BLE001
            pass


def deliver(batches: list[Batch]) -> int:
    """Send the events of ``batches``; the number sent (0 when the server could not be reached).

    Called from the sender thread only; the connection stays open for the next batches until
    :func:`close` (the thread calls it after a few idle seconds). Never raises: the first failure
    of a process is a warning, later ones are silent.
    """
    global _warned, _failed_at, _loop
    if _failed_at is not None and time.monotonic() - _failed_at < RETRY_AFTER_S:
        return 0
    if _loop is None:
        _loop = asyncio.new_event_loop()
    try:
        sent = _loop.run_until_complete(_send(batches))
    except Exception as exc:  # noqa: BLE001 - events are a by-product: an unreachable server never fails a save
        _failed_at = time.monotonic()
        _loop.run_until_complete(_close_all())
        if not _warned:
            _warned = True
            url = batches[0].api_url or "Prefect's temporary server"
            _logging.warning(
                f"could not send lamin_flows events to the Prefect API at {url} ({type(exc).__name__}: {exc});"
                " saves go on without them (set LAMIN_PREFECT_EVENTS=false to stop trying)"
            )
        return 0
    _failed_at = None
    return sent


def close() -> None:
    """Close the open connections, after the server confirmed every event sent (sender thread only)."""
    if _loop is not None and _clients:
        _loop.run_until_complete(_close_all())


def reset_failures() -> None:
    """Forget an earlier delivery failure (and its warning), so the next batch is tried (tests)."""
    global _warned, _failed_at
    _warned, _failed_at = False, None
