"""Cloud copies before the write transaction, so the registry's write lock is held for the SQL only.

Moving a staged object into its final key is one server-side copy per File on S3: 6,000 Files
are 6,000 requests, a minute or more. Inside the write transaction that is a minute of SQLite's
write lock, during which every other writer of the registry waits (and gave up, after 60 s,
with "database is locked"). So for new Files in cloud storage whose key no record holds, the
copies run first, outside any lock:

1. the keys are looked up (a read, no lock), and a save journal naming them is written, marked
   ``unlocked`` with this process's host and pid;
2. the staged objects are copied to their final keys, never over an existing object (one that
   is there already with the same content is used as it is, one with other content is left to
   the locked path, which says whose it is);
3. the write transaction runs as before (and checks every key again under the lock); the copies
   it finds done are not repeated;
4. after the commit the journal is removed. If the save fails, the copies are removed again,
   except where a record points to the key meanwhile (another process saved the same content
   there and uses the object).

``lamin verify`` leaves an ``unlocked`` journal alone while the process that wrote it is alive
(same host), or while it is younger than ``min_age`` (another host): its save may still be
copying, and holds no lock that verify could wait for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lamin_flows import _logging
from lamin_flows._parallel import map_batched
from lamin_flows.config import get_settings
from lamin_flows.registry import db, instance
from lamin_flows.registry.classes import file_class
from lamin_flows.registry.files_io import Candidate, existing_matches
from lamin_flows.registry.sql import chunks, one_of

if TYPE_CHECKING:
    from lamin_flows.registry.file import File


def _eligible(file: File) -> bool:
    extra = file._lf.extra
    if file._lf.saved or "staged" not in extra or "renames" in extra or "revises" in extra:
        return False
    return bool(extra["staged"][0].parallel_io)


def commit_before_lock(files: list[File], undo: list[Callable[[], None]]) -> None:
    """Copy the staged data of new cloud Files whose key is free into place, before the write lock."""
    eligible = [f for f in files if _eligible(f)]
    for f in files:
        f._lf.extra.pop("precommitted", None)  # of an earlier, failed attempt: its undo removed it
    if not eligible:
        return
    candidates = [Candidate.of_file(f) for f in eligible]  # each has a staged copy (_eligible)
    with db.read(instance.current().engine) as conn:
        matches = existing_matches(conn, candidates)
    plain = [f for f, (row, previous) in zip(eligible, matches, strict=True) if row is None and previous is None]
    if not plain:
        return
    by_storage: dict[str, list[File]] = {}
    for f in plain:
        by_storage.setdefault(f.storage_id, []).append(f)
    for group in by_storage.values():
        _commit_group(group, undo)


def _commit_group(group: list[File], undo: list[Callable[[], None]]) -> None:
    from lamin_flows.registry import journal

    backend = group[0]._lf.extra["staged"][0]
    storage_id = group[0].storage_id
    entries = [journal.entry(f) for f in group]
    journal_key = journal.write(backend, storage_id, entries, unlocked=True)
    owned: list[str] = []  # final keys this save filled (removed again if it fails)
    failures: list[str] = []

    def settle() -> None:  # runs last on failure: the journal goes once every copy is undone
        if failures:
            _logging.warning(
                f"{len(failures)} file(s) of the failed save could not be removed from {backend.root} again;"
                " `lamin verify --fix` removes them once the storage and registry are reachable"
            )
            return
        journal.remove(backend, journal_key)

    undo.append(settle)
    undo.append(lambda: _remove_unclaimed(backend, storage_id, owned, failures))
    group[0]._lf.extra["pre_journal"] = (backend, journal_key)  # removed by after_save once committed

    def copy(f: File) -> None:
        staged = f._lf.extra["staged"][1]
        key = f.storage_key
        try:
            backend.commit(staged.temp_key, key, keep_temp=True, size=staged.size)
        except FileExistsError:
            if backend.exists(key) and backend.info(key).hash == f.hash:
                f._lf.extra["precommitted"] = (key, False)  # the same content is there: use it (not ours to remove)
            return  # other content (or a folder in the way): the locked path decides and says why
        owned.append(key)
        f._lf.extra["precommitted"] = (key, True)

    for _ in map_batched(copy, group, get_settings().workers):
        pass


def _remove_unclaimed(backend: Any, storage_id: str, keys: list[str], failures: list[str]) -> None:
    """After a failed save: remove the objects it copied into place, unless a record uses one now."""
    if not keys:
        return
    table = file_class().__table__
    claimed: set[str] = set()
    try:
        with db.read(instance.current().engine) as conn:
            for batch in chunks(keys):
                stmt = sa.select(table.c.key).where(table.c.storage_id == storage_id, one_of(conn, table.c.key, batch))
                claimed.update(conn.execute(stmt).scalars())
    except Exception:
        failures.extend(keys)  # cannot tell which are used: keep them all, and the journal
        raise
    for key in keys:
        if key in claimed:
            continue
        try:
            backend.delete(key)
        except FileNotFoundError:
            pass
        except BaseException:
            failures.append(key)
            raise


def is_precommitted(file: File) -> bool:
    """Whether this File's data is under its final key already (copied before the lock)."""
    done = file._lf.extra.get("precommitted")
    return done is not None and done[0] == file.storage_key


def discard_unused(files: list[File]) -> None:
    """After the commit: objects copied in for Files that turned out to exist already (deduplicated
    by content under another id) are nobody's; remove them."""
    for f in files:
        key, owned = f._lf.extra.pop("precommitted", (None, False))
        if key is None or key == f.storage_key or not owned:
            continue
        staged = f._lf.extra.get("staged")
        if staged is None:
            continue
        backend = staged[0]
        try:
            backend.delete(key)
        except FileNotFoundError:
            pass
        except OSError as error:
            _logging.warning(f"could not remove {backend.path(key)!r}, which no record points to: {error}")
