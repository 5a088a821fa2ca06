"""``lamin verify``: check that the registry and its storage agree, and clean up after crashes.

For every Storage (or the one asked for), one query reads every File record and one listing
reads every stored object, and the two are compared:

* **missing**: a record whose storage key holds no object.
* **corrupt**: the object's size differs from the record, or its content hash does. Local data is
  hashed now; cloud objects are compared with their ETag when it is a plain MD5 and the record's
  hash is MD5 (the usual case below 16 MiB), otherwise by size, unless ``rehash=True`` downloads
  and hashes them.
* **interrupted**: a save journal (see :mod:`lamin_flows.registry.journal`) of a save that moved
  data into final keys and never committed. Journals are read under the locks the save held, so a
  save still in progress is waited for, never mistaken for a crashed one.
* **temporary**: files under ``.lamindb/_tmp/`` (staged copies, backups) older than ``min_age``
  seconds. Younger ones may belong to a save in progress, or to Files constructed and not yet
  saved: they are listed as *in progress* and left alone.
* **unreachable**: a storage that cannot be listed.

Stored objects that no record points to and no journal explains are listed as *unregistered*.
They do not count as problems: a storage folder may hold files a user has not registered.

With ``fix=True``: interrupted saves are rolled back (their data is removed from the final keys
no record points to, if it is the content the journal names), journals of saves that did commit
are removed with their staged copies, and temporary files older than ``min_age`` are removed. Rolling back
rather than completing is deliberate: completing would need what the crashed process held in
memory (names, tags, the run), and running the same save again re-creates all of it. Nothing a
record points to is ever deleted, and unregistered objects are never touched. Missing and corrupt
data cannot be repaired from the registry; the report says what to do.

Example:
    >>> from lamin_flows.verify import verify
    >>> report = verify()
    >>> report.ok, len(report.missing)
    (True, 0)

    $ lamin verify --fix
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa

from lamin_flows.errors import ValidationError
from lamin_flows.verify.report import NOTES, PROBLEMS, Finding, Report

__all__ = ["DEFAULT_MIN_AGE", "NOTES", "PROBLEMS", "Finding", "Report", "verify"]

DEFAULT_MIN_AGE = 3600.0
"""Seconds after which a temporary file counts as abandoned."""


def verify(
    *,
    fix: bool = False,
    storage: str | os.PathLike[str] | None = None,
    rehash: bool = False,
    min_age: float = DEFAULT_MIN_AGE,
) -> Report:
    """Check every File record against its storage; with ``fix``, clean up what crashes left.

    Args:
        fix: Roll back interrupted saves, remove journals of committed ones and temporary files
            older than ``min_age``. Never deletes data a record points to.
        storage: Check only this storage root (a folder or bucket URL registered as a Storage).
        rehash: Cloud storage: download and hash every object instead of trusting ETags.
        min_age: Seconds after which a temporary file is considered abandoned.

    Returns:
        A :class:`Report`; ``report.ok`` is False when anything is wrong.

    Raises:
        ValidationError: ``storage`` is not a registered storage root.

    Example:
        >>> from lamin_flows.verify import verify
        >>> print(verify(fix=True).summary())
    """
    from lamin_flows._progress import progress
    from lamin_flows.registry import instance
    from lamin_flows.verify.check import StorageCheck

    inst = instance.current()
    engine = inst.engine
    storages = _storages(storage)
    rows = _file_rows(engine, [s.id for s in storages])
    report = Report(storages=[s.root for s in storages])
    with progress("verifying", total=sum(len(v) for v in rows.values())) as advance:
        for record in storages:
            StorageCheck(report, engine, record, rows.get(record.id, []), fix, rehash, min_age, advance).run()
    return report


# ---- reading the registry -----------------------------------------------------------------
def _storages(root: str | os.PathLike[str] | None) -> list[Any]:
    from lamin_flows.registry import instance
    from lamin_flows.registry.models import Storage
    from lamin_flows.storage import root_of

    instance.current().storage_id  # noqa: B018 - the property makes the default storage exist before we look
    records = Storage.select().order_by("root").all()
    if root is None:
        return records
    normal = root_of(root)
    chosen = [r for r in records if r.root == normal]
    if not chosen:
        known = ", ".join(r.root for r in records)
        raise ValidationError(f"{os.fspath(root)!r} is not a registered storage root; registered: {known}")
    return chosen


def _file_rows(engine: Any, storage_ids: list[str]) -> dict[str, list[Any]]:
    """Every File row of these storages, in one query."""
    from lamin_flows.registry import db
    from lamin_flows.registry.file import File

    table = File.__table__
    names = ("id", "key", "storage_id", "suffix", "size", "hash", "hash_type", "version", "is_latest", "stem_id")
    columns = [table.c[n] for n in names]
    out: dict[str, list[Any]] = {}
    with db.read(engine) as conn:
        for row in conn.execute(sa.select(*columns).where(table.c.storage_id.in_(storage_ids))):
            out.setdefault(row.storage_id, []).append(row)
    return out
