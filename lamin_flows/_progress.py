"""A progress bar for long work (rich), shown only where it helps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lamin_flows import _logging

MIN_ITEMS = 50  # below this, work is over before a bar is readable


@contextmanager
def progress(
    description: str, total: int | float | None, *, unit_items: bool = True
) -> Iterator[Callable[[float], None]]:
    """Yield ``advance(n)``; draws a transient rich bar when verbosity >= 2 and the work is long.

    Example:
        >>> with progress("copying", total=3) as advance:
        ...     for _ in range(3):
        ...         advance(1)
    """
    if not _logging.show_progress() or (unit_items and (total or 0) < MIN_ITEMS):
        yield lambda n=1: None  # type: ignore[misc]  # mypy infers no lambda with a default; it is advance(n=1)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)  # type: ignore[misc]  # as above
