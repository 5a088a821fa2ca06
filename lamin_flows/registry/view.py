"""Printing registries for people: ``File.tree()`` and ``ln.view()``."""

from __future__ import annotations

from typing import Any

from lamin_flows.registry import instance


def _console() -> Any:
    from rich.console import Console

    return Console()


def print_tree(prefix: str | None = None, *, storage: Any = None) -> None:
    """Print the registered keys of a storage (default: the default storage) as a folder tree."""
    from rich.tree import Tree

    from lamin_flows.registry.file import File
    from lamin_flows.registry.query import QuerySet

    inst = instance.current()
    storage_id = storage.id if storage is not None else inst.storage_id
    root = storage.root if storage is not None else inst.config.storage_root
    prefix = (prefix or "").strip("/")
    query: QuerySet = File.select(storage_id=storage_id, key__isnull=False)
    if prefix:
        query = query.filter(key__startswith=prefix + "/")
    table = File.__table__
    import sqlalchemy as sa

    rows = query._rows(sa.select(table.c.key, table.c.size).where(*query._clauses).order_by(table.c.key))
    top = Tree(f"[bold]{root}/{prefix}" if prefix else f"[bold]{root}")
    nodes: dict[str, Any] = {"": top}
    n_folders = 0
    for key, size in rows:
        rel = key[len(prefix) + 1 :] if prefix else key
        parts = rel.split("/")
        path = ""
        for part in parts[:-1]:
            child = f"{path}/{part}" if path else part
            if child not in nodes:
                nodes[child] = nodes[path].add(f"[bold blue]{part}/")
                n_folders += 1
            path = child
        nodes[path].add(f"{parts[-1]} [dim]({_human(size)})")
    console = _console()
    console.print(top)
    console.print(f"{n_folders} folders, {len(rows)} files")


def _human(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


MAX_CELL = 48  # characters per cell; ids and keys stay readable, long values are cut with "…"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def view(n: int = 7, registries: list[str] | None = None) -> None:
    """Print the latest ``n`` records of every registry (or of the named ones).

    Example:
        >>> ln.view()
        >>> ln.view(3, ["File", "Run"])
    """
    from rich.table import Table

    from lamin_flows.registry.tables import REGISTRIES

    console = _console()
    for name, cls in REGISTRIES.items():
        if registries and name not in registries:
            continue
        query = cls.select().order_by("-created_at")
        total = query.count()
        if total == 0:
            continue
        records = query.limit(n).all()
        columns = list(dict.fromkeys([*getattr(cls, "_view_columns", cls._display), "created_at"]))
        table = Table(title=f"{name} ({total} records, latest {min(n, total)})", title_justify="left")
        for column in columns:
            table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=MAX_CELL)
        for record in records:
            table.add_row(*[_cell(getattr(record, column)) for column in columns])
        console.print(table)
