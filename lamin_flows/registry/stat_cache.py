"""Is a File's data still what its record says? Checked cheaply, with a stat cache in the registry.

A local file is hashed once; its size and modification time (ns) at that moment are kept in
the table ``file_stat`` (one row per File id). While both are unchanged, the file is taken as
verified and not read again, so checking 10,000 files costs 10,000 ``stat`` calls and a few
batched queries. A file whose size or mtime changed is hashed again and compared with the
record's hash; a match refreshes its row. The table lives in the registry, so every process
and machine on the instance shares it: on a folder shared by several machines (NFS, SMB) a
file hashed by one is not hashed again by the next. Objects in a bucket are never read: their
size and ETag (one request each) are compared with the record.

Used by ``@ln.tracked(cache=True)`` and the ``LAMIN_CONTENT`` Prefect cache policy.

Example:
    >>> from lamin_flows.registry import stat_cache
    >>> rows = stat_cache.rows_by_id(["aB3x..."])
    >>> stat_cache.problems(rows.values())   # {} when every file's data matches its record
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lamin_flows.storage.keys import storage_key

HASHABLE = ("md5", "blake3")


@dataclass(slots=True)
class FileRow:
    """The columns of a File row a content check needs, with its stat cache entry."""

    id: str
    storage_id: str
    key: str | None
    suffix: str
    is_latest: bool
    size: int | None
    hash: str | None
    hash_type: str | None
    version: str | None
    stat: tuple[int, int] | None  # (size, mtime_ns) when last verified, or None

    @property
    def label(self) -> str:
        """How the File is named in messages: its key (and version), else its id."""
        name = self.key or self.id
        return f"{name!r} (version {self.version})" if self.version else repr(name)


def _select(conn: Any) -> Any:
    from lamin_flows.registry.classes import file_class
    from lamin_flows.registry.models import FileStat

    table, stats = file_class().__table__, FileStat.__table__
    columns = [
        table.c[name]
        for name in ("id", "storage_id", "key", "suffix", "is_latest", "size", "hash", "hash_type", "version")
    ]
    joined = table.outerjoin(stats, stats.c.file_id == table.c.id)
    return sa.select(*columns, stats.c.size.label("st_size"), stats.c.mtime_ns.label("st_mtime")).select_from(
        joined
    ), table


def _row(raw: Any) -> FileRow:
    # positional: attribute access on SQLAlchemy rows costs more than the rest of a check
    file_id, storage_id, key, suffix, is_latest, size, digest, hash_type, version, st_size, st_mtime = raw
    stat = None if st_size is None else (int(st_size), int(st_mtime))
    return FileRow(file_id, storage_id, key, suffix or "", bool(is_latest), size, digest, hash_type, version, stat)


def rows_by_id(ids: Sequence[str]) -> dict[str, FileRow]:
    """The rows of these Files (any version), by id; ids without a row are absent."""
    from lamin_flows.registry import db, instance
    from lamin_flows.registry.sql import chunks, one_of

    found: dict[str, FileRow] = {}
    with db.read(instance.current().engine) as conn:
        query, table = _select(conn)
        for batch in chunks(list(dict.fromkeys(ids))):
            for raw in conn.execute(query.where(one_of(conn, table.c.id, batch))):
                row = _row(raw)
                found[row.id] = row
    return found


def latest_by_key(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], FileRow]:
    """The latest version of each (storage id, key), where there is one."""
    from lamin_flows.registry import db, instance
    from lamin_flows.registry.sql import chunks, one_of

    wanted = set(pairs)
    keys = sorted({key for _, key in wanted})
    found: dict[tuple[str, str], FileRow] = {}
    with db.read(instance.current().engine) as conn:
        query, table = _select(conn)
        for batch in chunks(keys):
            for raw in conn.execute(query.where(table.c.is_latest, one_of(conn, table.c.key, batch))):
                row = _row(raw)
                if row.key is not None and (row.storage_id, row.key) in wanted:
                    found[(row.storage_id, row.key)] = row
    return found


def problems(rows: Iterable[FileRow]) -> dict[str, str]:
    """What is wrong with each File's data, by id (absent: its data matches the record).

    Local files are stat'ed and hashed only where the stat cache does not vouch for them; the
    rows of files hashed now are written back in one transaction.
    """
    from lamin_flows.registry.storages import backend_for_storage_id
    from lamin_flows.storage.local import LocalBackend

    found: dict[str, str] = {}
    fresh: list[tuple[str, int, int]] = []
    backends: dict[str, Any] = {}
    for row in {row.id: row for row in rows}.values():
        backend = backends.get(row.storage_id)
        if backend is None:
            backend = backends[row.storage_id] = backend_for_storage_id(row.storage_id)
        location = storage_key(row.key, row.id, row.suffix, row.is_latest)
        if isinstance(backend, LocalBackend):
            # keys in the registry passed validate_key when registered: joined as text, no Path per file
            problem = _check_local(row, os.path.join(backend.root, location), fresh)
        else:
            problem = _check_remote(row, backend, location)
        if problem is not None:
            found[row.id] = problem
    if fresh:
        remember(fresh)
    return found


def _check_local(row: FileRow, path: Any, fresh: list[tuple[str, int, int]]) -> str | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return f"its data is missing at {path}"
    if row.stat == (stat.st_size, stat.st_mtime_ns):
        return None  # unchanged since it was last verified: no rehash
    if row.size is not None and stat.st_size != row.size:
        return f"its data at {path} has {stat.st_size} bytes, the record says {row.size}"
    if not row.hash or row.hash_type not in HASHABLE:
        return None  # nothing to compare the bytes with
    from lamin_flows.errors import SourceChangedError
    from lamin_flows.storage.hashing import hash_file_as

    try:
        digest = hash_file_as(path, row.hash_type).hash
    except (FileNotFoundError, SourceChangedError) as exc:
        return f"its data at {path} changed while it was checked ({exc})"
    if digest != row.hash:
        return f"its data at {path} has {row.hash_type} hash {digest}, the record says {row.hash}"
    fresh.append((row.id, stat.st_size, stat.st_mtime_ns))  # the stat from before the hash: a later edit shows
    return None


def _check_remote(row: FileRow, backend: Any, location: str) -> str | None:
    try:
        info = backend.info(location)
    except FileNotFoundError:
        return f"its data is missing at {backend.path(location)}"
    if row.size is not None and info.size != row.size:
        return f"its data has {info.size} bytes, the record says {row.size}"
    if row.hash and info.hash_type == row.hash_type and info.hash != row.hash:
        return f"its data has {info.hash_type} hash {info.hash}, the record says {row.hash}"
    return None


def remember(entries: Sequence[tuple[str, int, int]]) -> None:
    """Record (file id, size, mtime_ns) of files just verified (one transaction)."""
    from lamin_flows.registry import db, instance
    from lamin_flows.registry.models import FileStat
    from lamin_flows.registry.sql import chunks, dialect_insert

    table = FileStat.__table__
    rows = list({file_id: (file_id, size, mtime) for file_id, size, mtime in entries}.values())
    try:
        with db.write(instance.current().engine) as conn:
            for batch in chunks(rows):
                # an upsert: another process may record the same files at the same moment
                insert = dialect_insert(conn, table)
                upsert = insert.on_conflict_do_update(
                    index_elements=[table.c.file_id],
                    set_={"size": insert.excluded.size, "mtime_ns": insert.excluded.mtime_ns},
                )
                conn.execute(upsert, [{"file_id": i, "size": s, "mtime_ns": m} for i, s, m in batch])
    except Exception as exc:  # the cache only saves work: failing to fill it must not fail the caller  # noqa: BLE001
        from lamin_flows import _logging

        _logging.hint(f"could not record {len(rows)} entries of the stat cache: {exc}")


def current_hash(path: str) -> str | None:
    """The content hash of the registered File at a local path or URL, as the data is now.

    The latest version at the path's key is looked up; its hash is returned if its data still
    matches it (stat cache first, rehash otherwise), else the hash of the data now. None: no
    File is registered at that path.
    """
    from lamin_flows.registry.storages import locate

    found = locate(path)
    if found is None:
        return None
    storage, key = found
    row = latest_by_key([(storage.id, key)]).get((storage.id, key))
    if row is None:
        return None
    problem = problems([row]).get(row.id)
    if problem is None:
        return row.hash
    if os.path.exists(path):
        from lamin_flows.storage.hashing import hash_file

        return hash_file(path).hash  # the scheme registering it would use: the same key once it is
    return "missing"
