"""Lazy query sets: ``ln.File.select(key__startswith="raw/").df()``.

Filters are compiled to SQLAlchemy expressions with bound parameters, so no value is ever
interpreted as SQL. Unknown fields raise :class:`~lamin_flows.errors.UnknownFieldError`
listing the valid ones.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any, cast

import sqlalchemy as sa

from lamin_flows.errors import MultipleResultsError, NoResultError, UnknownFieldError, ValidationError

LOOKUPS = (
    "exact",
    "iexact",
    "startswith",
    "endswith",
    "contains",
    "icontains",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "isnull",
)


def _plain(value: Any) -> Any:
    """Records stand for their id."""
    if hasattr(value, "_lf") and hasattr(value, "id"):
        return value.id
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def _escape_like(value: str) -> str:
    """``value`` with LIKE's wildcards escaped by "/" (as SQLAlchemy's ``autoescape=True`` does)."""
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


_TEXT_LOOKUPS = ("startswith", "endswith", "contains", "icontains", "iexact")


_INT64 = (-(2**63), 2**63 - 1)  # SQLite's INTEGER and PostgreSQL's bigint
_KINDS = ((sa.String, str), (sa.DateTime, datetime), (sa.Integer, int), (sa.JSON, dict))


def _python_type(column: Any) -> type | None:
    """What a column holds: str, datetime, int or dict (JSON); None for anything else."""
    kind = column.type
    if isinstance(kind, sa.types.TypeDecorator):  # SQLModel's AutoString and UTCDateTime
        kind = kind.impl_instance
    return next((python for sql, python in _KINDS if isinstance(kind, sql)), None)


def _coerce(column: Any, kind: type | None, value: Any, field: str) -> Any:
    """``value`` as the column (holding ``kind``) holds it, or a ValidationError that names the value and the fix.

    Without this a mismatch reaches the database driver and comes back as a raw error
    ("'str' object has no attribute 'utcoffset'", or PostgreSQL's "operator does not exist").
    """
    if kind is int and isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
        shown = f"{value!r}" if abs(value) < 10**40 else f"a number of {len(str(abs(value)))} digits"
        raise ValidationError(
            f"{field}={shown}: {column.name} holds 64-bit integers (at most {_INT64[1]:,});"
            " pass a value in that range (no stored value is beyond it)"
        )
    if value is None or kind is None or isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # naive date-times are read as UTC, like stored ones
        return value
    if kind is datetime:
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        if isinstance(value, str):
            try:
                return _coerce(column, kind, datetime.fromisoformat(value), field)
            except ValueError:
                pass
        raise ValidationError(
            f"{field}={value!r}: {column.name} holds date-times; pass a datetime or an ISO date such as '2026-11-26'"
        )
    if kind is int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value.strip()) < 100:
            return _coerce(column, kind, int(value), field)
        if isinstance(value, float) and value.is_integer():  # size__lt=1e4
            return _coerce(column, kind, int(value), field)
        raise ValidationError(f"{field}={value!r}: {column.name} holds whole numbers; pass an int such as 1024")
    if kind is str:
        raise ValidationError(f"{field}={value!r}: {column.name} holds text; pass a string")
    raise ValidationError(
        f"{field}={value!r}: {column.name} ({kind.__name__}) cannot be filtered in SQL; filter the .df() instead"
    )


def _apply(column: Any, lookup: str, value: Any, field: str) -> Any:
    value = _plain(value)
    base = field[: -len(lookup) - 2] if field.endswith("__" + lookup) else field  # "key" of "key__in"
    kind = _python_type(column)
    if lookup in _TEXT_LOOKUPS and kind not in (str, None):
        raise ValidationError(
            f"{field}: __{lookup} works on text fields, and {column.name} is not one; use __gt, __lt, ..."
        )
    if lookup == "in":
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ValidationError(f"{base}__in takes a list, got {value!r}; e.g. {base}__in=[{value!r}]")
        value = [_coerce(column, kind, v, field) for v in value]
    elif lookup != "isnull" and lookup not in _TEXT_LOOKUPS:
        value = _coerce(column, kind, value, field)
    if any(isinstance(v, str) and "\x00" in v for v in (value if isinstance(value, list) else [value])):
        # PostgreSQL cannot store NUL and SQLite compares past it wrongly ("\x00" would match "")
        raise ValidationError(f"{field}={value!r}: values cannot contain NUL characters (\\x00); remove them")
    if lookup == "isnull":
        return column.is_(None) if value else column.is_not(None)
    if lookup == "in":
        return column.in_(value)
    if value is None:
        if lookup == "exact":
            return column.is_(None)
        raise ValidationError(f"{base}__{lookup} cannot compare with None; use {base}__isnull=True")
    if lookup in _TEXT_LOOKUPS and not isinstance(value, str):
        raise ValidationError(f"{base}__{lookup} takes a string, got {type(value).__name__} {value!r}")
    if lookup == "exact":
        return column == value
    if lookup == "iexact":
        return sa.func.lower(column) == value.lower()
    if lookup == "startswith":
        # the whole pattern as one bound value: SQLAlchemy's startswith() sends `? || '%'`, and
        # SQLite (like PostgreSQL) uses an index for LIKE only when the pattern is a plain value
        return column.like(_escape_like(value) + "%", escape="/")
    if lookup == "endswith":
        return column.endswith(value, autoescape=True)
    if lookup == "contains":
        return column.contains(value, autoescape=True)
    if lookup == "icontains":
        return column.icontains(value, autoescape=True)
    return {"gt": column > value, "gte": column >= value, "lt": column < value, "lte": column <= value}[lookup]


def field_names(cls: Any) -> list[str]:
    """Every name ``select`` accepts for a registry: columns and relations."""
    names: list[str] = cls._columns() + list(cls._foreign_keys) + list(cls._many_to_many)
    return names


def compile_filter(cls: Any, expression: str, value: Any) -> Any:
    """Turn ``field__lookup=value`` into a SQL expression on ``cls``'s table."""
    from lamin_flows.registry.classes import registry_class

    parts = expression.split("__")
    lookup = "exact"
    if len(parts) > 1 and parts[-1] in LOOKUPS:
        lookup = parts.pop()
    name, rest = parts[0], parts[1:]
    table = cls.__table__
    if name in table.c:
        if rest:
            _unknown_lookup(cls, name, rest, expression)
        return _apply(table.c[name], lookup, value, expression)
    if name in cls._foreign_keys:
        column, registry = cls._foreign_keys[name]
        if not rest:
            _refuse_plain(cls, name, registry, value, expression, column)
            return _apply(table.c[column], lookup, value, expression)
        other = registry_class(registry)
        sub = other.select(**{"__".join(rest + [lookup]): value})._id_subquery()
        return table.c[column].in_(sub)
    if name in cls._many_to_many:
        link_name, own, other_column, registry = cls._many_to_many[name]
        link = cls.metadata.tables[link_name]
        if not rest:
            _refuse_plain(cls, name, registry, value, expression)
            if lookup not in ("exact", "in"):
                raise ValidationError(f"{expression}: relations take a record or __in=[records]")
            ids = _plain(value) if lookup == "in" else [_plain(value)]
            where = link.c[other_column].in_(ids)
        else:
            other = registry_class(registry)
            where = link.c[other_column].in_(other.select(**{"__".join(rest + [lookup]): value})._id_subquery())
        return table.c.id.in_(sa.select(link.c[own]).where(where))
    from lamin_flows.errors import did_you_mean

    raise UnknownFieldError(
        f"{cls.__name__} has no field {name!r} (in {expression}={value!r}).{did_you_mean(name, field_names(cls))} "
        f"Valid fields: {', '.join(field_names(cls))}; lookups: __{', __'.join(LOOKUPS)}."
    )


def _unknown_lookup(cls: Any, name: str, rest: list[str], expression: str) -> None:
    """``key__startwith``: the field exists, the lookup does not; name the lookup, not the field."""
    from lamin_flows.errors import did_you_mean

    suffix = "__".join(rest)
    if all(part in LOOKUPS for part in rest):  # key__in__in: one lookup too many
        raise UnknownFieldError(
            f"{expression}: one lookup per field, got __{expression[len(name) + 2 :]}; write {name}__{rest[0]}=... (valid lookups:"
            f" __{', __'.join(LOOKUPS)})."
        )
    hint = did_you_mean(suffix, LOOKUPS).replace("'", "'__", 1) if len(rest) == 1 else ""
    raise UnknownFieldError(
        f"{expression}: {cls.__name__}.{name} has no lookup __{suffix}.{hint} Valid lookups: __{', __'.join(LOOKUPS)}."
    )


def _refuse_plain(cls: Any, name: str, registry: str, value: Any, expression: str, column: str | None = None) -> None:
    """A relation compared with plain text (``tags="Sample 0001"``) would silently match nothing."""
    values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    if not any(isinstance(v, str) for v in values):
        return
    by_id = f", or {column}= for an id" if column else ""
    field = "handle" if registry == "User" else "key" if registry == "File" else "name"
    raise ValidationError(
        f"{expression}={value!r}: {name} takes {registry} records; to filter by a field of the {registry},"
        f" use {name}__{field}={value!r} (or {name}__id=...){by_id}"
    )


class QuerySet:
    """A lazy query over one registry; nothing runs until you ask for rows.

    Example:
        >>> qs = ln.File.select(suffix=".csv").order_by("-created_at")
        >>> qs.df()           # a pandas DataFrame
        >>> qs.first()        # a File or None
        >>> len(qs)           # a COUNT query
    """

    def __init__(self, model: Any, *, all_versions: bool = False) -> None:
        self.model = model
        self._clauses: list[Any] = []
        self._order: list[Any] = []
        self._limit: int | None = None
        self._offset: int | None = None
        # Files: latest versions only, unless asked for all or a filter names a version field
        self._latest_only = bool(getattr(model, "_version_fields", ())) and not all_versions

    def _copy(self) -> QuerySet:
        new = QuerySet(self.model)
        new._clauses, new._order = list(self._clauses), list(self._order)
        new._limit, new._offset = self._limit, self._offset
        new._latest_only = self._latest_only
        return new

    def _conditions(self) -> list[Any]:
        """The WHERE clauses, with "latest versions only" for a registry with versions."""
        if self._latest_only:
            return [*self._clauses, self.model.__table__.c.is_latest == sa.true()]
        return self._clauses

    def _where(self, clause: Any) -> QuerySet:
        new = self._copy()
        new._clauses.append(clause)
        return new

    def filter(self, /, *queries: Any, **filters: Any) -> QuerySet:
        """Narrow the query; same arguments as ``Registry.select`` (``ln.Q`` objects and ``field=value``)."""
        new = self._copy()
        for query in queries:
            if not hasattr(query, "compile"):
                raise ValidationError(
                    f"select() takes ln.Q(...) objects and field=value filters, got {query!r};"
                    " e.g. select(ln.Q(suffix='.csv') | ln.Q(suffix='.tsv'))"
                )
            new._clauses.append(query.compile(self.model, compile_filter))
        new._clauses.extend(compile_filter(self.model, k, v) for k, v in filters.items())
        version_fields = getattr(self.model, "_version_fields", ())
        if new._latest_only and any(name.split("__", 1)[0] in version_fields for name in filters):
            new._latest_only = False  # File.select(id=...), (is_latest=False), (version="2"): any version
        return new

    select = filter

    def exclude(self, /, *queries: Any, **filters: Any) -> QuerySet:
        """Drop the records matching the filters (records where the field is empty stay).

        Example:
            >>> ln.File.select(suffix=".csv").exclude(key__startswith="tmp/")
        """
        from lamin_flows.registry.q import Q

        return self.filter(~Q(*queries, **filters))

    def get(self, id: str | None = None, /, *queries: Any, **filters: Any) -> Any:  # noqa: A002 (the classic name)
        """The one record with this id, or matching the filters.

        Raises:
            NoResultError: nothing matches.
            MultipleResultsError: several records match.

        Example:
            >>> ln.Tag.select().get(name="Sample 0001")
            >>> ln.File.select().get("3Hv5Ykm2T1Ejz8HnQ2bC")
        """
        if id is not None:
            filters["id"] = id
        return self.filter(*queries, **filters).one()

    def list(self, field: str | None = None) -> list[Any]:
        """The matching records as a list, or the values of one field.

        Example:
            >>> ln.Tag.select().list("name")
        """
        if field is None:
            return self.all()
        return [row[field] for row in self.values(field)]

    def values(self, *fields: str) -> builtins.list[dict[str, Any]]:
        """The matching rows as dicts of the given columns (all columns if none are given).

        Example:
            >>> ln.File.select(suffix=".csv").values("key", "size")
            [{'key': 'mini.csv', 'size': 1024}]
        """
        table = self.model.__table__
        unknown = [f for f in fields if f not in table.c]
        if unknown:
            raise UnknownFieldError(
                f"{self.model.__name__} has no column {', '.join(map(repr, unknown))}; columns: {', '.join(table.c.keys())}"
            )
        names = list(fields) or table.c.keys()
        return [dict(row._mapping) for row in self._rows(self._statement([table.c[n] for n in names]))]

    def delete(self, storage: bool = False) -> int:
        """Delete every matching record at once; for Files, their data is kept unless ``storage=True``.

        Returns:
            How many records were deleted.

        Example:
            >>> ln.File.select(key__startswith="tmp/").delete()
            >>> ln.File.select(key__startswith="scratch/").delete(storage=True)
        """
        from lamin_flows.registry import query_tools

        return query_tools.delete(self, storage)

    def search(self, text: str, limit: int | None = 20) -> builtins.list[Any]:
        """The records whose name, key (or handle) or description contain ``text``, best match first.

        Example:
            >>> ln.File.select(suffix=".csv").search("iris")
        """
        from lamin_flows.registry import query_tools

        return query_tools.search(self, text, limit)

    def lookup(self, field: str | None = None) -> Any:
        """The matching records as attributes by name: ``ln.Tag.lookup().sample_0001``.

        Example:
            >>> tags = ln.Tag.select().lookup()
            >>> file.tags.add(tags.sample_0001)
        """
        from lamin_flows.registry import query_tools

        return query_tools.lookup(self, field)

    def order_by(self, *fields: str) -> QuerySet:
        """Sort by fields; prefix with ``-`` for descending.

        Example:
            >>> ln.Run.select().order_by("-started_at").first()
        """
        table = self.model.__table__
        new = self._copy()
        for field in fields:
            name = field.lstrip("-")
            if name not in table.c:
                raise UnknownFieldError(
                    f"cannot order {self.model.__name__} by {name!r}; columns: {', '.join(table.c.keys())}"
                )
            new._order.append(table.c[name].desc() if field.startswith("-") else table.c[name].asc())
        return new

    def limit(self, n: int) -> QuerySet:
        """At most ``n`` records."""
        new = self._copy()
        new._limit = n
        return new

    def _statement(self, columns: Any = None) -> Any:
        table = self.model.__table__
        stmt = sa.select(*(columns if columns is not None else [table]))
        conditions = self._conditions()
        if conditions:
            stmt = stmt.where(*conditions)
        order = self._order or [table.c.created_at.asc(), table.c.id.asc()]
        stmt = stmt.order_by(*order)
        if self._limit is not None:
            stmt = stmt.limit(self._limit)
        if self._offset:
            stmt = stmt.offset(self._offset)
        return stmt

    def _id_subquery(self) -> Any:
        table = self.model.__table__
        stmt = sa.select(table.c.id)
        conditions = self._conditions()
        return stmt.where(*conditions) if conditions else stmt

    def _rows(self, stmt: Any) -> builtins.list[Any]:
        from lamin_flows.registry import db, instance

        with db.read(instance.current().engine) as conn:
            # Result.all() makes a list; SQLAlchemy's annotation says Sequence
            return cast("builtins.list[Any]", conn.execute(stmt).all())

    def all(self) -> builtins.list[Any]:
        """Every matching record, as a list."""
        return [self.model._from_row(row) for row in self._rows(self._statement())]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.all())

    def __getitem__(self, item: int | slice) -> Any:
        if isinstance(item, slice):
            if item.step not in (None, 1) or (item.start or 0) < 0 or (item.stop is not None and item.stop < 0):
                return self.all()[item]
            new = self._copy()
            new._offset = item.start or 0
            if item.stop is not None:
                new._limit = item.stop - new._offset
            return new.all()
        return self.all()[item]

    def first(self) -> Any:
        """The first record (oldest unless ordered otherwise), or None."""
        new = self._copy()
        new._limit = 1
        records = new.all()
        return records[0] if records else None

    def one_or_none(self) -> Any:
        """The only matching record, None if there is none; error if there are several."""
        new = self._copy()
        new._limit = 2
        records = new.all()
        if len(records) > 1:
            raise MultipleResultsError(
                f"expected at most one {self.model.__name__}, found several; narrow the query or use .first()"
            )
        return records[0] if records else None

    def one(self) -> Any:
        """The only matching record; NoResultError or MultipleResultsError otherwise."""
        record = self.one_or_none()
        if record is None:
            raise NoResultError(
                f"no {self.model.__name__} matches this query; check the filters, or use .one_or_none() / .first()"
            )
        return record

    def count(self) -> int:
        """How many records match (one COUNT query)."""
        stmt = sa.select(sa.func.count()).select_from(self.model.__table__)
        conditions = self._conditions()
        if conditions:
            stmt = stmt.where(*conditions)
        return int(self._rows(stmt)[0][0])

    __len__ = count

    def exists(self) -> bool:
        """Whether any record matches."""
        return self.first() is not None

    def df(
        self,
        columns: builtins.list[str] | None = None,
        *,
        include: builtins.list[str] | None = None,
        exclude: builtins.list[str] | None = None,
    ) -> Any:
        """The matching records as a pandas DataFrame indexed by ``id``.

        Printed in a terminal it shows the most important columns for the width (see
        :mod:`lamin_flows.registry.frame`); the data keeps every column and full values.

        Args:
            columns: only these columns (and ``id``, the index), in this order.
            include: add fields of related records as ``relation__field`` columns, e.g.
                ``"transform__name"`` (one value) or ``"tags__name"`` (a list per row).
            exclude: leave out these columns.

        Raises:
            UnknownFieldError: a column the registry does not have (the message lists them).

        Example:
            >>> ln.File.select(tags=tag).df()
            >>> ln.Run.select().df(columns=["status", "started_at"])
            >>> ln.File.select().df(include=["tags__name", "run__status"], exclude=["hash_type"])
        """
        from lamin_flows._gc import import_settled

        import_settled("pandas")
        from lamin_flows.registry.frame import record_frame

        table = self.model.__table__
        for name in exclude or []:
            if name not in table.c:
                raise UnknownFieldError(
                    f"df(exclude=[{name!r}]): {self.model.__name__} has no column {name!r}; valid columns: {', '.join(table.c.keys())}"
                )
        if columns is not None:
            unknown = [c for c in columns if c not in table.c]
            if unknown:
                raise UnknownFieldError(
                    f"{self.model.__name__} has no column {', '.join(map(repr, unknown))}; "
                    f"valid columns: {', '.join(table.c.keys())}"
                )
            columns = ["id"] + [c for c in dict.fromkeys(columns) if c != "id"]
        else:
            columns = list(self.model._display) + [c for c in table.c.keys() if c not in self.model._display]  # noqa: SIM118 - iterating a ColumnCollection gives columns, keys() their names
        shown = [c for c in columns if c == "id" or c not in (exclude or [])]
        # the foreign key columns an include needs are read even when they are not shown
        needed = [
            self.model._foreign_keys[i.split("__")[0]][0]
            for i in include or []
            if i.split("__")[0] in self.model._foreign_keys
        ]
        read = shown + [c for c in dict.fromkeys(needed) if c not in shown]
        # timestamps come back as the driver gives them and are converted per column by pandas:
        # SQLAlchemy's per-value conversion took a fifth of a 10,000-row query
        stamps = [c for c in read if isinstance(table.c[c].type, sa.DateTime)]
        selected = [sa.type_coerce(table.c[c], sa.String).label(c) if c in stamps else table.c[c] for c in read]
        rows = self._rows(self._statement(selected))
        frame = record_frame(self.model, rows, read, stamps)
        if include:
            from lamin_flows.registry.query_tools import add_related_columns

            add_related_columns(self, frame, list(include))
            hidden = [c for c in read if c not in shown]
            if hidden:
                frame = frame.drop(columns=hidden)
        return frame

    def __repr__(self) -> str:
        return f"<QuerySet {self.model.__name__}: {self.count()} records>"
