"""Save journals: which final keys a write transaction is about to fill, so a crash can be undone.

Moving staged data into its final keys happens inside the database transaction, so a process
killed (or a connection lost) between the first move and the commit leaves data under final keys
that no record points to. Before the first move, a save writes a small journal to the storage's
temporary area (``.lamindb/_tmp/...-save.lamin-journal``) naming every key it will fill, with the
content hash it will put there; when the transaction has committed, it removes the journal again,
and when the transaction fails it removes the journal after undoing the moves.

A journal that outlives its save is therefore the exact list of what a crashed save may have left
behind. ``lamin verify`` reads it under the same locks the save held (SQLite's write lock, or
PostgreSQL advisory locks on the keys), so it never mistakes a save in progress for a crashed one,
and ``lamin verify --fix`` rolls the crashed save back: data under a listed key is removed only if
no record points to that key and the data is the content the journal names.

A journal is one small object per save and per storage (one PUT on S3), not one per file. It
names the instance that wrote it: on a storage shared by several instances, each one's
``lamin verify`` settles its own journals only.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamin_flows.storage.base import read_document
from lamin_flows.storage.durable import sync_folder

if TYPE_CHECKING:
    from lamin_flows.storage.base import StorageBackend

JOURNAL_SUFFIX = ".lamin-journal"
FORMAT = "lamin_flows.save-journal/1"


def is_journal_key(key: str) -> bool:
    """Whether a temporary key names a save journal (by its suffix; the content is checked on read)."""
    return key.endswith(JOURNAL_SUFFIX)


def write(backend: StorageBackend, storage_id: str, entries: list[dict[str, Any]], *, unlocked: bool = False) -> str:
    """Write a journal listing ``entries`` and return its key.

    Each entry names a final ``key``, the File ``id``, the ``size``, ``hash`` and ``hash_type`` of
    the content about to be moved there, and the ``temp`` key it is moved from. ``unlocked``: the
    moves run before the write lock is taken (see :mod:`.file_precommit`), so holding the lock
    does not prove that the save is over; ``lamin verify`` asks whether its process is alive.
    """
    document = {
        "format": FORMAT,
        "storage_id": storage_id,
        "instance_id": writer_id(),
        "created_at": datetime.now(UTC).isoformat(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "unlocked": unlocked,
        "files": entries,
    }
    text = json.dumps(document, separators=(",", ":"))

    # A cloud journal is durable once its upload returns; the local file it is uploaded from is a
    # scratch copy, removed right after, so flushing it (and its folder) would only cost time.
    local = backend.protocol == "local"

    def writer(path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
            if local:
                handle.flush()
                os.fsync(handle.fileno())  # on disk before any data is moved: it must outlive a crash
        if local:
            sync_folder(str(path.parent))  # and its name, or a crash can keep the moved data but lose the journal

    return backend.write_temp(writer, "-save" + JOURNAL_SUFFIX).temp_key


def entry(f: Any) -> dict[str, Any]:
    """The journal entry of a File whose staged copy is about to be moved to its final key."""
    return {
        "key": f.storage_key,
        "id": f.id,
        "size": f.size,
        "hash": f.hash,
        "hash_type": f.hash_type,
        "temp": f._lf.extra["staged"][1].temp_key,
    }


def writer_id() -> str | None:
    """The id of the instance this process writes for (journals name it: see :func:`is_foreign`)."""
    from lamin_flows.registry import instance, ownership

    try:  # never claims: journals are written inside the save's own write transaction
        return ownership.known_instance_id(instance.current())
    except Exception:  # no id can be had: the journal stays readable by every instance, as before  # noqa: BLE001
        return None


def is_foreign(document: dict[str, Any], instance_id: str | None) -> bool:
    """Whether a journal was written by another instance sharing the storage (never ours to settle).

    Journals written before instances had ids name none: they count as this instance's.
    """
    other = document.get("instance_id")
    return isinstance(other, str) and instance_id is not None and other != instance_id


def read(backend: Any, key: str) -> dict[str, Any] | None:
    """The journal stored under ``key``, or None if it is gone or is not a journal (e.g. cut short by a crash)."""
    return read_document(backend, key, FORMAT, "files")


def remove(backend: Any, key: str) -> None:
    """Remove a journal (no error if it is already gone)."""
    backend.discard(key)


def writer_may_be_running(document: dict[str, Any], min_age: float) -> bool:
    """Whether the save that wrote an ``unlocked`` journal may still be running.

    Such a save copies data before it takes the write lock, so holding the lock proves nothing.
    On this host: its process is alive (and is not this one). On another host, which cannot be
    asked: the journal is younger than ``min_age`` seconds.
    """
    if not document.get("unlocked"):
        return False
    pid = document.get("pid")
    if document.get("host") == socket.gethostname() and isinstance(pid, int):
        return pid != os.getpid() and _alive(pid)
    try:
        created = datetime.fromisoformat(str(document.get("created_at")))
    except ValueError:
        return False
    return (datetime.now(UTC) - created).total_seconds() < min_age


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:  # a killed child its parent has not reaped yet is a zombie: gone for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True
