"""Functions on many records at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def save(records: Iterable[Any] | Any) -> None:
    """Save one record, or many in one transaction, with batched SQL.

    Files copied from outside storage are moved into place in parallel; if anything fails,
    nothing is written and data moved in is removed again.

    Args:
        records: a record, or records of any registries (Files, Tags, Projects, ...), saved or not.

    Example:
        >>> files = ln.File.from_dir("./mydata/sample_001/")
        >>> ln.save(files)
        >>> ln.save(ln.Tag(name="Sample 0001"))
        >>> ln.save([ln.Project(name=n) for n in ["B", "C", "D"]])
    """
    import lamin_flows.registry.tables  # noqa: F401  (every table is known before saving)
    from lamin_flows.registry.persist import save_records
    from lamin_flows.registry.record import Record

    save_records([records] if isinstance(records, Record) else list(records))


def select(registry: Any, /, *queries: Any, **filters: Any) -> Any:
    """A lazy query over a registry: ``ln.select(ln.File, suffix=".csv")`` is ``ln.File.select(suffix=".csv")``.

    Args:
        registry: a registry class (``ln.File``, ``ln.Tag``, ...).
        *queries: ``ln.Q(...)`` filters combined with ``|``, ``&``, ``~``.
        **filters: ``field=value`` and ``field__lookup=value``, as for ``Registry.select``.

    Raises:
        ValidationError: ``registry`` is not a registry class.

    Example:
        >>> ln.select(ln.Tag, name__startswith="Sample").df()
    """
    from lamin_flows.registry.record import Record

    if not (isinstance(registry, type) and issubclass(registry, Record) and hasattr(registry, "__table__")):
        from lamin_flows.errors import ValidationError

        raise ValidationError(
            f"ln.select() takes a registry class first, e.g. ln.select(ln.File, key__startswith='raw/'); got {registry!r}"
        )
    return registry.select(*queries, **filters)
