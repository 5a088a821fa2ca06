"""The small registries: Storage, User, Transform, Run, Tag, Project, and the link tables.

File, the central registry, lives in :mod:`lamin_flows.registry.file`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from lamin_flows._ids import id12, id20
from lamin_flows.registry.record import Record


def _link(attr: str) -> property:
    def getter(self: Record) -> Any:
        from lamin_flows.registry.links import LinkManager

        return LinkManager(self, attr)

    return property(getter, doc=f"The {attr} linked to this record: ``.add()``, ``.remove()``, ``.all()``.")


def _fk(attr: str) -> property:
    def getter(self: Record) -> Any:
        return self._get_related(attr)

    def setter(self: Record, value: Any) -> None:
        self._set_related(attr, value)

    return property(getter, setter, doc=f"The {attr} record (resolved on access).")


def _reverse(registry: str, column: str) -> property:
    def getter(self: Record) -> Any:
        from lamin_flows.registry.classes import registry_class

        return registry_class(registry).select(**{column: self.id})

    return property(getter, doc=f"The {registry} records whose {column} is this record, as a lazy query set.")


class Storage(Record, table=True):
    """A storage location: a local folder or a bucket (prefix).

    Example:
        >>> ln.Storage.select().df()
    """

    __tablename__ = "storage"
    id: str = Field(default_factory=id12, primary_key=True, max_length=12)
    root: str = Field(sa_column=Column(sa.String(1024), unique=True, nullable=False))
    type: str = Field(max_length=16, description="local, s3, gs, memory, ...")
    region: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None)
    owned: bool = Field(
        default=True,
        sa_column=Column(sa.Boolean, nullable=False, server_default=sa.true()),
        description="False for a bucket Files were registered in place from: read only, never written or deleted",
    )
    created_by_id: str | None = Field(default=None, foreign_key="user.id", max_length=12)

    _foreign_keys: ClassVar = {"created_by": ("created_by_id", "User")}
    _natural_key: ClassVar = ("root",)
    _display: ClassVar = ("id", "root", "type")
    created_by = _fk("created_by")
    files = _reverse("File", "storage_id")

    @property
    def is_cloud(self) -> bool:
        """Whether this storage is a bucket (s3://, gs://, ...) rather than a local folder."""
        from lamin_flows.storage import is_cloud

        return is_cloud(self.root)

    def delete(self, force: bool = False) -> None:
        """Remove this storage location from the registry; the data stored in it is never touched.

        While Files are registered in it, this asks on a terminal and refuses elsewhere, unless
        ``force=True``, which deletes their records with it (metadata only: the files stay).

        Args:
            force: also delete the records of the Files in this storage, without asking.

        Raises:
            ValidationError: it is the current instance's default storage, or it still has Files
                and ``force`` is not set (and nobody confirmed on a terminal).

        Example:
            >>> ln.Storage.select(root="/mnt/old-disk").one().delete(force=True)
        """
        import sys

        from lamin_flows import _logging
        from lamin_flows.errors import ValidationError
        from lamin_flows.registry import instance
        from lamin_flows.registry.classes import registry_class
        from lamin_flows.registry.persist import delete_records

        if not self._lf.saved:
            return
        if self.id == instance.current().storage_id:
            raise ValidationError(
                f"{self.root!r} is the default storage of this instance; make another one the default first"
                " (ln.settings.storage = ...), then delete this one"
            )
        files = registry_class("File").select(storage_id=self.id)
        n_files = files.count()
        if n_files and not force:
            question = f"Storage {self.root} has {n_files} File records; delete them too (the data stays)? [y/N] "
            if sys.stdin is None or not sys.stdin.isatty():
                raise ValidationError(
                    f"Storage {self.root!r} still has {n_files} File records: delete them first, or pass"
                    " force=True to delete their records with it. The stored data is kept either way."
                )
            if input(question).strip().lower() not in ("y", "yes"):
                _logging.info("nothing deleted")
                return
        delete_records([*files.all(), self])
        _logging.success(
            f"deleted Storage {self.root} and {n_files} File records from the registry; the data in it was kept"
        )


class User(Record, table=True):
    """A person (or service account) that creates records.

    Example:
        >>> ln.User.select(handle="alice").one()
    """

    __tablename__ = "user"
    id: str = Field(default_factory=id12, primary_key=True, max_length=12)
    handle: str = Field(sa_column=Column(sa.String(255), unique=True, nullable=False))
    name: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=255)

    _natural_key: ClassVar = ("handle",)
    _display: ClassVar = ("id", "handle", "name")
    files = _reverse("File", "created_by_id")


class Transform(Record, table=True):
    """A piece of code that makes data: a function, a Prefect flow, a pipeline.

    Example:
        >>> ln.Transform.select(name="nightly_ingest").one()
    """

    __tablename__ = "transform"
    __table_args__ = (sa.UniqueConstraint("name", "version", "reference"),)
    id: str = Field(default_factory=id12, primary_key=True, max_length=12)
    name: str = Field(max_length=255, index=True)
    version: str | None = Field(default=None, max_length=64)
    type: str = Field(default="function", max_length=32)
    source_hash: str | None = Field(default=None, max_length=64)
    reference: str | None = Field(default=None, max_length=512)
    created_by_id: str | None = Field(default=None, foreign_key="user.id", max_length=12)

    _foreign_keys: ClassVar = {"created_by": ("created_by_id", "User")}
    _natural_key: ClassVar = ("name", "version", "reference")
    _display: ClassVar = ("id", "name", "version", "type")
    created_by = _fk("created_by")
    runs = _reverse("Run", "transform_id")
    files = _reverse("File", "transform_id")


class RunInputLink(SQLModel, table=True):
    """Which Files a Run read."""

    if TYPE_CHECKING:  # made by SQLModel; declared for the type checker only
        __table__: ClassVar[sa.Table]

    __tablename__ = "run_input"
    __table_args__ = (sa.Index("ix_run_input_file_id_run_id", "file_id", "run_id"),)  # migration 0005
    run_id: str = Field(foreign_key="run.id", primary_key=True, max_length=20, ondelete="CASCADE")
    file_id: str = Field(foreign_key="file.id", primary_key=True, max_length=20, ondelete="CASCADE")


class Run(Record, table=True):
    """One execution of a Transform.

    Example:
        >>> run = ln.Run.select(transform__name="nightly_ingest").first()
        >>> run.status, run.inputs.all()
    """

    __tablename__ = "run"
    id: str = Field(default_factory=id20, primary_key=True, max_length=20)
    transform_id: str = Field(foreign_key="transform.id", max_length=12, index=True)
    status: str = Field(
        default="started", max_length=16, description="started, completed, failed, crashed, cancelled, cached"
    )
    params: dict[Any, Any] | None = Field(default=None, sa_column=Column(JSON))
    started_at: datetime | None = Field(default=None, sa_column=Column(sa.DateTime(timezone=True)))
    finished_at: datetime | None = Field(default=None, sa_column=Column(sa.DateTime(timezone=True)))
    error: str | None = Field(default=None)
    reference: str | None = Field(default=None, max_length=255, index=True)
    reference_type: str | None = Field(default=None, max_length=64)
    parent_id: str | None = Field(default=None, foreign_key="run.id", max_length=20)
    meta: dict[Any, Any] | None = Field(
        default=None,
        sa_column=Column(JSON),
        description="Where the run ran, kept apart from params: for a Prefect flow run its flow run name, tags, deployment",
    )
    created_by_id: str | None = Field(default=None, foreign_key="user.id", max_length=12)
    reused_id: str | None = Field(
        default=None,
        foreign_key="run.id",
        max_length=20,
        index=True,
        ondelete="SET NULL",
        description="For a Run with status 'cached': the completed Run whose result it reused",
    )
    cache_key: str | None = Field(
        default=None, max_length=64, description="Hash of the source and parameters of a cache=True call"
    )
    cache: dict[Any, Any] | None = Field(
        default=None,
        sa_column=Column(JSON),
        description="What a cache=True call recorded to be reused: return value, parameters, inputs, outputs",
    )

    __table_args__ = (sa.Index("ix_run_transform_cache_key", "transform_id", "cache_key"),)
    _foreign_keys: ClassVar = {
        "transform": ("transform_id", "Transform"),
        "parent": ("parent_id", "Run"),
        "created_by": ("created_by_id", "User"),
        "reused": ("reused_id", "Run"),
    }
    _many_to_many: ClassVar = {"inputs": ("run_input", "run_id", "file_id", "File")}
    _display: ClassVar = ("id", "status", "transform_id", "started_at", "finished_at")
    transform = _fk("transform")
    parent = _fk("parent")
    created_by = _fk("created_by")
    inputs = _link("inputs")
    outputs = _reverse("File", "run_id")
    children = _reverse("Run", "parent_id")
    reused = _fk("reused")
    reused_by = _reverse("Run", "reused_id")


class Tag(Record, table=True):
    """A label for Files, independent of where they are stored.

    Example:
        >>> tag = ln.Tag(name="Sample 0001").save()
        >>> ln.File.select(tags=tag).df()
    """

    __tablename__ = "tag"
    id: str = Field(default_factory=id12, primary_key=True, max_length=12)
    name: str = Field(sa_column=Column(sa.String(255), unique=True, nullable=False))
    created_by_id: str | None = Field(default=None, foreign_key="user.id", max_length=12)

    _foreign_keys: ClassVar = {"created_by": ("created_by_id", "User")}
    _many_to_many: ClassVar = {"files": ("file_tag", "tag_id", "file_id", "File")}
    _natural_key: ClassVar = ("name",)
    _display: ClassVar = ("id", "name")
    created_by = _fk("created_by")
    files = _link("files")


class Project(Record, table=True):
    """A project that Files belong to.

    Example:
        >>> ln.save([ln.Project(name=n) for n in ["B", "C"]])
    """

    __tablename__ = "project"
    id: str = Field(default_factory=id12, primary_key=True, max_length=12)
    name: str = Field(sa_column=Column(sa.String(255), unique=True, nullable=False))
    created_by_id: str | None = Field(default=None, foreign_key="user.id", max_length=12)

    _foreign_keys: ClassVar = {"created_by": ("created_by_id", "User")}
    _many_to_many: ClassVar = {"files": ("file_project", "project_id", "file_id", "File")}
    _natural_key: ClassVar = ("name",)
    _display: ClassVar = ("id", "name")
    created_by = _fk("created_by")
    files = _link("files")


class FileTagLink(SQLModel, table=True):
    """Which Files carry which Tags."""

    if TYPE_CHECKING:  # made by SQLModel; declared for the type checker only
        __table__: ClassVar[sa.Table]

    __tablename__ = "file_tag"
    __table_args__ = (sa.Index("ix_file_tag_tag_id_file_id", "tag_id", "file_id"),)  # migration 0005
    file_id: str = Field(foreign_key="file.id", primary_key=True, max_length=20, ondelete="CASCADE")
    tag_id: str = Field(foreign_key="tag.id", primary_key=True, max_length=12, ondelete="CASCADE")


class FileProjectLink(SQLModel, table=True):
    """Which Files belong to which Projects."""

    if TYPE_CHECKING:  # made by SQLModel; declared for the type checker only
        __table__: ClassVar[sa.Table]

    __tablename__ = "file_project"
    __table_args__ = (sa.Index("ix_file_project_project_id_file_id", "project_id", "file_id"),)  # migration 0005
    file_id: str = Field(foreign_key="file.id", primary_key=True, max_length=20, ondelete="CASCADE")
    project_id: str = Field(foreign_key="project.id", primary_key=True, max_length=12, ondelete="CASCADE")


class FileStat(SQLModel, table=True):
    """The stat cache: size and mtime (ns) of a local File's data when it last matched the File's hash.

    Written by the ``cache=True`` check (:mod:`lamin_flows.tracking.cache`); while a file's size
    and mtime are unchanged, its content is taken as verified and not hashed again.
    """

    if TYPE_CHECKING:  # made by SQLModel; declared for the type checker only
        __table__: ClassVar[sa.Table]

    __tablename__ = "file_stat"
    file_id: str = Field(foreign_key="file.id", primary_key=True, max_length=20, ondelete="CASCADE")
    size: int = Field(sa_type=sa.BigInteger)
    mtime_ns: int = Field(sa_type=sa.BigInteger)


class InstanceRow(SQLModel, table=True):
    """Which lamin_flows instance(s) use this registry database (see :mod:`lamin_flows.registry.ownership`)."""

    if TYPE_CHECKING:  # made by SQLModel; declared for the type checker only
        __table__: ClassVar[sa.Table]

    __tablename__ = "lamin_instance"
    id: str = Field(primary_key=True, max_length=12)
    name: str = Field(sa_column=Column(sa.String(255), unique=True, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=Column(sa.DateTime(timezone=True)))
