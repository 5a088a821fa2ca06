"""The heavier QuerySet operations: ``.search()``, ``.lookup()``, ``.delete()`` and ``.df(include=...)``."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from lamin_flows.errors import UnknownFieldError, ValidationError

# the fields a record is known by, best first; description is searched too, ranked last
NAME_FIELDS = ("name", "key", "handle")
LOOKUP_FIELD = {"File": "key", "User": "handle"}  # the others are looked up by name


def search(queryset: Any, text: str, limit: int | None = 20) -> list[Any]:
    """The records whose name, key, handle or description contain ``text``, best match first.

    Ranking: an exact match of a name (any case) first, then names starting with the text,
    then names containing it as a word, then containing it anywhere, then a match in the
    description only; ties go to the shorter name.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"search() takes a non-empty string, got {text!r}")
    model = queryset.model
    table = model.__table__
    names = [f for f in NAME_FIELDS if f in table.c]
    fields = names + (["description"] if "description" in table.c else [])
    needle = text.strip().lower()
    candidates = queryset._where(sa.or_(*[table.c[f].icontains(needle, autoescape=True) for f in fields])).all()
    word = re.compile(rf"(^|[\W_]){re.escape(needle)}([\W_]|$)")

    def score(record: Any) -> tuple[int, int]:
        best = 5
        for field in names:
            value = (getattr(record, field) or "").lower()
            base = value.rsplit("/", 1)[-1]
            if needle in (value, base):
                rank = 0
            elif value.startswith(needle) or base.startswith(needle):
                rank = 1
            elif word.search(value):
                rank = 2
            elif needle in value:
                rank = 3
            else:
                continue
            best = min(best, rank)
        if best == 5 and needle in (getattr(record, "description", None) or "").lower():
            best = 4
        shortest = min((len(getattr(record, f) or "") for f in names), default=0)
        return best, shortest

    ranked = sorted(candidates, key=score)
    return ranked if limit is None else ranked[:limit]


def identifier(value: str) -> str:
    """``"Sample 0001"`` -> ``"sample_0001"``: a name usable as a Python attribute."""
    name = re.sub(r"\W+", "_", value.strip().lower()).strip("_") or "_"
    return f"_{name}" if name[0].isdigit() else name


class Lookup:
    """Records by name as attributes, with tab completion: ``tags = ln.Tag.lookup(); tags.sample_0001``.

    Names become identifiers (lower case, other characters as ``_``); ``lookup["Sample 0001"]``
    takes the name as stored. Where two names give the same identifier, it holds a list.
    """

    def __init__(self, registry: str, field: str, records: list[Any]) -> None:
        by_name: dict[str, Any] = {}
        by_value: dict[str, Any] = {}
        for record in records:
            value = getattr(record, field)
            if value is None:
                continue
            by_value[value] = record
            name = identifier(value)
            if name in by_name:
                previous = by_name[name]
                by_name[name] = [*previous, record] if isinstance(previous, list) else [previous, record]
            else:
                by_name[name] = record
        object.__setattr__(self, "_registry", registry)
        object.__setattr__(self, "_field", field)
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_by_value", by_value)

    def __getattr__(self, name: str) -> Any:
        by_name = self.__dict__["_by_name"]
        if name in by_name:
            return by_name[name]
        from lamin_flows.errors import did_you_mean

        raise AttributeError(f"no {self._registry} with {self._field} {name!r}.{did_you_mean(name, by_name)}")

    def __getitem__(self, value: str) -> Any:
        try:
            return self._by_value[value]
        except KeyError:
            raise KeyError(f"no {self._registry} with {self._field} {value!r}") from None

    def __dir__(self) -> list[str]:
        return sorted(self._by_name)

    def __len__(self) -> int:
        return len(self._by_value)

    def __repr__(self) -> str:
        shown = ", ".join(sorted(self._by_name)[:10])
        more = f", ... ({len(self._by_name)} in all)" if len(self._by_name) > 10 else ""
        return f"<Lookup of {self._registry} by {self._field}: {shown}{more}>"


def lookup(queryset: Any, field: str | None = None) -> Lookup:
    """A :class:`Lookup` of the matching records by ``field`` (default: name, key for Files, handle for Users)."""
    model = queryset.model
    field = field or LOOKUP_FIELD.get(model.__name__, "name")
    if field not in model.__table__.c:
        raise UnknownFieldError(
            f"{model.__name__} has no field {field!r}; columns: {', '.join(model.__table__.c.keys())}"
        )
    return Lookup(model.__name__, field, queryset.all())


def delete(queryset: Any, storage: bool = False) -> int:
    """Delete every matching record; Files go through ``File.delete`` (their data kept unless ``storage=True``)."""
    from lamin_flows.registry.persist import delete_records

    records = queryset.all()
    if queryset.model.__name__ == "File":
        for file in records:
            file.delete(storage=storage)
    else:
        delete_records(records)
    return len(records)


def add_related_columns(queryset: Any, frame: Any, include: list[str]) -> None:
    """Add ``relation__field`` columns to a ``.df()``: one value per row, a list for many-to-many."""
    from lamin_flows.registry import db, instance
    from lamin_flows.registry.classes import registry_class

    model = queryset.model
    ids = list(frame.index)
    for spec in include:
        relation, _, field = spec.partition("__")
        if relation in model._foreign_keys:
            column, registry = model._foreign_keys[relation]
        elif relation in model._many_to_many:
            column, registry = None, model._many_to_many[relation][3]
        else:
            relations = [*model._foreign_keys, *model._many_to_many]
            raise UnknownFieldError(
                f"df(include=[{spec!r}]): {model.__name__} has no relation {relation!r}; relations: {', '.join(relations)}"
                " (write them as relation__field, e.g. tags__name)"
            )
        other = registry_class(registry)
        field = field or LOOKUP_FIELD.get(registry, "name")
        if field not in other.__table__.c:
            raise UnknownFieldError(
                f"df(include=[{spec!r}]): {registry} has no field {field!r}; columns: {', '.join(other.__table__.c.keys())}"
            )
        target = other.__table__
        with db.read(instance.current().engine) as conn:
            if column is not None:
                keys = [k for k in frame[column].dropna().unique()] if column in frame else []
                values: dict[Any, Any] = (
                    dict(conn.execute(sa.select(target.c.id, target.c[field]).where(target.c.id.in_(keys))).all())
                    if keys
                    else {}
                )
                frame[spec] = [values.get(k) for k in (frame[column] if column in frame else [None] * len(frame))]
            else:
                link_name, own, other_column, _ = model._many_to_many[relation]
                link = model.metadata.tables[link_name]
                stmt = (
                    sa.select(link.c[own], target.c[field])
                    .join(target, target.c.id == link.c[other_column])
                    .where(link.c[own].in_(ids))
                    .order_by(target.c[field])
                )
                grouped: dict[str, list[Any]] = {}
                for owner, value in conn.execute(stmt):
                    grouped.setdefault(owner, []).append(value)
                frame[spec] = [grouped.get(i, []) for i in ids]
