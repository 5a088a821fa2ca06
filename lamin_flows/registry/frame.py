"""What ``QuerySet.df()`` returns: a pandas DataFrame that prints like ``ln.view()``.

Choice: a DataFrame subclass whose ``__repr__`` picks columns by importance for the
terminal width, instead of setting pandas display options (global: they would change how
every other DataFrame of the session prints) or pandas' default (which hides the middle
columns behind "..." and wraps the rest). The data is untouched: ``to_string()``,
``_repr_html_`` (notebooks) and every pandas operation behave as on any DataFrame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from lamin_flows.registry.listing import Listing, ordered, plural, terminal_width


class RecordFrame(pd.DataFrame):
    """A DataFrame of registry records (indexed by ``id``) that prints to fit the terminal.

    Example:
        >>> df = ln.Run.select().df()
        >>> df                      # the most important columns for the width
        >>> print(df.to_string())   # every column, as pandas prints it
    """

    _metadata = ["_registry"]
    if TYPE_CHECKING:  # set by record_frame, kept by pandas through _metadata
        _registry: Any

    @property
    def _constructor(self) -> type[RecordFrame]:
        return RecordFrame

    def render(self, width: int | None = None, max_rows: int = 30) -> str:
        """The table as text, at most ``width`` (default: the terminal's) columns wide."""
        model = getattr(self, "_registry", None)
        frame = self.reset_index() if self.index.name == "id" else self
        names = [str(c) for c in frame.columns]
        if model is not None:
            names = ordered(model, names)
        n = len(frame)
        head = frame.head(max_rows) if n > max_rows else frame
        rows = [
            {str(k): (None if _missing(v) else _plain(v)) for k, v in rec.items()} for rec in head.to_dict("records")
        ]
        title = f"{getattr(model, '__name__', 'DataFrame')}: {plural(n, 'record')}, {plural(len(names), 'column')}"
        note = f"showing {max_rows} of {n:,} rows" if n > max_rows else ""
        return Listing(title, names, rows, note).render(terminal_width(width))

    def __repr__(self) -> str:
        try:
            return self.render()
        except Exception:  # an unusual frame made from ours: print it as pandas would  # noqa: BLE001
            return pd.DataFrame(self).__repr__()


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and dicts
        return False


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()  # numpy scalars
    return value


def record_frame(model: Any, rows: list[Any], columns: list[str], stamps: Sequence[str] = ()) -> RecordFrame:
    """Rows of ``model`` (with an ``id`` column) as a :class:`RecordFrame` indexed by id.

    ``stamps`` name the columns read raw from the driver (ISO 8601 text from SQLite, datetimes
    from PostgreSQL): they become UTC timestamps, naive values being UTC as the registry stores them.
    """
    data = pd.DataFrame.from_records(rows, columns=columns)
    for name in stamps:
        data[name] = pd.to_datetime(data[name], utc=True, format="ISO8601")
    frame = RecordFrame(data)
    frame._registry = model
    return frame.set_index("id")
