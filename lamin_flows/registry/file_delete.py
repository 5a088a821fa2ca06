"""Deleting a File together with its data: both go, or (on any failure) both stay.

The order: a delete journal (``op: "delete"``, see :mod:`.journal`) naming the key, the File
and a *trash* key, then a second name of the data under the trash key (a hard link locally, a
server-side copy on S3), then one write transaction that deletes the record and, last, right
before COMMIT, the data at the key. Afterwards the trash copy and the journal are removed.

* Storage that refuses writes (read-only, forbidden): the journal or the trash copy fails,
  before anything changed; nothing is deleted and the error is our StoragePermissionError.
* A key whose folder forbids deleting: the data's deletion fails inside the transaction, which
  is rolled back; the record and the data stay.
* A crash before COMMIT: the record is there, its data is under the trash key (and perhaps no
  longer at the key): ``lamin verify --fix`` puts it back. A crash after COMMIT: the trash copy is
  left, named by the journal: ``lamin verify`` reports it as a delete's leftover and ``--fix``
  removes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lamin_flows import _logging
from lamin_flows.errors import StorageError, StoragePermissionError
from lamin_flows.registry import db, instance
from lamin_flows.registry.persist import delete_rows
from lamin_flows.storage.base import new_temp_key

if TYPE_CHECKING:
    from lamin_flows.registry.file import File


def delete_with_data(file: File, location: Any) -> None:
    """Delete ``file``'s record and its data at ``file.storage_key`` (see the module docstring)."""
    from lamin_flows.registry import journal

    backend, key = file._backend(), file.storage_key
    trash = new_temp_key(key.rpartition("/")[2], kind="deleted")
    entry = {
        "op": "delete",
        "key": key,
        "id": file.id,
        "size": file.size,
        "hash": file.hash,
        "hash_type": file.hash_type,
        "trash": trash,
    }
    try:
        journal_key = journal.write(backend, file.storage_id, [entry], unlocked=True)  # written before the lock
    except (PermissionError, StorageError) as error:
        raise _refused(file, location, error) from error
    kept, removed = True, False
    try:
        try:
            backend.link(key, trash)
        except FileNotFoundError:
            kept = False  # nothing at the key: the record goes, there is no data to keep
        except (PermissionError, StorageError) as error:
            raise _refused(file, location, error) from error
        with db.write(instance.current().engine) as conn:
            db.lock_names(conn, [db.lock_name(file.storage_id, key)])
            table = type(file).__table__
            taken = (
                key == file.key
                and conn.execute(
                    sa.select(table.c.id).where(
                        table.c.storage_id == file.storage_id,
                        table.c.key == file.key,
                        table.c.is_latest == sa.true(),
                        table.c.id != file.id,
                    )
                ).first()
            )
            delete_rows(conn, type(file), [file.id])
            if taken:
                _logging.warning(f"kept the data at {location}: File {taken.id} was saved under this key meanwhile")
            elif kept:
                try:
                    backend.delete(key)  # last, right before COMMIT: a failure rolls the record back too
                    removed = True
                except FileNotFoundError:
                    kept = False
                except (PermissionError, StorageError) as error:
                    raise _refused(file, location, error) from error
    except BaseException:
        if removed:  # the COMMIT failed after the data went: the record stays, so its data comes back
            try:
                backend.copy_over(trash, key)
            except Exception as error:
                _logging.warning(
                    f"could not put the data of File {file.id} back at {location} after the delete failed ({error});"
                    f" it is kept at {trash!r}: `lamin verify --fix` restores it"
                )
                raise
        _discard(backend, trash)
        journal.remove(backend, journal_key)
        raise
    file._lf.saved = False
    _discard(backend, trash)
    journal.remove(backend, journal_key)
    if taken:
        return
    if not kept:
        _logging.warning(f"there was no data at {location} to delete; the record is deleted")
        return
    _logging.success(f"deleted {location}")


def _refused(file: File, location: Any, error: BaseException) -> StoragePermissionError:
    why = str(error) if isinstance(error, StorageError) else f"{type(error).__name__}: {error}"
    refused = StoragePermissionError(
        f"Cannot delete {location}: the storage refused ({why}). Nothing was deleted: File {file.id} and its"
        " data are as they were. Give this user write access to the storage (or mount it writable), or delete"
        " the record only with file.delete(storage=False)."
    )
    refused.errno = getattr(error, "errno", None)
    return refused


def _discard(backend: Any, trash: str) -> None:
    try:
        backend.discard(trash)
    except Exception as error:  # the journal names it: `lamin verify --fix` removes it  # noqa: BLE001
        _logging.warning(f"could not remove the copy {trash!r} kept while deleting: {error}")
