"""The base of every registry: ids, timestamps, save/delete, select, repr.

A record is a SQLModel table object used as a plain value: it is read from and written to
the database with SQLAlchemy Core, so it never belongs to a session and every attribute
and relationship resolves on access, wherever the record travels (threads, processes,
Prefect task results).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy.orm import configure_mappers
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelMetaclass

from lamin_flows.errors import did_you_mean
from lamin_flows.registry.classes import register, registry_class
from lamin_flows.registry.sql import utcnow

if TYPE_CHECKING:
    from sqlalchemy import Table

    from lamin_flows.registry.query import QuerySet


class RecordMeta(SQLModelMetaclass):
    """Lets a registry accept positional data: ``ln.File(path)`` goes to ``File._construct``.

    Keyword construction (``ln.Tag(name=...)``, ``ln.Run(transform=t)``, a Run per tracked call)
    goes through :meth:`Record._from_keywords`: fields and relations by record are accepted, an
    unknown keyword or a missing required field raises before anything is made, and the record
    is filled by the fast path of :meth:`Record._build`.
    """

    def __init__(cls, classname: str, bases: Any, namespace: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(classname, bases, namespace, **kwargs)
        if getattr(cls, "__table__", None) is not None:  # a registry (a table), not the Record base
            register(cls)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if getattr(cls, "__table__", None) is None:
            return super().__call__(*args, **kwargs)
        construct = getattr(cls, "_construct", None)
        if construct is not None and (args or "data" in kwargs):
            return construct(*args, **kwargs)
        if args:
            raise TypeError(f"{cls.__name__}() takes keyword arguments only, e.g. {cls.__name__}(name=...)")
        return cls._from_keywords(kwargs)  # type: ignore[attr-defined]


class _Keywords:
    """What a registry's keyword constructor accepts, worked out once per class."""

    __slots__ = ("fields", "foreign", "many", "required", "valid")

    def __init__(self, cls: Any) -> None:
        self.fields = frozenset(cls.model_fields)
        self.foreign = dict(cls._foreign_keys)
        self.many = dict(cls._many_to_many)
        foreign_columns = {column: attr for attr, (column, _) in self.foreign.items()}
        # a required foreign key column may be given as its relation: Run(transform=t) for transform_id
        self.required = [(name, foreign_columns.get(name)) for name, f in cls.model_fields.items() if f.is_required()]
        self.valid = sorted(self.fields | set(self.foreign) | set(self.many))


_KEYWORDS: dict[type, _Keywords] = {}


_COLUMNS: dict[type, list[str]] = {}  # registry class -> its column names
_DEFAULTS: dict[type, list[tuple[str, Any]]] = {}  # registry class -> (field, zero-argument default maker)


class _State:
    """Book-keeping that is not a column: saved?, column values at last sync, caches."""

    __slots__ = ("saved", "snapshot", "related", "pending_links", "extra")

    def __init__(self) -> None:
        self.saved = False
        self.snapshot: dict[str, Any] = {}
        self.related: dict[str, Any] = {}
        self.pending_links: dict[str, list[tuple[str, Any]]] = {}
        self.extra: dict[str, Any] = {}


class Record(SQLModel, metaclass=RecordMeta):
    """Fields and behaviour shared by every registry."""

    if TYPE_CHECKING:  # made by SQLModel for each table class; declared here for the type checker only
        __table__: ClassVar[Table]
        id: str  # every registry has a string primary key

    created_at: datetime = Field(default_factory=utcnow, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, nullable=False)

    # Foreign keys that resolve to records: attribute -> (column, registry name)
    _foreign_keys: ClassVar[dict[str, tuple[str, str]]] = {}
    # Many-to-many relations: attribute -> (link table name, own column, other column, registry name)
    _many_to_many: ClassVar[dict[str, tuple[str, str, str, str]]] = {}
    # Columns that identify a record besides its id; saving a duplicate converges on the existing record
    _natural_key: ClassVar[tuple[str, ...]] = ()
    # Columns shown first in repr and DataFrames
    _display: ClassVar[tuple[str, ...]] = ()

    # ---- internal state -------------------------------------------------------------
    @property
    def _lf(self) -> _State:
        state = self.__dict__.get("_lf_state")
        if state is None:
            state = _State()
            object.__setattr__(self, "_lf_state", state)
        return state

    @classmethod
    def _columns(cls) -> list[str]:
        columns = _COLUMNS.get(cls)
        if columns is None:
            columns = _COLUMNS[cls] = [c.name for c in cls.__table__.columns]
        return columns

    def _values(self) -> dict[str, Any]:
        # Straight from __dict__, where SQLAlchemy keeps column values: the attribute descriptors
        # cost ~1 µs each, and saving or snapshotting 10,000 Files reads 140,000 of them.
        # (An unset column reads as None either way.)
        values = self.__dict__
        return {name: values.get(name) for name in self._columns()}

    @classmethod
    def _build(cls, values: dict[str, Any]) -> Any:
        """A record holding ``values``, made the way SQLAlchemy makes the objects it loads.

        SQLModel's ``__init__`` sets each field through SQLAlchemy's and pydantic's
        ``__setattr__`` (~60 µs per File); this fills ``__dict__`` directly (~10 µs), which
        matters when thousands of Files are made at once (``from_dir``, queries). Fields not
        in ``values`` get their defaults, as with ``__init__``; nothing is validated in either.
        """
        defaults = _DEFAULTS.get(cls)
        if defaults is None:
            # the instrumented __init__ we skip is also what configures mappers on first use
            configure_mappers()
            # default factories are called directly: pydantic's get_default() inspects the
            # factory's signature on every call (~9 µs); ours (utcnow, id12, id20) take no arguments
            defaults = _DEFAULTS[cls] = [
                (name, field.default_factory or field.get_default)
                for name, field in cls.model_fields.items()
                if not field.is_required()
            ]
        record = cls._sa_class_manager.new_instance()  # type: ignore[attr-defined]
        fields_set = set(values)
        for name, make in defaults:
            if name not in fields_set:
                values[name] = make()
        record.__dict__.update(values)
        object.__setattr__(record, "__pydantic_fields_set__", fields_set)
        return record

    @classmethod
    def _from_keywords(cls, kwargs: dict[str, Any]) -> Any:
        """``Registry(**kwargs)``: fields by value, foreign keys and many-to-many relations by record.

        Raises:
            UnknownFieldError: a keyword that is neither a field nor a relation (the message lists them).
            ValidationError: a required field is missing, or a relation got something other than a record.
        """
        spec = _KEYWORDS.get(cls)
        if spec is None:
            spec = _KEYWORDS[cls] = _Keywords(cls)
        fields = spec.fields
        values: dict[str, Any] = {}
        related: dict[str, Any] | None = None
        links: dict[str, list[Any]] | None = None
        for name, value in kwargs.items():
            if name in fields:
                values[name] = value
            elif name in spec.foreign:
                column, registry = spec.foreign[name]
                _check_record(cls, name, registry, value)
                values[column] = None if value is None else value.id
                if value is not None:
                    related = related or {}
                    related[name] = value
            elif name in spec.many:
                registry = spec.many[name][3]
                items = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
                for item in items:
                    _check_record(cls, name, registry, item, saved=True)
                links = links or {}
                links[name] = items
            else:
                from lamin_flows.errors import UnknownFieldError

                raise UnknownFieldError(
                    f"{cls.__name__}() got an unknown keyword {name!r}.{did_you_mean(name, spec.valid)}"
                    f" Valid keywords: {', '.join(spec.valid)}."
                )
        for name, relation in spec.required:
            if values.get(name) is None:
                cls._missing(name, relation)
        record = cls._build(values)
        if related:
            record._lf.related.update(related)
        if links:
            record._lf.pending_links.update({attr: [("add", r) for r in items] for attr, items in links.items()})
        return record

    @classmethod
    def _missing(cls, name: str, relation: str | None) -> None:
        from lamin_flows.errors import ValidationError

        given = f"{relation}=<record> (or {name}=...)" if relation else f"{name}=..."
        raise ValidationError(f"{cls.__name__}() needs {given}; nothing was created")

    @classmethod
    def _from_row(cls, row: Any) -> Any:
        values = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
        for name in ("created_at", "updated_at", "started_at", "finished_at"):
            value = values.get(name)
            if isinstance(value, datetime) and value.tzinfo is None:
                values[name] = value.replace(tzinfo=UTC)
        record = cls._build(values)
        record._mark_saved()
        return record

    def _mark_saved(self) -> None:
        self._lf.saved = True
        self._lf.snapshot = self._values()

    def _changes(self) -> dict[str, Any]:
        snapshot = self._lf.snapshot
        return {k: v for k, v in self._values().items() if snapshot.get(k) != v and k != "updated_at"}

    def _adopt(self, row: Any) -> None:
        """Become the existing record ``row`` (a concurrent or earlier save of the same thing)."""
        values = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
        for name, value in values.items():
            setattr(self, name, value)
        self._lf.related.clear()
        self._mark_saved()

    # ---- relations ------------------------------------------------------------------
    def _get_related(self, attr: str) -> Any:
        column, registry = self._foreign_keys[attr]
        fk = getattr(self, column)
        if fk is None:
            return None
        cached = self._lf.related.get(attr)
        if cached is not None and cached.id == fk:
            return cached
        record = registry_class(registry).select(id=fk).one_or_none()
        self._lf.related[attr] = record
        return record

    def _set_related(self, attr: str, record: Any) -> None:
        column, _ = self._foreign_keys[attr]
        setattr(self, column, None if record is None else record.id)
        self._lf.related[attr] = record

    # ---- public API -----------------------------------------------------------------
    @property
    def is_saved(self) -> bool:
        """Whether this record is in the registry (as of its last save or load)."""
        return self._lf.saved

    def save(self) -> Any:
        """Write this record (insert, or update what changed) in one transaction.

        Saving an unchanged saved record does nothing. Returns the record, so
        ``tag = ln.Tag(name="x").save()`` works.

        Example:
            >>> project = ln.Project(name="Project A").save()
            >>> project.name = "Project 1"
            >>> project.save()
        """
        from lamin_flows.registry.persist import save_records

        save_records([self])
        return self

    def delete(self) -> None:
        """Delete this record and its links from the registry.

        Example:
            >>> ln.Project.select(name="Project B").one().delete()
        """
        from lamin_flows.registry.persist import delete_records

        delete_records([self])

    @classmethod
    def select(cls, /, *queries: Any, **filters: Any) -> QuerySet:
        """A lazy query over this registry.

        Args:
            *queries: ``ln.Q(...)`` filters combined with ``|``, ``&``, ``~``.
            **filters: ``field=value`` or ``field__lookup=value`` with lookups exact, startswith,
                endswith, contains, icontains, in, gt, gte, lt, lte, isnull; relations by record
                (``tags=tag``) or by field (``transform__name="x"``).

        Returns:
            A QuerySet with ``.df()``, ``.all()``, ``.one()``, ``.first()``, ...

        Example:
            >>> ln.File.select(key__startswith="sample_001/").df()
        """
        from lamin_flows.registry.query import QuerySet

        return QuerySet(cls).filter(*queries, **filters)

    filter = select

    @classmethod
    def search(cls, text: str, limit: int | None = 20) -> list[Any]:
        """The records whose name (key for Files, handle for Users) or description contain ``text``, best first.

        Example:
            >>> ln.Tag.search("sample")[0]
        """
        return cls.select().search(text, limit)

    @classmethod
    def lookup(cls, field: str | None = None) -> Any:
        """Every record as an attribute named after its name (key for Files, handle for Users).

        Example:
            >>> tags = ln.Tag.lookup()
            >>> tags.sample_0001
        """
        return cls.select().lookup(field)

    def __repr__(self) -> str:
        fields = list(self._display) + [c for c in self._columns() if c not in self._display]
        shown = []
        for name in fields:
            value = getattr(self, name, None)
            if value is None or name in ("updated_at",):
                continue
            if isinstance(value, datetime):
                value = value.strftime("%Y-%m-%d %H:%M:%S")
            shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.id == self.id

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.id))

    def __reduce__(self) -> Any:
        # Pickle as plain column values (Prefect task results, process pools, Dask workers).
        return (_unpickle, (type(self).__name__, self._values(), self._lf.saved))


def _check_record(cls: Any, attr: str, registry: str, value: Any, *, saved: bool = False) -> None:
    """Raise unless ``value`` is a record of ``registry`` (or None for a foreign key)."""
    from lamin_flows.errors import ValidationError

    if value is None and not saved:
        return
    if type(value).__name__ != registry or not isinstance(value, Record):
        hint = f" (to refer to one by id, pass {cls._foreign_keys[attr][0]}=...)" if attr in cls._foreign_keys else ""
        raise ValidationError(f"{cls.__name__}({attr}=...) takes a {registry} record, got {value!r}{hint}")
    if saved and not value._lf.saved:
        raise ValidationError(f"save {value!r} before linking it: call .save() on it first")


def _unpickle(registry: str, values: dict[str, Any], saved: bool) -> Any:
    cls = registry_class(registry)
    record = SQLModelMetaclass.__call__(cls, **values)
    if saved:
        record._mark_saved()
    return record
