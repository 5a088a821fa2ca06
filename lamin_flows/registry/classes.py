"""The registry classes by name: how relations, and the code below the table modules, reach a class.

Relations are declared by registry name (``_foreign_keys = {"storage": ("storage_id", "Storage")}``)
and resolved on access, as in SQLAlchemy's declarative class registry. Every registry class puts
itself here when it is defined (:class:`lamin_flows.registry.record.RecordMeta`). The modules that
define the classes (:mod:`.models`, :mod:`.file`) sit above the code that saves, queries and builds
records, so that code names the classes it needs here instead of importing them, and imports point
one way.

The first lookup of a class that is not defined yet loads every table (:mod:`.tables`), through the
``"schema"`` service the package root names (:func:`lamin_flows.registry.hooks.provide`): a fresh
process, a Dask worker unpickling a Run say, may not have imported the table modules yet.

Example:
    >>> from lamin_flows.registry.classes import registry_class
    >>> registry_class("Tag").select(name="Sample 0001").one()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lamin_flows.registry import hooks

if TYPE_CHECKING:
    from lamin_flows.registry.file import File

_classes: dict[str, Any] = {}  # registry name -> class, in the order they were defined


def register(cls: Any) -> None:
    """Make the registry class ``cls`` known by its name (called as each class is defined)."""
    _classes[cls.__name__] = cls


def _load_schema() -> None:
    hooks.provider("schema")


def registry_class(name: str) -> Any:
    """The registry class called ``name`` ("File", "Run", ...).

    Raises:
        LookupError: no registry has that name (the message lists those that exist).
    """
    cls = _classes.get(name)
    if cls is None:
        _load_schema()
        cls = _classes.get(name)
        if cls is None:
            raise LookupError(f"no registry called {name!r}; registries: {', '.join(_classes)}")
    return cls


def table(name: str) -> Any:
    """The SQLAlchemy table called ``name`` (``"storage"``, ``"lamin_instance"``, ...), every table loaded."""
    from sqlmodel import SQLModel

    tables = SQLModel.metadata.tables
    if name not in tables:
        _load_schema()
    return tables[name]


def file_class() -> type[File]:
    """The File registry (:mod:`lamin_flows.registry.file`): what the code that builds, saves and
    deletes Files, below that module, makes and queries."""
    return registry_class("File")  # type: ignore[no-any-return]
