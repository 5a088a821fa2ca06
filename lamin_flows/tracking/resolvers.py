"""Finding the current Run where no context variable reaches: Prefect tasks elsewhere.

A Prefect task in a process pool or on a Dask worker does not share the flow's context
variables, but it knows its flow run id (and attempt). The flow's Run references that id, so
one query finds it; the answer is cached per database, flow run and attempt. Importing this
module registers the resolver with the registry (which imports it by name on first need).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from lamin_flows.registry.context import RunRef, add_resolver

if TYPE_CHECKING:
    from lamin_flows.tracking.runs import Frame

_CACHE_SIZE = 1024
_cache: OrderedDict[tuple[str, str, int], RunRef] = OrderedDict()
_lock = threading.Lock()


def _db_url() -> str:
    from lamin_flows.registry import instance

    return instance.current().config.url


def _put(key: tuple[str, str, int], ref: RunRef) -> None:
    with _lock:
        _cache[key] = ref
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)


def remember(flow_run_id: str, frame: Frame) -> None:
    """Note the Run of a flow run attempt that just started in this process."""
    attempt = (frame.run.meta or {}).get("prefect", {}).get("attempt") or 1
    _put((_db_url(), flow_run_id, attempt), RunRef(frame.run.id, frame.transform.id))


def prefect_flow_run() -> RunRef | None:
    """The Run of the Prefect flow run this code runs in (None outside Prefect or untracked flows)."""
    if "prefect.context" not in sys.modules:  # Prefect not imported: certainly not in a flow run
        return None
    from lamin_flows.tracking.prefect_runs import REFERENCE_TYPE, current_flow_run

    found = current_flow_run()
    if found is None:
        return None
    flow_run_id, attempt = found
    key = (_db_url(), flow_run_id, attempt or 1)
    ref = _cache.get(key)
    if ref is not None:
        return ref
    import sqlalchemy as sa

    from lamin_flows.registry import db, instance
    from lamin_flows.registry.models import Run

    table = Run.__table__
    stmt = (
        sa.select(table.c.id, table.c.transform_id)
        .where(table.c.reference == flow_run_id, table.c.reference_type == REFERENCE_TYPE)
        .order_by(table.c.started_at.desc())
        .limit(1)
    )
    with db.read(instance.current().engine) as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None  # an untracked flow; not cached, its Run may not exist yet
    ref = RunRef(row.id, row.transform_id)
    _put(key, ref)
    return ref


add_resolver(prefect_flow_run)
