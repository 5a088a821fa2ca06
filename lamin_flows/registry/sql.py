"""The small SQL helpers every registry module uses: batches, ``IN`` lists, upserts, timestamps.

They sit below every other registry module (they import only SQLAlchemy), so the modules that
define records, save them and build Files can share them without importing each other.

Example:
    >>> from lamin_flows.registry.sql import chunks
    >>> [list(c) for c in chunks([1, 2, 3], size=2)]
    [[1, 2], [3]]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

CHUNK = 2000  # rows per IN (...) clause; far below SQLite's and PostgreSQL's parameter limits


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def one_of(conn: Any, column: Any, values: Sequence[str]) -> Any:
    """``column IN values``, planned well on PostgreSQL even before the table has statistics.

    There the values travel as one array, unnested in a subquery (a hash or index lookup per
    value). As 2,000 separate parameters against a freshly bulk-loaded table (no ANALYZE yet),
    PostgreSQL compared every row with the whole list: over a second per batch at 60,000 Files.
    """
    if conn.dialect.name != "postgresql":
        return column.in_(values)
    from sqlalchemy.dialects.postgresql import ARRAY

    return column.in_(sa.select(sa.func.unnest(sa.literal(list(values), ARRAY(sa.Text)))))


def dialect_insert(conn: Any, table: sa.Table) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing`` on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # another dialect's insert, same use
    return insert(table)
