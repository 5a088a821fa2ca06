"""What the pages and the JSON API show, as plain dicts, read through the registry's query sets.

Every page is rendered from the same dict its ``/api/`` twin returns, so a script and the
browser see the same data. Lists page by key set (``after=`` the last row's sort value and id),
which stays as fast on the last page of 100,000 Files as on the first.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lamin_flows.errors import ValidationError
from lamin_flows.registry.listing import human_size
from lamin_flows.registry.query import _python_type

PAGE = 50
MAX_PAGE = 500
FILE_SORTS = ("created_at", "key", "size", "suffix", "version")
RUN_SORTS = ("started_at", "finished_at", "status", "created_at")
RELATED_MAX = 200  # inputs and outputs shown on a Run's page


def iso(value: Any) -> str | None:
    """A date-time as ISO text in UTC with microseconds (the JSON form; page cursors need them), None for None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _encode(value: Any, record_id: str) -> str:
    plain = iso(value) if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(json.dumps([plain, record_id]).encode()).decode()


def _decode(cursor: str, column: Any) -> tuple[Any, str]:
    try:
        value, record_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if value is not None and _python_type(column) is datetime:
            value = datetime.fromisoformat(value)
        return value, str(record_id)
    except Exception as exc:
        raise ValidationError(f"after={cursor!r} is not a page cursor of this list; start from the first page") from exc


def _after(column: Any, id_column: Any, value: Any, record_id: str, descending: bool, nulls_low: bool) -> Any:
    """Rows after ``(value, record_id)`` in ``ORDER BY column, id`` (both ascending or descending).

    NULLs sort as the smallest value on SQLite and as the largest on PostgreSQL; the condition
    follows the database's own order so the ORDER BY keeps using the column's index.
    """
    beyond = (lambda c, v: c < v) if descending else (lambda c, v: c > v)
    nulls_first = nulls_low != descending
    tie = beyond(id_column, record_id)
    if value is None:
        same = sa.and_(column.is_(None), tie)
        return sa.or_(same, column.is_not(None)) if nulls_first else same
    later = sa.or_(beyond(column, value), sa.and_(column == value, tie))
    return later if nulls_first else sa.or_(later, column.is_(None))


def page(query: Any, sort: str, sorts: tuple[str, ...], after: str | None, limit: int) -> tuple[list[dict], str | None]:
    """One page of ``query`` ordered by ``sort`` (``-`` for descending) then id; rows and the next cursor."""
    from lamin_flows.registry import instance

    name = sort.lstrip("-")
    if name not in sorts:
        raise ValidationError(f"sort={sort!r}: sort by one of {', '.join(sorts)} (prefix - for descending)")
    limit = max(1, min(int(limit), MAX_PAGE))
    descending = sort.startswith("-")
    table = query.model.__table__
    ordered = query.order_by(sort, "-id" if descending else "id")
    if after:
        value, record_id = _decode(after, table.c[name])
        nulls_low = instance.current().engine.dialect.name == "sqlite"
        ordered = ordered._where(_after(table.c[name], table.c.id, value, record_id, descending, nulls_low))
    rows = ordered.limit(limit + 1).values()
    cursor = _encode(rows[limit - 1][name], rows[limit - 1]["id"]) if len(rows) > limit else None
    return rows[:limit], cursor


def _day(value: str, field: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"{field}={value!r}: give a date such as 2026-11-26") from exc
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def file_query(params: dict[str, str]) -> Any:
    """The Files matching the list's search box and filters (latest versions)."""
    import lamin_flows as ln

    query = ln.File.select()
    text = (params.get("q") or "").strip()
    if text:
        query = query.filter(ln.Q(key__icontains=text) | ln.Q(name__icontains=text) | ln.Q(description__icontains=text))
    simple = {
        "suffix": "suffix",
        "tag": "tags__name",
        "project": "projects__name",
        "transform": "transform__name",
        "storage": "storage_id",
        "run": "run_id",
    }  # run: every version the run wrote
    for param, field in simple.items():
        if params.get(param):
            query = query.filter(**{field: params[param]})
    if params.get("since"):
        query = query.filter(created_at__gte=_day(params["since"], "since"))
    if params.get("until"):
        query = query.filter(created_at__lt=_day(params["until"], "until") + timedelta(days=1))
    return query


def _transform_names(ids: set[str]) -> dict[str, str]:
    from lamin_flows.registry.listing import transform_names

    return transform_names({i for i in ids if i})


def file_row(row: dict[str, Any], transforms: dict[str, str]) -> dict[str, Any]:
    """A File as the lists show it: the columns, the size for people, the transform's name."""
    return {
        "id": row["id"],
        "key": row["key"],
        "name": row["name"],
        "version": row["version"],
        "suffix": row["suffix"],
        "size": row["size"],
        "size_human": human_size(row["size"]),
        "hash": row["hash"],
        "created_at": iso(row["created_at"]),
        "run_id": row["run_id"],
        "transform_id": row["transform_id"],
        "transform": transforms.get(row["transform_id"] or ""),
        "is_latest": bool(row["is_latest"]),
        "description": row.get("description"),
    }


def files_list(params: dict[str, str]) -> dict[str, Any]:
    """The Files page: one page of rows, the total, the next page's cursor, the filter choices."""
    query = file_query(params)
    sort = params.get("sort") or "-created_at"
    rows, cursor = page(query, sort, FILE_SORTS, params.get("after"), int(params.get("limit") or PAGE))
    transforms = _transform_names({r["transform_id"] for r in rows})
    return {
        "total": query.count(),
        "sort": sort,
        "next": cursor,
        "files": [file_row(r, transforms) for r in rows],
        "filters": {k: v for k, v in params.items() if k not in ("after", "sort", "limit") and v},
    }


def filter_choices() -> dict[str, list[Any]]:
    """The values the Files filters offer: tags, projects, transforms, storages (small tables)."""
    import lamin_flows as ln

    return {
        "tags": ln.Tag.select().order_by("name").list("name"),
        "projects": ln.Project.select().order_by("name").list("name"),
        "transforms": sorted(set(ln.Transform.select().list("name"))),
        "storages": [
            {"id": s["id"], "root": s["root"]} for s in ln.Storage.select().order_by("root").values("id", "root")
        ],
    }


def _run_brief(run: Any, transforms: dict[str, Any]) -> dict[str, Any]:
    from lamin_flows.config import prefect_ui_url
    from lamin_flows.tracking.prefect_runs import REFERENCE_TYPE

    transform = transforms.get(run.transform_id)
    duration = (run.finished_at - run.started_at).total_seconds() if run.started_at and run.finished_at else None
    base = prefect_ui_url()
    prefect = (
        f"{base}/runs/flow-run/{run.reference}"
        if base and run.reference_type == REFERENCE_TYPE and run.reference
        else None
    )
    return {
        "id": run.id,
        "status": run.status,
        "transform_id": run.transform_id,
        "transform": transform.name if transform is not None else None,
        "version": transform.version if transform is not None else None,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration_s": duration,
        "params": run.params,
        "error": run.error,
        "parent_id": run.parent_id,
        "prefect_url": prefect,
        "reference": run.reference,
        "reference_type": run.reference_type,
    }


def _transforms_of(runs: list[Any]) -> dict[str, Any]:
    import lamin_flows as ln

    ids = sorted({r.transform_id for r in runs})
    return {t.id: t for t in ln.Transform.select(id__in=ids).all()} if ids else {}


def runs_list(params: dict[str, str]) -> dict[str, Any]:
    """The Runs page: latest first, filterable by status and transform name."""
    import lamin_flows as ln

    query = ln.Run.select()
    if params.get("status"):
        query = query.filter(status=params["status"])
    if params.get("transform"):
        query = query.filter(transform__name=params["transform"])
    sort = params.get("sort") or "-started_at"
    rows, cursor = page(query, sort, RUN_SORTS, params.get("after"), int(params.get("limit") or PAGE))
    runs = ln.Run.select(id__in=[r["id"] for r in rows]).all() if rows else []
    by_id = {r.id: r for r in runs}
    transforms = _transforms_of(runs)
    return {
        "total": query.count(),
        "sort": sort,
        "next": cursor,
        "runs": [_run_brief(by_id[r["id"]], transforms) for r in rows if r["id"] in by_id],
        "filters": {k: v for k, v in params.items() if k in ("status", "transform") and v},
    }


def _file_rows(files: list[Any]) -> list[dict[str, Any]]:
    transforms = _transform_names({f.transform_id for f in files})
    return [file_row(f._values() if hasattr(f, "_values") else f, transforms) for f in files]


def run_detail(run_id: str) -> dict[str, Any] | None:
    """A Run's page: the run, its inputs and outputs (the first 200 of each, with counts), children."""
    import lamin_flows as ln

    run = ln.Run.select(id=run_id).one_or_none()
    if run is None:
        return None
    children = ln.Run.select(parent_id=run.id).order_by("started_at").all()
    parent = ln.Run.select(id=run.parent_id).one_or_none() if run.parent_id else None
    transforms = _transforms_of([run, *children, *([parent] if parent else [])])
    outputs = ln.File.select(run_id=run.id).order_by("key")
    inputs = run.inputs.select().order_by("key")
    return {
        "run": _run_brief(run, transforms),
        "meta": run.meta,
        "parent": _run_brief(parent, transforms) if parent else None,
        "children": [_run_brief(c, transforms) for c in children],
        "outputs": _file_rows(outputs.limit(RELATED_MAX).all()),
        "n_outputs": outputs.count(),
        "inputs": _file_rows(inputs.limit(RELATED_MAX).all()),
        "n_inputs": inputs.count(),
    }


def _counts(column: Any) -> dict[str, int]:
    """``column`` value -> how many rows have it, in one GROUP BY query."""
    from lamin_flows.registry import db, instance

    stmt = sa.select(column, sa.func.count()).group_by(column)
    with db.read(instance.current().engine) as conn:
        return {row[0]: int(row[1]) for row in conn.execute(stmt)}


def transforms_list() -> dict[str, Any]:
    """The Transforms page: every Transform (name, version, type) with how many Runs it has."""
    import lamin_flows as ln

    runs = _counts(ln.Run.__table__.c.transform_id)
    transforms = ln.Transform.select().order_by("name", "version").all()
    return {
        "transforms": [
            {
                "id": t.id,
                "name": t.name,
                "version": t.version,
                "type": t.type,
                "reference": t.reference,
                "created_at": iso(t.created_at),
                "runs": runs.get(t.id, 0),
            }
            for t in transforms
        ]
    }


def transform_detail(transform_id: str) -> dict[str, Any] | None:
    """A Transform's page: its versions (Transforms of the same name) and its latest Runs."""
    import lamin_flows as ln

    transform = ln.Transform.select(id=transform_id).one_or_none()
    if transform is None:
        return None
    versions = ln.Transform.select(name=transform.name).order_by("created_at").all()
    runs = ln.Run.select(transform_id=transform.id).order_by("-started_at").limit(RELATED_MAX).all()
    listing = {transform.id: transform}
    return {
        "transform": {
            "id": transform.id,
            "name": transform.name,
            "version": transform.version,
            "type": transform.type,
            "reference": transform.reference,
            "source_hash": transform.source_hash,
        },
        "versions": [{"id": v.id, "version": v.version, "created_at": iso(v.created_at)} for v in versions],
        "runs": [_run_brief(r, listing) for r in runs],
        "n_runs": ln.Run.select(transform_id=transform.id).count(),
    }


def labels_list() -> dict[str, Any]:
    """The Tags/Projects page: every Tag and Project with how many Files carry it (any version)."""
    import lamin_flows as ln

    tag_link, project_link = (ln.File.metadata.tables[name] for name in ("file_tag", "file_project"))
    tags, projects = _counts(tag_link.c.tag_id), _counts(project_link.c.project_id)
    return {
        "tags": [
            {"id": t.id, "name": t.name, "files": tags.get(t.id, 0)} for t in ln.Tag.select().order_by("name").all()
        ],
        "projects": [
            {"id": p.id, "name": p.name, "files": projects.get(p.id, 0)}
            for p in ln.Project.select().order_by("name").all()
        ],
    }
