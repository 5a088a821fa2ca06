"""OR, AND and NOT across filters: ``ln.File.select(ln.Q(suffix=".csv") | ln.Q(size__gt=1e6))``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa


class Q:
    """A filter that combines with ``|`` (or), ``&`` (and) and ``~`` (not).

    Takes the same ``field__lookup=value`` arguments as ``select``; several arguments in one
    ``Q`` must all hold. ``~Q(...)`` matches the records the filter does not match, including
    those where the field is empty (NULL), as ``.exclude()`` does.

    Example:
        >>> ln.File.select(ln.Q(key__startswith="raw/") | ln.Q(suffix=".csv"))
        >>> ln.File.select(~ln.Q(tags__name="qc-failed"), size__gt=0)
    """

    def __init__(self, *children: Q, **filters: Any) -> None:
        for child in children:
            if not isinstance(child, Q):
                from lamin_flows.errors import ValidationError

                raise ValidationError(f"Q() takes other Q objects and field=value filters, got {child!r}")
        self.children: list[Any] = [*children, *filters.items()]
        self.connector = "and"
        self.negated = False

    def _combine(self, other: Any, connector: str) -> Q:
        if not isinstance(other, Q):
            return NotImplemented  # type: ignore[no-any-return]  # lets Python try the other operand
        combined = Q(self, other)
        combined.connector = connector
        return combined

    def __or__(self, other: Any) -> Q:
        return self._combine(other, "or")

    def __and__(self, other: Any) -> Q:
        return self._combine(other, "and")

    def __invert__(self) -> Q:
        negated = Q(self)
        negated.negated = True
        return negated

    def compile(self, model: Any, leaf: Callable[[Any, str, Any], Any]) -> Any:
        """The SQL expression of this filter on ``model``'s table.

        ``leaf(model, "field__lookup", value)`` compiles one filter
        (:func:`lamin_flows.registry.query.compile_filter`, which is what QuerySet passes).
        """
        parts = [c.compile(model, leaf) if isinstance(c, Q) else leaf(model, c[0], c[1]) for c in self.children]
        if parts:
            expression = parts[0] if len(parts) == 1 else (sa.or_ if self.connector == "or" else sa.and_)(*parts)
        else:
            expression = sa.true()
        if self.negated:
            # NOT IN (ids that match): a plain NOT would also drop rows where the field is NULL
            table = model.__table__
            return table.c.id.not_in(sa.select(table.c.id).where(expression))
        return expression

    def __repr__(self) -> str:
        inner = f" {self.connector.upper()} ".join(
            repr(c) if isinstance(c, Q) else f"{c[0]}={c[1]!r}" for c in self.children
        )
        return f"{'~' if self.negated else ''}Q({inner})"
