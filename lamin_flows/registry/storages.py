"""The storage locations of the current instance: their backends, where a path lies, and who may write where.

A Storage record is a root (a folder or a bucket prefix); this module turns ids and paths into
backends and keys, makes the Storage of a bucket a File is registered in place from (read only,
saved with its first File), and refuses writes and deletes in storages this registry does not own
(see :mod:`lamin_flows.registry.ownership` for the owner markers).

Example:
    >>> from lamin_flows.registry.storages import locate
    >>> storage, key = locate("./mydata/sample_001/a.fcs")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lamin_flows import _logging
from lamin_flows.registry import db, instance

if TYPE_CHECKING:
    from lamin_flows.storage.base import StorageBackend

_roots: dict[str, str] = {}


def storage_options() -> dict[str, Any] | None:
    """The current instance's storage options (endpoint, credentials), or None."""
    return instance.current().config.storage_options or None


def backend_for_storage_id(storage_id: str) -> StorageBackend:
    """The storage backend of a Storage record id."""
    from lamin_flows.registry.models import Storage
    from lamin_flows.storage import get_backend

    root = _roots.get(storage_id)
    if root is None:
        root = Storage.select(id=storage_id).one().root
        _roots[storage_id] = root
    return get_backend(root, storage_options())


def all_storages() -> list[Any]:
    """Every Storage record (the default one made first if missing), their roots remembered."""
    from lamin_flows.registry.models import Storage

    instance.current().storage_id  # noqa: B018 - the property makes the default storage exist before we look
    records = Storage.select().all()
    for record in records:
        _roots[record.id] = record.root
    return records


def locate(path_or_url: str) -> tuple[Any, str] | None:
    """The Storage record whose root contains ``path_or_url`` and the key inside it."""
    from lamin_flows.storage import get_backend

    best = None
    for storage in all_storages():
        key = get_backend(storage.root, storage_options()).relative_key(path_or_url)
        if key is not None and (best is None or len(storage.root) > len(best[0].root)):
            best = (storage, key)
    return best


_unsaved_storages: dict[str, Any] = {}  # root -> Storage of a new bucket, saved with its first File


def unsaved_storage(storage_id: str) -> Any:
    """The not yet saved Storage record with this id (a new bucket), or None."""
    for record in _unsaved_storages.values():
        if record.id == storage_id and not record._lf.saved:
            return record
    return None


def register_bucket(url: str) -> tuple[Any, str]:
    """A Storage for the bucket of a cloud URL outside every known storage, and the URL's key.

    The Storage is not written here: it is saved with the first File saved in it, so a failed
    or unsaved construction leaves no row behind.
    """
    from lamin_flows.registry.models import Storage
    from lamin_flows.storage import get_backend, root_of

    protocol, rest = url.split("://", 1)
    bucket = rest.split("/", 1)[0]
    root = root_of(f"{protocol}://{bucket}")
    record = _unsaved_storages.get(root)
    if record is None or record._lf.saved:
        # someone else's bucket: no owner marker is written, and nothing there is ever written or deleted
        record = _unsaved_storages[root] = Storage(root=root, type=protocol, owned=False)
        _logging.hint(f"{root} becomes a new storage location, read only, when the File is saved")
    _roots[record.id] = record.root
    key = get_backend(root, storage_options()).relative_key(url)
    assert key is not None
    return record, key


def refuse_unowned(storage_id: str, what: str, fix: str) -> None:
    """Refuse to write or delete data in a storage this registry does not own.

    A bucket that Files were registered in place from by URL is someone else's: lamin_flows
    reads it, and never writes, overwrites or deletes objects there (nor save journals).

    Args:
        storage_id: the Storage of the data about to be written or deleted.
        what: what would have been done, e.g. "delete the data of File X".
        fix: what the user can do instead.

    Raises:
        StoragePermissionError: the Storage is registered as not owned (``owned`` false).

    Example:
        >>> refuse_unowned(file.storage_id, f"delete the data of File {file.id}", "...")  # doctest: +SKIP
    """
    from lamin_flows.errors import StoragePermissionError

    owned, root = storage_owned(storage_id)
    if not owned:
        raise StoragePermissionError(
            f"Cannot {what}: {root} was registered in place by URL and is not owned by this instance, so"
            f" lamin_flows never writes or deletes anything there. Nothing was changed. {fix}"
        )


def storage_owned(storage_id: str) -> tuple[bool, str | None]:
    """Whether this registry owns the Storage ``storage_id`` (may write and delete there), and its root.

    Example:
        >>> storage_owned(file.storage_id)  # doctest: +SKIP
        (False, 's3://other-bucket')
    """
    from lamin_flows.registry.models import Storage

    pending = unsaved_storage(storage_id)
    if pending is not None:
        return bool(pending.owned), str(pending.root)
    table = Storage.__table__
    with db.read(instance.current().engine) as conn:
        row = conn.execute(sa.select(table.c.owned, table.c.root).where(table.c.id == storage_id)).first()
    return (True, None) if row is None else (bool(row.owned), str(row.root))
