"""The SQL registry: tables, queries, saving, and the database connection."""

from __future__ import annotations

from typing import Any


def registry_class(name: str) -> Any:
    """The registry class called ``name`` ("File", "Run", ...): see :mod:`lamin_flows.registry.classes`."""
    from lamin_flows.registry.classes import registry_class as lookup

    return lookup(name)
