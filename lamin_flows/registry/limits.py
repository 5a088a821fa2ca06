"""Column limits checked before the database: a value that does not fit raises our ValidationError.

PostgreSQL refuses a string longer than its ``VARCHAR(n)`` with a raw ``DataError`` (and SQLite
stores it silently, so a registry would behave differently on each). Every save checks the
string columns of the records it writes against the limits of the tables in
:mod:`lamin_flows.registry.models`, on SQLite and PostgreSQL alike, and names the field, the
value's length and the limit.

Example:
    >>> check_lengths([ln.Tag(name="x" * 300)])
    Traceback (most recent call last):
    ValidationError: Tag.name is 300 characters long; the limit is 255 ...
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lamin_flows.errors import ValidationError

if TYPE_CHECKING:
    from lamin_flows.registry.record import Record

_limits: dict[type, tuple[tuple[str, int], ...]] = {}


def limits_of(cls: type[Record]) -> tuple[tuple[str, int], ...]:
    """(column, maximum length) of every length-limited string column of a registry."""
    found = _limits.get(cls)
    if found is None:
        table = cls.__table__
        found = tuple(
            (c.name, int(c.type.length))  # type: ignore[attr-defined]  # a length: checked with getattr below
            for c in table.columns
            # sa.String, and SQLModel's AutoString (a TypeDecorator with a length of its own)
            if isinstance(getattr(c.type, "length", None), int)
            and isinstance(getattr(c.type, "impl", c.type), sa.String)
        )
        _limits[cls] = found
    return found


def check_lengths(records: Iterable[Any]) -> None:
    """Raise ValidationError for the first string value longer than its column allows.

    New records are checked in full, saved ones in their changed fields only.

    Raises:
        ValidationError: naming the registry, the field, the value's start, its length and the limit.
    """
    for record in records:
        limits = limits_of(type(record))
        if not limits:
            continue
        values = record.__dict__ if not record._lf.saved else record._changes()
        for name, limit in limits:
            value = values.get(name)
            if value.__class__ is str and len(value) > limit:
                what = type(record).__name__
                raise ValidationError(
                    f"{what}.{name} is {len(value)} characters long ({value[:40]!r}...); the limit is {limit}."
                    f" Use a shorter {name}{' (or put the text into description=)' if name == 'name' else ''}."
                    " Nothing was saved."
                )
