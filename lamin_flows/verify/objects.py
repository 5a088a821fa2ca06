"""Stored objects as ``lamin verify`` sees them: one listing per storage, and how one is compared
with its record (size, then content hash: hashed locally, from the ETag or downloaded in the cloud).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

HASHABLE = ("md5", "blake3")
"""Hash types that can be computed from content (an S3 multipart ETag, "md5-n", cannot)."""


@dataclass(frozen=True)
class StoredObject:
    """Size, ETag (cloud) and modification time (seconds since the epoch) of one stored object."""

    size: int
    etag: str | None = None
    mtime: float | None = None


class Listing(dict[str, StoredObject]):
    """The stored objects by key, and the folders that could not be read (so their keys are unknown).

    Attributes:
        unreadable: (folder key, error) of each folder that could not be listed, e.g. no permission.
    """

    def __init__(self) -> None:
        super().__init__()
        self.unreadable: list[tuple[str, str]] = []


def list_objects(backend: Any) -> Listing:
    """Every stored object (temporary area included) with size, ETag and age where the backend knows them.

    A local subfolder that cannot be read is noted in ``unreadable`` and the rest is still listed;
    only a root that cannot be read at all raises.
    """
    from lamin_flows.storage import TMP_PREFIX
    from lamin_flows.storage.local import LocalBackend

    if isinstance(backend, LocalBackend):
        return _list_local(backend.root)
    fs = getattr(backend, "_fs", None)
    if fs is not None and hasattr(backend, "_base"):
        return _list_fsspec(backend)
    found = Listing()
    found.update({key: StoredObject(size) for key, size in backend.list("")})
    found.update({key: StoredObject(size) for key, size in backend.list(TMP_PREFIX)})
    return found


def _list_local(root: str) -> Listing:
    from lamin_flows.errors import StorageNotFoundError

    if not os.path.isdir(root):
        raise StorageNotFoundError(f"the storage folder {root!r} does not exist (moved, deleted or not mounted)")
    found = Listing()
    prefix = len(root.rstrip("/")) + 1

    def walk(folder: str) -> None:
        try:
            entries = os.scandir(folder)
        except FileNotFoundError:  # removed while listing
            return
        except OSError as error:
            if folder == root:
                raise  # the storage itself cannot be read: unreachable
            found.unreadable.append((folder[prefix:], error.strerror or str(error)))
            return
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        walk(entry.path)
                    elif entry.is_file():
                        stat = entry.stat()
                        found[entry.path[prefix:]] = StoredObject(stat.st_size, None, stat.st_mtime)
                except FileNotFoundError:  # removed while listing
                    pass

    walk(root)
    return found


def _list_fsspec(backend: Any) -> Listing:
    """One recursive listing of a bucket prefix; S3 returns ETag and LastModified with it."""
    fs, base = backend._fs, backend._base
    fs.invalidate_cache(base)
    with backend._errors():
        details = fs.find(base, detail=True)
    start = base.lstrip("/") + "/"
    found = Listing()
    for name, info in details.items():
        if info.get("type", "file") != "file":
            continue
        key = name.lstrip("/")[len(start) :]
        modified = info.get("LastModified") or info.get("mtime") or info.get("updated")
        mtime = modified.timestamp() if hasattr(modified, "timestamp") else None
        found[key] = StoredObject(int(info.get("size") or 0), info.get("ETag") or info.get("etag"), mtime)
    return found


def content_check(backend: Any, key: str, row: Any, obj: StoredObject, rehash: bool) -> tuple[str | None, bool]:
    """(what is wrong or None, whether the hash was compared) for one record whose object exists."""
    from lamin_flows.storage.local import LocalBackend

    if row.size is not None and obj.size != row.size:
        return f"size {obj.size} bytes, the record says {row.size}", False
    if not row.hash:
        return None, False
    if isinstance(backend, LocalBackend):
        if row.hash_type not in HASHABLE:
            return None, False
        from lamin_flows.storage.hashing import hash_file_as

        found = hash_file_as(backend.path(key), row.hash_type).hash
    else:
        from lamin_flows.storage.fsspec_support import etag_hash

        from_etag = etag_hash(obj.etag, obj.size) if obj.etag else None
        if rehash and row.hash_type in HASHABLE:
            found = _stream_hash(backend, key, obj.size, row.hash_type)
        elif from_etag is not None and from_etag.hash_type == row.hash_type:
            found = from_etag.hash
        else:
            return None, False
    if found != row.hash:
        return f"{row.hash_type} hash {found}, the record says {row.hash}", True
    return None, True


def _stream_hash(backend: Any, key: str, size: int, hash_type: str) -> str:
    from lamin_flows.storage.hashing import CHUNK, IncrementalHash

    hasher = IncrementalHash(size, hash_type)
    with backend.open(key, "rb") as handle:
        while chunk := handle.read(8 * CHUNK):
            hasher.update(chunk)
    return hasher.result().hash


def fresh_object(backend: Any, key: str) -> StoredObject | None:
    """The object under ``key`` as it is now (one request), or None."""
    from lamin_flows.storage.local import LocalBackend

    if isinstance(backend, LocalBackend):
        try:
            stat = os.stat(backend.path(key))
        except FileNotFoundError:
            return None
        return StoredObject(stat.st_size, None, stat.st_mtime)
    if not backend.exists(key):
        return None
    info = backend.info(key)  # size, and a hash from the ETag when it is one
    etag = None
    if info.hash_type == "md5":
        import base64

        etag = base64.urlsafe_b64decode(info.hash + "==").hex()
    elif info.hash_type == "md5-n":
        etag = info.hash
    return StoredObject(info.size, etag)
