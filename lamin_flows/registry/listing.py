"""Tables for people and for scripts: columns chosen by importance for the terminal width.

A person reads a :class:`Listing` as a table that fits the terminal (ids shortened to a
readable prefix, sizes like ``1.6 KiB``, times to the second in local time with the zone
once in the header); a script reads the same rows as JSON or CSV with full values.

Columns are dropped from the least important end until the rest fit: a column is shown at
least as wide as its header and :data:`MIN_WIDTH` (or its widest value, if narrower), so no
column collapses to nothing and no value is cut to one character. The lead column (a File's
key, a Run's transform) keeps up to two fifths of the width before less important columns
are let in.

Example:
    >>> listing = listing_of(ln.File.select().order_by("-created_at").limit(5))
    >>> print(listing.render(width=80))
    >>> listing.to_json()
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from lamin_flows.errors import UnknownFieldError

MIN_WIDTH = 8  # the narrowest a shown column gets; values cut shorter than this are unreadable
ID_WIDTH = 8  # an id prefix long enough to tell records apart by eye
GAP = 2  # spaces between columns

# Per registry, columns from most to least important; the rest follow in table order.
IMPORTANCE: dict[str, tuple[str, ...]] = {
    "File": ("key", "size", "id", "name", "transform", "created_at", "suffix", "run_id", "hash"),
    "Run": ("transform", "status", "id", "started_at", "finished_at", "error", "params", "reference"),
    "Transform": ("name", "version", "type", "id", "created_at", "reference"),
    "Storage": ("root", "type", "id", "region"),
    "User": ("handle", "name", "id", "email"),
    "Tag": ("name", "id", "created_at"),
    "Project": ("name", "id", "created_at"),
}
# Columns a person reads when glancing (ln.view(), the default CLI listing).
GLANCE: dict[str, tuple[str, ...]] = {
    "File": ("key", "version", "size", "id", "name", "transform", "created_at"),
    "Run": ("transform", "status", "id", "started_at", "finished_at", "error"),
    "Transform": ("name", "version", "type", "id", "created_at"),
    "Storage": ("root", "type", "id", "created_at"),
    "User": ("handle", "name", "id", "created_at"),
    "Tag": ("name", "id", "created_at"),
    "Project": ("name", "id", "created_at"),
}
_MIDDLE_CUT = ("key", "root", "name")  # paths: keep the start and the file name
_FIXED = ("id", "size", "status", "type", "suffix", "version")  # short by nature: never cut


def terminal_width(width: int | None = None) -> int:
    """``width`` if given, else the terminal's (``COLUMNS`` wins, as in every shell tool), else 80."""
    if width:
        return width
    return shutil.get_terminal_size((80, 24)).columns


def plural(n: int, word: str) -> str:
    """``"1 record"``, ``"2 records"``, with thousands separated."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def human_size(size: int | None) -> str:
    """``1.6 KiB`` for 1596 bytes; ``?`` for unknown."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def local_zone() -> str:
    """The local time zone's name (``UTC``, ``CET``, ...), as shown once in a header."""
    return datetime.now().astimezone().tzname() or "local"


def shorten(text: str, width: int, *, middle: bool = False) -> str:
    """``text`` in at most ``width`` characters, cut with "…" (in the middle for paths)."""
    if len(text) <= width:
        return text
    if middle and width >= 7:
        tail = (width - 1) // 2
        return text[: width - 1 - tail] + "…" + text[-tail:]
    return text[: width - 1] + "…"


def _for_people(name: str, value: Any) -> str:
    if value is None:
        return "(no key)" if name == "key" else ""
    if name == "id" or (name.endswith("_id") and isinstance(value, str)):
        return cast(str, value[:ID_WIDTH])
    if name == "size" and isinstance(value, int):
        return human_size(value)
    if isinstance(value, datetime):
        when = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # stored times are UTC
        return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return " ".join(str(value).split())  # one line per record


def _for_scripts(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    if value is not None and not isinstance(value, (str, int, float, bool, dict, list)):
        return str(value)
    return value


@dataclass
class Listing:
    """Rows of one registry (or any rows), shown as a table that fits, or as JSON/CSV.

    Attributes:
        title: The table's title ("File: 12 records, latest 7").
        columns: Every column, most important first.
        rows: One dict per row, with full (unshortened) values.
        note: A line under the table (what was left out, how to see it).
    """

    title: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def fit(self, width: int | None = None) -> list[tuple[str, str, int]]:
        """The columns that fit ``width``: (name, header, column width), most important first."""
        width = terminal_width(width)
        zone = local_zone()
        cells = {c: [_for_people(c, row.get(c)) for row in self.rows] for c in self.columns}
        chosen: list[tuple[str, str, int, int]] = []  # name, header, min width, natural width
        used = 0
        for name in self.columns:
            header = name
            if any(isinstance(row.get(name), datetime) for row in self.rows):
                header = f"{name} ({zone})" if not any(f"({zone})" in h for _, h, _, _ in chosen) else name
            values = cells[name]
            natural = max([len(header), *map(len, values)])
            if values and not any(values):
                continue  # a column without a single value says nothing
            fixed = (
                name in _FIXED or name.endswith("_id") or any(isinstance(row.get(name), datetime) for row in self.rows)
            )
            least = natural if fixed else min(natural, max(len(header), MIN_WIDTH))
            if not chosen:  # the lead column (a File's key) is what a person reads: up to 2/5 of the width
                least = min(natural, max(least, width * 2 // 5))
            extra = least + (GAP if chosen else 0)
            if used + extra > width:
                continue  # a less important, narrower column may still fit
            chosen.append((name, header, least, natural))
            used += extra
        spare = width - used
        fitted = []
        for name, header, least, natural in chosen:
            grow = min(spare, natural - least)
            spare -= grow
            fitted.append((name, header, least + grow))
        return fitted

    def render(self, width: int | None = None) -> str:
        """The table as plain text, at most ``width`` (default: the terminal's) columns wide."""
        fitted = self.fit(width)
        lines = [self.title] if self.title else []
        if self.rows and fitted:
            lines.append("  ".join(header.ljust(w) for _, header, w in fitted).rstrip())
            lines.append("  ".join("─" * w for _, _, w in fitted))
            for row in self.rows:
                cells = [shorten(_for_people(n, row.get(n)), w, middle=n in _MIDDLE_CUT).ljust(w) for n, _, w in fitted]
                lines.append("  ".join(cells).rstrip())
            shown = {n for n, _, _ in fitted}
            hidden = [c for c in self.columns if c not in shown and any(row.get(c) is not None for row in self.rows)]
            if hidden:
                names = f"not shown for the width: {', '.join(hidden)}"
                lines.append(
                    names if len(names) <= terminal_width(width) else f"not shown for the width: {len(hidden)} columns"
                )
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    def records(self) -> list[dict[str, Any]]:
        """The rows with JSON-ready values (ISO times in UTC, full ids, sizes in bytes)."""
        return [{c: _for_scripts(row.get(c)) for c in self.columns} for row in self.rows]

    def to_json(self) -> str:
        """The rows as a JSON list of objects."""
        return json.dumps(self.records(), indent=2, default=str)

    def to_csv(self) -> str:
        """The rows as CSV with a header line (dicts and lists as JSON text)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.records():
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in row.items()})
        return buffer.getvalue()


def valid_columns(model: Any) -> list[str]:
    """Every column a listing of ``model`` can show: its table columns, and ``transform`` (the name)."""
    names = list(model.__table__.c.keys())
    if "transform_id" in names:
        names.append("transform")
    return names


def check_columns(model: Any, columns: list[str] | None) -> list[str] | None:
    """``columns`` if ``model`` has them all; UnknownFieldError naming the valid ones otherwise."""
    if columns is None:
        return None
    valid = valid_columns(model)
    unknown = [c for c in columns if c not in valid]
    if unknown:
        raise UnknownFieldError(
            f"{model.__name__} has no column {', '.join(map(repr, unknown))}; valid columns: {', '.join(valid)}"
        )
    return list(dict.fromkeys(columns))


def ordered(model: Any, names: list[str]) -> list[str]:
    """``names`` most important first (by :data:`IMPORTANCE`), the rest in their given order."""
    rank = {name: i for i, name in enumerate(IMPORTANCE.get(model.__name__, ()))}
    return sorted(names, key=lambda n: rank.get(n, len(rank) + names.index(n)))


def transform_names(ids: set[str]) -> dict[str, str]:
    """Transform id -> name, in one query per batch of ids."""
    from lamin_flows.registry.classes import registry_class
    from lamin_flows.registry.sql import chunks

    Transform = registry_class("Transform")  # noqa: N806 - a class
    names: dict[str, str] = {}
    for batch in chunks(sorted(i for i in ids if i)):
        for t in Transform.select(id__in=batch).all():
            names[t.id] = t.name
    return names


def listing_of(query: Any, columns: list[str] | None = None, *, total: int | None = None, title: str = "") -> Listing:
    """A :class:`Listing` of a QuerySet's records.

    Args:
        query: a QuerySet (ordered and limited as wanted).
        columns: the columns, in this order (default: the registry's glance columns).
        total: how many records match without the limit (for the title and note).
        title: the title; default "<Registry>: N records".
    """
    model = query.model
    columns = check_columns(model, columns) or ordered(
        model, [c for c in GLANCE.get(model.__name__, model._display) if c in valid_columns(model)]
    )
    records = query.all()
    rows = [record._values() for record in records]
    if "transform" in columns:
        names = transform_names({row.get("transform_id") for row in rows})
        for row in rows:
            row["transform"] = names.get(row.get("transform_id"), row.get("transform_id"))
    count = total if total is not None else len(rows)
    listing = Listing(title or f"{model.__name__}: {plural(count, 'record')}", columns, rows)
    if count > len(rows):
        listing.note = f"showing {len(rows):,} of {count:,}"
    return listing
