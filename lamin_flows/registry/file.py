"""File: the central registry. A file's metadata, where its data lives, and how it was made."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlmodel import Field

from lamin_flows._ids import id20
from lamin_flows.errors import ValidationError
from lamin_flows.registry.models import _fk, _link
from lamin_flows.registry.record import Record
from lamin_flows.storage.keys import storage_key

if TYPE_CHECKING:
    from lamin_flows.storage.base import StorageBackend


class File(Record, table=True):
    """A file, or an in-memory object saved as one, with its metadata and provenance.

    Args:
        data: a local path, a cloud URL, a pandas DataFrame or an AnnData.
        key: where to store the data, relative to the storage root (e.g. ``"images/a.jpg"``).
            A path already inside a storage root keeps its relative path as key.
        name: a human-readable name; defaults to the file name.
        description: free text.
        version: a version label for this content (default: "1" for a new key, then the
            next whole number).
        revises: a saved File this one is a new version of (its key is used; no ``key=`` needed).
        run: the Run that made the data (default: the current tracked run, if any when saved).

    Without data, ``ln.File(key=..., storage_id=..., size=..., hash=...)`` makes a record from
    metadata alone. An unknown keyword raises UnknownFieldError naming it and the valid ones.

    If the key's latest version holds this content, or (without a key) the same content is
    already registered, the existing record is returned instead. Other content under a known
    key is a new version: saving it makes it the latest, and every older version stays
    retrievable (``file.versions``).

    Example:
        >>> file = ln.File("./mydata/mini.csv")           # in storage: registered in place
        >>> file = ln.File("/tmp/a.jpg", key="images/a.jpg").save()   # copied in
        >>> file = ln.File(df, name="iris").save()          # serialized to parquet
        >>> file = ln.File(data=df, key="tables/iris.parquet", run=run)
        >>> file.load()
        >>> new = ln.File(df2, key="reports/iris.parquet").save()  # version "2" if the key exists
    """

    __tablename__ = "file"
    __table_args__ = (
        # one latest version per key; older versions keep the key (partial index: SQLite and PostgreSQL)
        sa.Index(
            "uq_file_storage_key_latest",
            "storage_id",
            "key",
            unique=True,
            sqlite_where=sa.text("is_latest"),
            postgresql_where=sa.text("is_latest"),
        ),
        sa.Index("uq_file_stem_version", "stem_id", "version", unique=True),
        # the ids of latest versions: latest-only queries through a link table (migration 0005)
        sa.Index(
            "ix_file_latest_id", "id", sqlite_where=sa.text("is_latest = 1"), postgresql_where=sa.text("is_latest")
        ),
    )
    id: str = Field(default_factory=id20, primary_key=True, max_length=20)
    name: str | None = Field(default=None, max_length=1024)
    key: str | None = Field(default=None, max_length=1024, index=True)
    storage_id: str = Field(foreign_key="storage.id", max_length=12)
    suffix: str = Field(default="", max_length=32)
    size: int | None = Field(default=None, sa_type=sa.BigInteger)
    hash: str | None = Field(default=None, max_length=86, index=True)
    hash_type: str | None = Field(default=None, max_length=16)
    description: str | None = Field(default=None)
    transform_id: str | None = Field(default=None, foreign_key="transform.id", max_length=12, index=True)
    run_id: str | None = Field(default=None, foreign_key="run.id", max_length=20, index=True)
    created_by_id: str | None = Field(default=None, foreign_key="user.id", max_length=12)
    version: str | None = Field(default=None, max_length=64)
    is_latest: bool = Field(default=True)
    stem_id: str | None = Field(default=None, max_length=20, index=True)

    _foreign_keys: ClassVar = {
        "storage": ("storage_id", "Storage"),
        "transform": ("transform_id", "Transform"),
        "run": ("run_id", "Run"),
        "created_by": ("created_by_id", "User"),
    }
    _many_to_many: ClassVar = {
        "tags": ("file_tag", "file_id", "tag_id", "Tag"),
        "projects": ("file_project", "file_id", "project_id", "Project"),
        "input_of": ("run_input", "file_id", "run_id", "Run"),
    }
    _display: ClassVar = ("id", "key", "version", "name", "suffix", "size", "hash", "hash_type")
    # A filter on one of these reaches every version; other queries see latest versions only
    _version_fields: ClassVar = ("id", "is_latest", "version", "stem_id", "run", "run_id")
    _view_columns: ClassVar = ("id", "key", "size", "hash", "run_id")  # ln.view() is a glance
    storage = _fk("storage")
    transform = _fk("transform")
    run = _fk("run")
    created_by = _fk("created_by")
    tags = _link("tags")
    projects = _link("projects")
    input_of = _link("input_of")

    # ---- construction ---------------------------------------------------------------
    # Every keyword ln.File(data, ...) takes besides data; extend this list (and _construct) for new ones.
    _construct_keywords: ClassVar[tuple[str, ...]] = ("key", "name", "description", "version", "revises", "run")

    @classmethod
    def _construct(cls, data: Any = None, /, **kwargs: Any) -> File:
        from lamin_flows.errors import did_you_mean
        from lamin_flows.registry import files_io, storages
        from lamin_flows.registry.record import _check_record

        if "data" in kwargs:
            if data is not None:
                raise ValidationError("File() got data twice, positionally and as data=; pass it once")
            data = kwargs.pop("data")
        for name in kwargs:
            if name not in cls._construct_keywords:
                from lamin_flows.errors import UnknownFieldError

                valid = ("data", *cls._construct_keywords)
                raise UnknownFieldError(
                    f"File() got an unknown keyword {name!r}.{did_you_mean(name, valid)}"
                    f" Valid keywords with data: {', '.join(valid)}."
                )
        if data is None:
            cls._missing("storage_id", "storage")
        run = kwargs.pop("run", None)
        if run is not None:
            _check_record(cls, "run", "Run", run)
        file = files_io.construct(
            cls, data, **{k: kwargs.get(k) for k in ("key", "name", "description", "version", "revises")}
        )
        if run is not None and not file._lf.saved:
            file.run = run
            file.transform_id = run.transform_id
        elif run is not None and file.run_id != run.id:  # an existing record keeps the run that made it
            from lamin_flows import _logging

            _logging.warning(
                f"File {file.id} already holds this content and keeps its run {file.run_id}; run={run.id} was not"
                " applied (use a new key for a new record)"
            )
        pending = storages.unsaved_storage(file.storage_id)
        if pending is not None:  # a new bucket: saved with the File, not before
            file._lf.related["storage"] = pending
        return file

    @classmethod
    def _missing(cls, name: str, relation: str | None) -> None:
        if name == "storage_id":
            raise ValidationError(
                "File() needs data: a path, a cloud URL, a DataFrame or an AnnData, e.g. ln.File('data.csv')"
                " or ln.File(df, key='tables/df.parquet'); nothing was created"
            )
        super()._missing(name, relation)

    # ---- versions -------------------------------------------------------------------
    @property
    def versions(self) -> Any:
        """Every version of this File's key (or of its version line), oldest first, as a QuerySet.

        Example:
            >>> file = ln.File.select(key="reports/nightly.parquet").one()
            >>> [(f.version, f.is_latest) for f in file.versions]
            [('1', False), ('2', True)]
        """
        from lamin_flows.registry.query import QuerySet

        table = File.__table__
        query = QuerySet(File, all_versions=True)
        if not self._lf.saved and self.stem_id is None:
            return query._where(table.c.id == self.id)  # not saved yet: no versions
        return query._where(table.c.stem_id == (self.stem_id or self.id)).order_by("created_at", "id")

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str], *, key: str | None = None) -> list[File]:
        """One unsaved File per file under a folder (existing records for known content).

        Args:
            path: a local folder. Inside a storage root, files are registered in place with
                their relative paths as keys; outside, they are copied in under
                ``<folder name>/<relative path>`` (or ``<key>/<relative path>``) when saved.
            key: the key prefix to use instead of the folder's name (outside storage only).

        Returns:
            The Files, sorted by key; save them with ``ln.save(files)``.

        Example:
            >>> files = ln.File.from_dir("./mydata/sample_001/")
            >>> ln.save(files)
        """
        from lamin_flows.registry import files_io

        return files_io.from_dir(cls, path, key=key)

    # ---- storage --------------------------------------------------------------------
    @property
    def storage_key(self) -> str:
        """The key of the data in its storage: the key itself for the latest version, otherwise
        ``.lamindb/<id><suffix>`` (older versions, and files without a key)."""
        return storage_key(self.key, self.id, self.suffix, self.is_latest)

    def _located_key(self) -> str:
        """:attr:`storage_key`, after asking the registry whether this version is still the latest.

        Another save may have made a newer version since this object was loaded: then this
        version's bytes are no longer at the key but under its id (one indexed query).
        """
        if self.key is not None and self._lf.saved:
            from lamin_flows.registry import db, instance

            table = File.__table__
            with db.read(instance.current().engine) as conn:
                row = conn.execute(sa.select(table.c.is_latest).where(table.c.id == self.id)).first()
            if row is not None and bool(row.is_latest) != bool(self.is_latest):
                self.is_latest = bool(row.is_latest)
                self._lf.snapshot["is_latest"] = self.is_latest
        return self.storage_key

    def _backend(self) -> StorageBackend:
        from lamin_flows.registry.storages import backend_for_storage_id

        return backend_for_storage_id(self.storage_id)

    def path(self) -> Any:
        """The full path of the data in storage, as a path object locally and in the cloud.

        A ``UPath`` (universal_pathlib): ``.exists()``, ``.open()``, ``.fs`` and ``/`` work on a
        folder and a bucket alike; locally it is a ``pathlib.Path``. ``str()`` gives the path
        or the ``s3://`` URL.

        Example:
            >>> file.path()
            PosixUPath('/home/me/mydata/images/a.jpg')
            >>> file.path().exists()
            True
        """
        from lamin_flows.registry.paths import instance_upath

        return instance_upath(self._backend().path(self._located_key()))

    def stage(self, is_run_input: bool | None = None) -> Path:
        """A local path with the data (cloud objects are downloaded to the cache once).

        Args:
            is_run_input: whether the File becomes an input of the current run. Unset: it does
                inside a tracked run; False: never; True: it must (an error outside a run).

        Raises:
            ValidationError: ``is_run_input=True`` outside a tracked run.

        Example:
            >>> file.stage()
            >>> file.stage(is_run_input=False)   # a peek that is not lineage
        """
        self._check_run_input(is_run_input)
        from lamin_flows.storage import HashResult

        expected = None
        if self.hash is not None and self.size is not None:
            expected = HashResult(self.size, self.hash, self.hash_type or "md5")
        backend = self._backend()
        local = backend.stage(self._located_key(), expected)
        if self.size is not None and backend.protocol == "local":
            size = os.stat(local).st_size  # local data is not copied, so not checked: one stat says if it changed
            if size != self.size:
                from lamin_flows import _logging

                _logging.warning(
                    f"{local} changed since it was registered ({size:,} bytes, the record says {self.size:,}):"
                    " this is not the content File " + self.id + " describes; register it again"
                    " (ln.File(path).save()) to record the new content as a new version"
                )
        if is_run_input is not False:
            self._track_input()
        return local

    def load(self, is_run_input: bool | None = None) -> Any:
        """Load the data into memory: DataFrame (parquet, csv, tsv), AnnData (h5ad), dict (json),
        str (txt); other formats give the local path.

        Args:
            is_run_input: as for :meth:`stage`.

        Example:
            >>> df = ln.File.select(key="reports/nightly.parquet").one().load()
        """
        from lamin_flows.storage import load_path

        return load_path(self.stage(is_run_input=is_run_input), self.suffix)

    @staticmethod
    def _check_run_input(is_run_input: bool | None) -> None:
        if is_run_input is None or is_run_input is False:
            return
        if is_run_input is not True:
            raise ValidationError(f"is_run_input takes True, False or None, got {is_run_input!r}")
        from lamin_flows.registry.context import current_run_ref

        if current_run_ref() is None:
            raise ValidationError(
                "is_run_input=True, but no run is being tracked: call this inside an @ln.tracked function"
                " or flow, or pass is_run_input=False"
            )

    def open(self, mode: str = "rb") -> Any:
        """Open the data for reading without downloading it all (recorded as a run input)."""
        if "r" not in mode or "+" in mode:
            raise ValidationError(f"File.open() reads only; got mode {mode!r}. Use replace() to change content.")
        handle = self._backend().open(self._located_key(), mode)
        self._track_input()
        return handle

    def replace(self, data: Any) -> File:
        """Save new content (path or object) as the next version of this File's key; saved at once.

        This object becomes the new version (new id, ``version`` and ``is_latest``); the version
        it was keeps its record and its bytes (under ``.lamindb/<id><suffix>``), so runs that read
        it still point at what they read. Content equal to the latest version changes nothing.

        Example:
            >>> file.replace("./new_version.csv")
            >>> file.version, file.versions.count()
            ('2', 2)
        """
        from lamin_flows.registry import file_commit

        file_commit.replace(self, data)
        return self

    def delete(self, storage: bool | None = None) -> None:
        """Delete this version's record; with ``storage=True`` also its data.

        Deleting the latest version of a key makes the version before it the latest again, its
        bytes back at the key (the deleted version's bytes are kept under
        ``.lamindb/<id><suffix>`` unless ``storage=True``). Runs that read the File lose it as an
        input: a warning names them.

        Args:
            storage: True deletes the data, False keeps it. Unset: asks on a terminal,
                otherwise keeps the data and says where it is.

        Example:
            >>> file.delete(storage=True)
        """
        from lamin_flows.registry import file_commit

        file_commit.delete(self, storage)

    # ---- lineage --------------------------------------------------------------------
    def _track_input(self) -> None:
        from lamin_flows.registry.context import current_run_ref

        ref = current_run_ref()
        if ref is None or not self._lf.saved or self.run_id == ref.run_id:
            return
        from lamin_flows.registry import db, instance
        from lamin_flows.registry.persist import write_links

        try:
            with db.write(instance.current().engine) as conn:
                write_links(conn, File, "input_of", [(self.id, ref.run_id)], add=True)
        except sa.exc.IntegrityError:  # another process deleted this File (or the Run) meanwhile
            from lamin_flows import _logging

            _logging.warning(
                f"File {self.id} ({self.key or self.name}) was deleted by another process while this run read it;"
                f" it is not recorded as an input of run {ref.run_id}"
            )

    @classmethod
    def _before_save(cls, files: list[File]) -> None:
        """New Files without a run belong to the current run, if any (looked up once per save)."""
        unowned = [f for f in files if not f._lf.saved and f.run_id is None]
        if not unowned:
            return
        from lamin_flows.registry.context import current_run_ref

        ref = current_run_ref()
        if ref is not None:
            for f in unowned:
                f.run_id, f.transform_id = ref.run_id, ref.transform_id

    @classmethod
    def _before_write(cls, files: list[File], undo: list[Callable[[], None]]) -> None:
        """Before the write transaction: cloud copies, so that the write lock is held for the SQL only."""
        from lamin_flows.registry import file_precommit

        file_precommit.commit_before_lock(files, undo)

    @classmethod
    def _write(cls, conn: Any, files: list[File], undo: list[Callable[[], None]]) -> None:
        from lamin_flows.registry import file_commit

        file_commit.write_files(conn, files, undo)

    @classmethod
    def _after_save(cls, files: list[File]) -> None:
        from lamin_flows.registry import file_commit

        file_commit.after_save(files)

    # ---- views ----------------------------------------------------------------------
    def view_lineage(self, *, max_depth: int = 50) -> Any:
        """Where this File came from: its Run, that Run's inputs, their Runs, ... upstream.

        Args:
            max_depth: how many Run levels to follow.

        Returns:
            A lineage graph (nodes and edges): ``print(graph)`` shows a tree,
            ``graph.to_mermaid()`` gives Mermaid text, ``graph.write("lineage.svg")`` (or
            ``.html``) writes an image.

        Example:
            >>> graph = ln.File.select(key="reports/nonempty.parquet").one().view_lineage()
            >>> print(graph)
        """
        from lamin_flows.registry import hooks

        # the lineage walk lives in the tracking layer, above the registry: the package root names it
        return hooks.provider("lineage")(self, max_depth=max_depth)

    @classmethod
    def tree(
        cls, prefix: str | None = None, *, level: int | None = None, limit: int | None = 100, storage: Any = None
    ) -> Any:
        """Print the registered files of the default storage as a tree.

        Args:
            prefix: show only keys under this prefix (a folder), e.g. ``"sample_001"``.
            level: how many folder levels to open; deeper folders show their file count and size.
            limit: at most this many lines (None or 0: all); a "... and N more" line says what is left.

        Returns:
            What was printed (entries, counts), see :class:`lamin_flows.registry.tree.Tree`.

        Raises:
            NoResultError: no registered key is under ``prefix``.

        Example:
            >>> ln.File.tree("sample_001", level=1)
        """
        from lamin_flows.registry.tree import print_tree

        return print_tree(prefix, level=level, limit=limit, storage=storage)
