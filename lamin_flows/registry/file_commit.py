"""Saving, replacing and deleting Files: data and metadata together or not at all.

The rule everywhere: data first, metadata second, and undo the data if the metadata fails.
Staged data (see :mod:`lamin_flows.registry.files_io`) is moved into its final key inside the
write transaction (never over data a record points to), journaled first, and removed again
if the transaction fails. A crash can therefore leave data without a record (found, and with
the journal removed, by ``lamin verify --fix``), never a record without data.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lamin_flows import _logging
from lamin_flows._parallel import map_batched
from lamin_flows.config import get_settings
from lamin_flows.errors import StorageNotFoundError, ValidationError
from lamin_flows.registry import db, instance
from lamin_flows.registry.file import File, suffix_of
from lamin_flows.registry.files_io import Candidate, discard_staged, existing_matches
from lamin_flows.registry.persist import delete_records, insert_records, update_records


# ---- saving -----------------------------------------------------------------------------
def _lock_keys(conn: Any, files: list[File]) -> None:
    """On PostgreSQL, serialize writers of the same keys (SQLite's BEGIN IMMEDIATE already does).

    Copied-in Files also lock their content hash: two writers of the same content under different
    keys would otherwise both miss each other's row and store the content twice.
    """
    if conn.dialect.name != "postgresql":
        return  # before building thousands of names only to drop them
    names = [lock_name(f.storage_id, f.storage_key) for f in files]
    names += [f"hash:{f.hash}" for f in files if f.hash and "staged" in f._lf.extra]
    lock_names(conn, names)


def lock_name(storage_id: str, storage_key: str) -> str:
    """The advisory-lock name of one key of one storage (shared by saves and ``lamin verify``)."""
    return f"{storage_id}:{storage_key}"


# Names map onto a fixed number of lock slots (in lamin_flows' own advisory-lock class). One lock
# per name ran PostgreSQL out of lock-table memory ("out of shared memory", the default table has
# room for ~6,400 locks per server) as soon as one save held a few thousand new Files; with slots a
# save holds at most LOCK_SLOTS locks. Two writers whose names share a slot merely take turns.
LOCK_CLASS = 0x4C46  # "LF"
LOCK_SLOTS = 256


def lock_names(conn: Any, names: list[str]) -> None:
    """Take PostgreSQL transaction-level advisory locks on ``names``, all at once and in a fixed order."""
    if conn.dialect.name != "postgresql" or not names:
        return
    keys = sorted(set(names))
    conn.execute(
        sa.text(
            "SELECT pg_advisory_xact_lock(:cls, slot) FROM"
            " (SELECT DISTINCT hashtext(k) & :mask AS slot FROM unnest(CAST(:keys AS text[])) AS k ORDER BY 1) AS s"
        ),
        {"keys": keys, "cls": LOCK_CLASS, "mask": LOCK_SLOTS - 1},
    )


def _commit_data(file: File, undo: list[Callable[[], None]], failures: list[str]) -> None:
    """Put a File's staged data under its final key; the staged copy stays until the commit."""
    backend, staged = file._lf.extra["staged"]
    final = file.storage_key
    try:
        backend.commit(staged.temp_key, final, keep_temp=True, size=staged.size)
    except FileExistsError:
        if not backend.exists(final):
            raise  # not the key but one of its folders is taken (by a file): say so
        # No record holds this key (checked under the write lock): data left by an interrupted save.
        if backend.info(final).hash == file.hash:
            return
        backend.delete(final)
        backend.commit(staged.temp_key, final, keep_temp=True, size=staged.size)

    def remove() -> None:
        if failures:  # the storage did not answer the last undo: leave the rest to the journal
            failures.append(final)
            return
        try:
            _delete_quietly(backend, final)
        except BaseException:
            failures.append(final)  # the journal stays, so `lamin verify --fix` can finish the undo
            raise

    undo.append(remove)


def _write_journals(files: list[File], undo: list[Callable[[], None]], failures: list[str]) -> None:
    """Journal the keys these Files will fill, one journal per storage (see :mod:`.journal`)."""
    from lamin_flows.registry import journal

    groups: dict[str, list[File]] = {}
    for f in files:
        f._lf.extra.pop("journal", None)  # of an earlier, failed attempt: its undo dealt with it
        groups.setdefault(f.storage_id, []).append(f)
    for storage_id, group in groups.items():
        backend = group[0]._lf.extra["staged"][0]
        entries = [
            {
                "key": f.storage_key,
                "id": f.id,
                "size": f.size,
                "hash": f.hash,
                "hash_type": f.hash_type,
                "temp": f._lf.extra["staged"][1].temp_key,
            }
            for f in group
        ]
        key = journal.write(backend, storage_id, entries)
        undo.append(lambda backend=backend, key=key: _settle_journal(backend, key, failures))  # runs last
        group[0]._lf.extra["journal"] = (backend, key)  # removed by after_save once committed


def _settle_journal(backend: Any, key: str, failures: list[str]) -> None:
    """After a failed save: drop its journal if every move was undone, else keep it and say so."""
    from lamin_flows.registry import journal

    if not failures:
        journal.remove(backend, key)
        return
    _logging.warning(
        f"{len(failures)} file(s) of the failed save could not be taken out of {backend.root} again;"
        " `lamin verify --fix` removes them once the storage is reachable"
    )


def write_files(conn: Any, files: list[File], undo: list[Callable[[], None]]) -> None:
    """Insert new Files (moving their data into place) and update changed ones."""
    new = [f for f in files if not f._lf.saved]
    if new:
        _lock_keys(conn, new)
        candidates = [
            Candidate(f.storage_id, f.key, f.suffix, f.name, f.size or 0, f.hash or "", f.hash_type or "",
                      staged=f._lf.extra.get("staged"))
            for f in new
        ]
        rows = existing_matches(conn, candidates)  # again, under the write lock
        to_insert, to_commit, keys_seen = [], [], set()
        for f, c, row in zip(new, candidates, rows):
            if row is not None:
                f._adopt(row)
                continue
            if f.key is not None:
                if (f.storage_id, f.key) in keys_seen:
                    raise ValidationError(f"two Files in one save use the key {f.key!r}; give each its own key")
                keys_seen.add((f.storage_id, f.key))
            to_insert.append(f)
            if c.staged is not None:
                to_commit.append(f)
        failures: list[str] = []
        if to_commit:
            _write_journals(to_commit, undo, failures)
        if len(to_commit) > 16 and any(f._lf.extra["staged"][0].parallel_io for f in to_commit):
            # cloud copies wait on the network: overlap them, in batches
            for _ in map_batched(lambda f: _commit_data(f, undo, failures), to_commit, get_settings().workers):
                pass
        else:  # local links take microseconds: threads would only take turns with the GIL
            for f in to_commit:
                _commit_data(f, undo, failures)
        if to_insert:
            insert_records(conn, File, to_insert)
    saved = [f for f in files if f._lf.saved]
    _refuse_data_changes(saved)
    update_records(conn, File, saved)


# Columns that say where a File's data is and what it is: saving new values would not move or
# change the data, and the record would point at nothing (or at other bytes).
_DATA_COLUMNS = ("key", "storage_id", "suffix", "size", "hash", "hash_type")


def _refuse_data_changes(files: list[File]) -> None:
    for f in files:
        changed = sorted(set(f._changes()) & set(_DATA_COLUMNS))
        if changed:
            raise ValidationError(
                f"File {f.id}: {', '.join(changed)} cannot be changed by saving, the data would not follow."
                " Use file.replace(new_data) for new content, or ln.File(file.path(), key=...) to store it under"
                " another key. Nothing was saved."
            )


def after_save(files: list[File]) -> None:
    """After the commit: drop the staged copies (the data is under its final key, or the File
    turned out to exist already) and the save journals, which are temporary keys too."""
    temps: list[tuple[Any, str]] = []
    for file in files:
        extra = file._lf.extra
        if "staged" not in extra:
            continue
        backend, data = extra.pop("staged")
        extra.pop("finalizer").detach()
        temps.append((backend, data.temp_key))
        if "journal" in extra:
            temps.append(extra.pop("journal"))  # (backend, key): committed, nothing left to undo
    discard_staged(temps)


# ---- replace and delete -----------------------------------------------------------------
def replace(file: File, data: Any) -> None:
    """Put new content under an existing File's key; the old data stays until the commit."""
    from lamin_flows.registry.context import current_run_ref
    from lamin_flows.registry.record import utcnow
    from lamin_flows.storage import suffix_for, write_object

    if not file._lf.saved:
        raise ValidationError("replace() works on saved Files; for a new File just construct it with the new data")
    backend = file._backend()
    if isinstance(data, (str, os.PathLike)):
        path = Path(os.fspath(data)).expanduser()
        if not path.is_file():
            raise StorageNotFoundError(f"no file at {os.fspath(data)!r}: check the path")
        suffix, staged = suffix_of(path.name), backend.stage_in(path)
    else:
        suffix = suffix_for(data)
        staged = backend.write_temp(lambda dest: write_object(data, dest), suffix)
    if staged.hash == file.hash:
        backend.discard(staged.temp_key)
        _logging.info(f"File {file.id} already has this content; nothing replaced")
        return
    if file.key is not None and suffix != file.suffix:
        backend.discard(staged.temp_key)
        raise ValidationError(f"new data is {suffix!r} but key {file.key!r} holds {file.suffix!r}; save it under a new key")
    old_key, old_suffix = file.storage_key, file.suffix
    file.suffix = suffix
    final = file.storage_key
    ref = current_run_ref()
    values = {"size": staged.size, "hash": staged.hash, "hash_type": staged.hash_type, "suffix": suffix, "updated_at": utcnow()}
    if ref is not None:
        values.update(run_id=ref.run_id, transform_id=ref.transform_id)
    backup = None
    try:
        with db.write(instance.current().engine) as conn:
            lock_names(conn, [lock_name(file.storage_id, final)])  # PostgreSQL: one replace of a key at a time
            backup = backend.commit(staged.temp_key, final, overwrite=True)
            conn.execute(File.__table__.update().where(File.__table__.c.id == file.id).values(**values))
    except BaseException:
        file.suffix = old_suffix
        if backup:
            backend.restore(backup, final)
        elif old_key != final:
            _delete_quietly(backend, final)  # a committed key, not a temporary one: discard() refuses it
        backend.discard(staged.temp_key)
        raise
    if backup:
        backend.discard(backup)
    if old_key != final:
        _delete_quietly(backend, old_key)
    for name, value in values.items():
        setattr(file, name, value)
    file._mark_saved()


def delete(file: File, storage: bool | None) -> None:
    """Delete a File record, and its data if asked (metadata first: never a record without data)."""
    if storage is None:
        if sys.stdin is not None and sys.stdin.isatty():
            answer = input(f"Also delete the data at {file.path()}? [y/N] ")
            storage = answer.strip().lower() in ("y", "yes")
        else:
            storage = False
            _logging.info(f"kept the data at {file.path()}; file.delete(storage=True) also deletes it")
    location = file.path()
    backend, key = file._backend(), file.storage_key
    delete_records([file])
    if storage:
        # Under the key's lock, and only if no record took the key since: a save of the same key
        # that committed in between must not lose its data.
        with db.write(instance.current().engine) as conn:
            lock_names(conn, [lock_name(file.storage_id, key)])
            table = File.__table__
            taken = file.key is not None and conn.execute(
                sa.select(table.c.id).where(table.c.storage_id == file.storage_id, table.c.key == file.key)
            ).first()
            if taken:
                _logging.warning(f"kept the data at {location}: File {taken.id} was saved under this key meanwhile")
                return
            backend.delete(key)
        _logging.success(f"deleted {location}")


def _delete_quietly(backend: Any, key: str) -> None:
    try:
        backend.delete(key)
    except FileNotFoundError:
        pass
