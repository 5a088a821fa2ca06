"""Which Run is current: the registry's side of lineage.

The tracking layer (``@ln.tracked``) sets the current run here; the registry reads it to link
saved Files to their Run and loaded Files to the Run's inputs. Other layers can add a
*resolver* that finds the current run where a context variable cannot reach (a Prefect task
in another process finds its flow's Run by the flow run id). The registry itself knows
nothing of Prefect.

A worker process (a Prefect process pool, a Dask worker) may save Files without ever importing
the tracking layer, so the modules named in ``RESOLVER_MODULES`` are imported (by name, once)
the first time a run is looked up without a context variable; importing them registers their
resolvers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RunRef:
    """The ids of the current Run and its Transform."""

    run_id: str
    transform_id: str


_current_run: ContextVar[RunRef | None] = ContextVar("lamin_flows_current_run", default=None)
_resolvers: list[Callable[[], RunRef | None]] = []
RESOLVER_MODULES = ("lamin_flows.tracking.resolvers",)
_modules_loaded = False


def _load_resolver_modules() -> None:
    global _modules_loaded
    _modules_loaded = True
    for name in RESOLVER_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # a trimmed install without that layer
            pass


def current_run_ref() -> RunRef | None:
    """The current run: the context variable, else the first resolver that finds one."""
    ref = _current_run.get()
    if ref is not None:
        return ref
    if not _modules_loaded:
        _load_resolver_modules()
    for resolve in _resolvers:
        ref = resolve()
        if ref is not None:
            return ref
    return None


def set_current_run(ref: RunRef | None) -> object:
    """Set the current run; returns a token for :func:`reset_current_run`."""
    return _current_run.set(ref)


def reset_current_run(token: object) -> None:
    """Restore the run that was current before :func:`set_current_run`."""
    _current_run.reset(token)  # type: ignore[arg-type]


def add_resolver(resolve: Callable[[], RunRef | None]) -> None:
    """Register a fallback that finds the current run (called only when no context is set)."""
    if resolve not in _resolvers:
        _resolvers.append(resolve)
