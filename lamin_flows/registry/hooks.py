"""Callbacks the upper layers register to hear about saved Files and ended Runs.

The registry knows nothing of Prefect (or of any other consumer): it keeps lists of plain
callables and calls them after a save has committed, or after a Run has ended. Layers above
(``lamin_flows.tasks.events`` for Prefect events) register themselves here; a callback that
raises is reported as a warning and never fails the save that called it.

Example:
    >>> from lamin_flows.registry import hooks
    >>> hooks.after_files_saved.append(lambda files: print(len(files), "new Files"))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from lamin_flows import _logging

after_files_saved: list[Callable[[list[Any]], None]] = []
"""Called with the Files a save inserted, after its transaction committed."""

after_run_ended: list[Callable[[Any], None]] = []
"""Called with a Run once its final status (completed, failed, ...) is written."""


_lazy: list[tuple[str, str]] = []  # ("module:function", which list) not imported yet


def add_lazy(target: str, kind: str = "files") -> None:
    """Register ``"package.module:function"`` as a callback, imported at the first save or Run end.

    This is how the package root wires the Prefect layer in without importing it (or Prefect)
    when ``lamin_flows`` is imported.
    """
    _lazy.append((target, kind))


def _resolve_lazy() -> None:
    while _lazy:
        target, kind = _lazy.pop(0)
        module, _, name = target.partition(":")
        callback = getattr(importlib.import_module(module), name)
        (after_files_saved if kind == "files" else after_run_ended).append(callback)


def wants_files() -> bool:
    """Whether anyone listens for saved Files (so the save collects them)."""
    if _lazy:
        _resolve_lazy()
    return bool(after_files_saved)


def _call(callbacks: list[Callable[[Any], None]], value: Any, what: str) -> None:
    for callback in list(callbacks):
        try:
            callback(value)
        except Exception as exc:  # a consumer's problem must not turn a committed save into an error  # noqa: BLE001
            _logging.warning(f"a callback after {what} failed ({type(exc).__name__}: {exc}); the data is saved")


def files_saved(files: list[Any]) -> None:
    """Tell every ``after_files_saved`` callback about newly saved Files (none: no call)."""
    if files and wants_files():
        _call(after_files_saved, files, "saving Files")


def run_ended(run: Any) -> None:
    """Tell every ``after_run_ended`` callback that ``run`` ended."""
    if _lazy:
        _resolve_lazy()
    if after_run_ended:
        _call(after_run_ended, run, "ending a Run")


_providers: dict[str, str] = {}  # service -> "package.module:function", imported on first use


def provide(service: str, target: str) -> None:
    """Name the function (``"module:function"``) or module of an upper layer that implements
    ``service``; it is imported on first use.

    This is how a registry method reaches code above it without importing it: the package root
    says ``provide("lineage", "lamin_flows.tracking.lineage_walk:lineage_of")`` and ``File.view_lineage``
    calls :func:`provider` ``("lineage")``.

    Example:
        >>> hooks.provide("lineage", "lamin_flows.tracking.lineage_walk:lineage_of")
    """
    _providers[service] = target


def provider(service: str) -> Any:
    """The function (or, for a target without ``:function``, the module) registered for ``service``
    by :func:`provide`, imported now.

    Raises:
        LookupError: nothing provides ``service`` (the package root was not imported).
    """
    try:
        target = _providers[service]
    except KeyError:
        raise LookupError(
            f"nothing provides {service!r}: import lamin_flows (the package root wires it) before using it"
        ) from None
    module, _, name = target.partition(":")
    imported = importlib.import_module(module)
    return getattr(imported, name) if name else imported
