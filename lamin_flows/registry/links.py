"""Many-to-many managers: ``file.tags.add(tag)``, ``.remove()``, ``.set()``, ``.clear()``, ``.all()``, ``.list()``."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lamin_flows.errors import ValidationError
from lamin_flows.registry.persist import write_links

if TYPE_CHECKING:
    from lamin_flows.registry.query import QuerySet


def _flatten(items: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, (list, tuple, set)):
            out.extend(_flatten(item))
        else:
            out.append(item)
    return out


def link_many(owners: Iterable[Any], attr: str, others: Iterable[Any], *, add: bool = True) -> None:
    """Link every saved owner to every saved other in one transaction (bulk ``.tags.add``).

    Example:
        >>> link_many(files, "tags", [tag])
    """
    from lamin_flows.registry import db, instance

    owners, others = _flatten(owners), _flatten(others)
    if not owners or not others:
        return
    cls = type(owners[0])
    pairs = [(o.id, t.id) for o in owners for t in others]
    with db.write(instance.current().engine) as conn:
        write_links(conn, cls, attr, pairs, add=add)


class LinkManager:
    """The records linked to one record through a many-to-many relation.

    On a saved record, ``add``/``remove`` write at once; on an unsaved one they are applied
    when it is saved.
    """

    def __init__(self, owner: Any, attr: str) -> None:
        self.owner = owner
        self.attr = attr
        self.table_name, self.own_column, self.other_column, self.registry = owner._many_to_many[attr]

    def _other_class(self) -> Any:
        from lamin_flows.registry.classes import registry_class

        return registry_class(self.registry)

    def _check(self, records: Iterable[Any]) -> list[Any]:
        cls = self._other_class()
        records = _flatten(records)
        for record in records:
            if not isinstance(record, cls):
                raise ValidationError(
                    f"{type(self.owner).__name__}.{self.attr} takes {cls.__name__} records, got {record!r}"
                )
            if not record._lf.saved:
                raise ValidationError(f"save {record!r} before linking it: call .save() on it first")
        return records

    def _apply(self, op: str, records: list[Any]) -> None:
        if self.owner._lf.saved:
            link_many([self.owner], self.attr, records, add=(op == "add"))
        else:
            self.owner._lf.pending_links.setdefault(self.attr, []).extend((op, r) for r in records)

    def add(self, *records: Any) -> None:
        """Link records (saved ones) to the owner.

        Example:
            >>> file.tags.add(tag)
        """
        self._apply("add", self._check(records))

    def remove(self, *records: Any) -> None:
        """Unlink records from the owner.

        Example:
            >>> file.tags.remove(tag)
        """
        self._apply("remove", self._check(records))

    def clear(self) -> None:
        """Unlink every record from the owner (the records themselves stay).

        Example:
            >>> file.tags.clear()
        """
        if not self.owner._lf.saved:
            self.owner._lf.pending_links.pop(self.attr, None)
            return
        from lamin_flows.registry import db, instance

        table = self.owner.metadata.tables[self.table_name]
        with db.write(instance.current().engine) as conn:
            conn.execute(table.delete().where(table.c[self.own_column] == self.owner.id))

    def set(self, records: Iterable[Any]) -> None:
        """Link exactly ``records``: the others are unlinked, in one transaction.

        Example:
            >>> file.tags.set([tag1, tag2])
        """
        records = self._check(records)
        if not self.owner._lf.saved:
            self.owner._lf.pending_links[self.attr] = [("add", r) for r in records]
            return
        from lamin_flows.registry import db, instance

        table = self.owner.metadata.tables[self.table_name]
        owner = self.owner.id
        with db.write(instance.current().engine) as conn:
            conn.execute(table.delete().where(table.c[self.own_column] == owner))
            write_links(conn, type(self.owner), self.attr, [(owner, r.id) for r in records], add=True)

    def list(self, field: str | None = None) -> list[Any]:
        """The linked records as a list, or the values of one of their fields.

        Example:
            >>> file.tags.list("name")
            ['Sample 0001']
        """
        records = self.all()
        return records if field is None else [getattr(r, field) for r in records]

    def count(self) -> int:
        """How many records are linked (one COUNT query for a saved owner)."""
        if not self.owner._lf.saved:
            return len(self.all())
        return self.select().count()

    def select(self, /, **filters: Any) -> QuerySet:
        """The linked records as a lazy query set (saved owners only)."""
        cls = self._other_class()
        link = cls.metadata.tables[self.table_name]
        subquery = sa.select(link.c[self.other_column]).where(link.c[self.own_column] == self.owner.id)
        from lamin_flows.registry.query import QuerySet

        # every version: a run's inputs are the exact versions it read
        return QuerySet(cls, all_versions=True).filter(**filters)._where(cls.__table__.c.id.in_(subquery))

    def all(self) -> builtins.list[Any]:
        """The linked records (for an unsaved owner: those queued to be linked)."""
        if not self.owner._lf.saved:
            linked: dict[str, Any] = {}
            for op, record in self.owner._lf.pending_links.get(self.attr, []):
                if op == "add":
                    linked[record.id] = record
                else:
                    linked.pop(record.id, None)
            return list(linked.values())
        return self.select().all()

    def df(self) -> Any:
        """The linked records as a pandas DataFrame."""
        return self.select().df()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.all())

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return f"<{type(self.owner).__name__}.{self.attr}: {self.all()!r}>"
