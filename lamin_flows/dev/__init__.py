"""Helpers for guides, tests and demos: ``ln.dev.datasets`` holds the example datasets.

``datasets`` is imported on first access, so ``import lamin_flows.dev`` costs nothing.

Example:
    >>> import lamin_flows as ln
    >>> df = ln.dev.datasets.df_iris()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamin_flows.dev import datasets

__all__ = ["datasets"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module  # later lookups skip __getattr__
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
