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
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lamin_flows import _logging
from lamin_flows._parallel import map_batched
from lamin_flows.config import get_settings
from lamin_flows.errors import (
    KeyConflictError,
    StaleRecordError,
    StorageNotFoundError,
    StoragePermissionError,
    ValidationError,
)
from lamin_flows.registry import db, instance
from lamin_flows.registry.classes import file_class
from lamin_flows.registry.file_precommit import is_precommitted
from lamin_flows.registry.files_io import Candidate, by_backend, discard_staged, existing_matches
from lamin_flows.registry.persist import delete_records, delete_rows, insert_records, update_records
from lamin_flows.registry.sql import chunks, utcnow
from lamin_flows.storage.keys import storage_key, suffix_of

if TYPE_CHECKING:
    from lamin_flows.registry.file import File


# ---- saving -----------------------------------------------------------------------------
def _lock_keys(conn: Any, files: list[File]) -> None:
    """On PostgreSQL, serialize writers of the same keys (SQLite's BEGIN IMMEDIATE already does).

    Copied-in Files also lock their content hash: two writers of the same content under different
    keys would otherwise both miss each other's row and store the content twice.
    """
    if conn.dialect.name != "postgresql":
        return  # before building thousands of names only to drop them
    names = [db.lock_name(f.storage_id, f.storage_key) for f in files]
    names += [f"hash:{f.hash}" for f in files if f.hash and "staged" in f._lf.extra]
    db.lock_names(conn, names)


def _commit_data(file: File, undo: list[Callable[[], None]], failures: list[str]) -> None:
    """Put a File's staged data under its final key; the staged copy stays until the commit."""
    backend, staged = file._lf.extra["staged"]
    final = file.storage_key
    try:
        backend.commit(staged.temp_key, final, keep_temp=True, size=staged.size)
    except FileExistsError:
        if not backend.exists(final):
            raise  # not the key but one of its folders is taken (by a file): say so
        # No record holds this key (checked under the write lock). The same content: data left by an
        # interrupted save of this File, which this save completes. Other content is someone's file
        # that was never registered (or kept by delete(storage=False)): never ours to overwrite.
        if _is_our_leftover(backend, final, file):
            return
        raise KeyConflictError(
            f"{backend.path(final)} holds a file that no record points to (or that a save of another process"
            f" is putting there), with other content than File {file.id}. Nothing was saved and that file was"
            " not touched. Register it first"
            f" (ln.File({str(backend.path(final))!r}).save()) so that this save becomes its next version,"
            " or choose another key."
        ) from None

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


def _is_our_leftover(backend: Any, final: str, file: File) -> bool:
    """Whether unregistered bytes at ``final`` are this File's own, left by an interrupted save.

    Only in a storage no other instance writes to (there, the same bytes may be another
    registry's File), and never on the strength of an MD5 alone (see :mod:`.identity`).
    """
    from lamin_flows.registry import journal
    from lamin_flows.registry.identity import same_bytes
    from lamin_flows.storage.owner import shares

    if backend.info(final).hash != file.hash:
        return False
    me = journal.writer_id()
    if me is not None and shares(backend, me):
        return False
    return same_bytes(backend, final, backend, file._lf.extra["staged"][1].temp_key, file.hash_type)


def _write_journals(
    files: list[File], undo: list[Callable[[], None]], failures: list[str], previous: dict[str, Any] | None = None
) -> None:
    """Journal the keys these Files will fill, one journal per storage (see :mod:`.journal`).

    A new version that takes its key from an older one also names that version and the key
    its bytes are kept under, so that a crash before the commit can be rolled back.
    """
    from lamin_flows.registry import journal

    groups: dict[str, list[File]] = {}
    for f in files:
        f._lf.extra.pop("journal", None)  # of an earlier, failed attempt: its undo dealt with it
        groups.setdefault(f.storage_id, []).append(f)
    for storage_id, group in groups.items():
        backend = group[0]._lf.extra["staged"][0]
        entries = [{**journal.entry(f), **_previous_entry(f, (previous or {}).get(f.id))} for f in group]
        key = journal.write(backend, storage_id, entries)
        undo.append(lambda backend=backend, key=key: _settle_journal(backend, key, failures))  # type: ignore[misc]  # runs last; defaults bind this group's backend and key
        group[0]._lf.extra["journal"] = (backend, key)  # removed by after_save once committed


def _previous_entry(file: File, previous: Any) -> dict[str, Any]:
    if previous is None:
        return {}
    archive = storage_key(previous.key, previous.id, previous.suffix, False)
    return {
        "previous": {
            "id": previous.id,
            "archive": archive,
            "size": previous.size,
            "hash": previous.hash,
            "hash_type": previous.hash_type,
        }
    }


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
    """Insert new Files (moving their data into place, new versions over older ones) and update changed ones."""
    new = [f for f in files if not f._lf.saved]
    if new:
        _lock_keys(conn, new)
        for f in new:  # of an earlier, failed attempt: worked out again under this lock
            # column values go straight into __dict__ (as Record._build does): the instrumented
            # setattr costs ~5 µs, and this loop runs for every File of a bulk save
            values = f.__dict__
            extra = f._lf.extra
            if extra and extra.pop("auto_version", False):
                values["version"] = None
            if values.get("key") is not None and "renames" not in extra:
                values["stem_id"] = None
            values["is_latest"] = True
        candidates = [Candidate.of_file(f) for f in new]
        matches = existing_matches(conn, candidates)  # again, under the write lock
        to_insert, to_commit, versions, renames, keys_seen = [], [], [], [], set()
        for f, c, (row, previous) in zip(new, candidates, matches, strict=True):
            if row is not None:
                f._adopt(row)
                continue
            if previous is not None and is_precommitted(f):
                raise KeyConflictError(
                    f"{f.key!r} was saved by another process while this save copied its data; nothing was saved."
                    " Save again: this File then becomes the key's next version."
                )
            _check_revises(f, previous)
            line = ("key", f.storage_id, f.key) if f.key is not None else ("line", f.stem_id, None)
            if line[1] is not None:
                if line in keys_seen:
                    what = f"the key {f.key!r}" if f.key is not None else f"the version line of File {f.stem_id}"
                    raise ValidationError(
                        f"two Files in one save are new versions of {what}; save them one after the other"
                    )
                keys_seen.add(line)
            renamed = _renamed_latest(conn, f) if previous is None else None
            if previous is not None:
                f.__dict__["stem_id"] = previous.stem_id or previous.id
                versions.append((f, previous))
            elif renamed is not None:  # replace() with another suffix: the line moves to the new key
                f.__dict__["stem_id"] = renamed.stem_id or renamed.id
                versions.append((f, renamed))
                renames.append((f, renamed))
            elif f.__dict__.get("stem_id") is None:
                f.__dict__["stem_id"] = f.__dict__["id"]
            to_insert.append(f)
            if c.staged is not None:
                to_commit.append(f)
        now = utcnow()
        for f in to_insert:  # versions are ordered by when they were saved, not constructed
            f.__dict__["created_at"] = f.__dict__["updated_at"] = now
        _label_versions(conn, to_insert)
        swaps = [(f, p) for f, p in versions if f.key is not None and p.key == f.key]
        swapped = {f.id for f, p in swaps if "staged" in f._lf.extra}
        in_place = [(f, p) for f, p in swaps if f.id not in swapped]
        failures: list[str] = []
        to_commit = [f for f in to_commit if not is_precommitted(f)]  # copied before the lock (cloud)
        if to_commit:
            _write_journals(to_commit, undo, failures, {f.id: p for f, p in swaps})
        plain = [f for f in to_commit if f.id not in swapped]
        if len(plain) > 16 and any(f._lf.extra["staged"][0].parallel_io for f in plain):
            # cloud copies wait on the network: overlap them, in batches
            for _ in map_batched(lambda f: _commit_data(f, undo, failures), plain, get_settings().workers):
                pass
        else:  # local links take microseconds: threads would only take turns with the GIL
            for f in plain:
                _commit_data(f, undo, failures)
        archived = [(f, p) for f, p in swaps if f.id in swapped]
        for f, p in archived:  # the older version keeps its bytes under its own id
            _archive(f, p, undo, failures)
        for f, p in renames:  # the older version's bytes leave the old key for its own id
            _archive(f, p, undo, failures)
            if f._lf.extra.get("archive") is not None:
                f._lf.extra["vacate"] = p.key  # removed from the old key once committed (after_save)
        if in_place:  # one warning for a whole folder registered again
            f, p = in_place[0]
            more = f" (and {len(in_place) - 1} more keys)" if len(in_place) > 1 else ""
            _logging.warning(
                f"{f.key!r}{more} was changed in place outside lamin_flows: its new content becomes version"
                f" {f.version}; version {p.version} (File {p.id}) keeps its record, but its old bytes are gone"
                " (`lamin verify` lists it)"
            )
        if versions:
            ids, demote = [p.id for _, p in versions], _statement("demote", conn.dialect.name)
            for batch in chunks(ids):
                conn.execute(demote, {"ids": batch, "now": utcnow()})
        if to_insert:
            insert_records(conn, file_class(), to_insert)
        for f, p in archived:  # last, right before COMMIT: the key now holds the new version
            _overwrite(f, p, undo, failures)
        _make_durable(to_commit)  # after the last move, before the COMMIT that makes the records visible
    saved = [f for f in files if f._lf.saved]
    _refuse_data_changes(saved)
    update_records(conn, file_class(), saved)


def _make_durable(files: list[File]) -> None:
    """Wait until the data these Files moved into place keeps its names through a power cut.

    One call per storage for the whole save, whatever the number of Files (a local folder
    flushes the folders touched, or the filesystem once; cloud storage has nothing to do): a
    record is committed only once its data would survive a crash of the machine.
    """
    pairs: list[tuple[Any, str]] = []
    for f in files:
        backend = f._lf.extra["staged"][0]
        pairs.append((backend, f.storage_key))
        archive = f._lf.extra.get("archive")
        if archive is not None:  # the older version's bytes, kept under its own id
            pairs.append((backend, archive))
    for backend, keys in by_backend(pairs):
        backend.make_durable(keys)


def _check_revises(file: File, previous: Any) -> None:
    """A new version of a File (``replace()``, ``revises=``) follows that File, or nothing is saved.

    Checked under the write lock: if another process deleted it, or saved a newer version (or a
    new File under its key) since it was loaded, this File would otherwise become a version of
    someone else's data.
    """
    revises = file._lf.extra.get("revises")
    if revises is None or (previous is not None and previous.id == revises):
        return
    what = f"{file.key!r}" if file.key is not None else f"the version line of File {file.stem_id}"
    now = (
        f"File {previous.id} (version {previous.version}) is the latest version of {what} now"
        if previous is not None
        else f"no File holds {what} now"
    )
    raise StaleRecordError(
        f"File {revises} was deleted or replaced since it was loaded ({now}); nothing was saved and no data"
        f" was touched. Load the latest version (ln.File.select(key={file.key!r}).one()) and replace that,"
        " or save the data as a new File."
    )


def _renamed_latest(conn: Any, file: File) -> Any:
    """For a File that ``replace()`` moves to a key with another suffix: the latest version it follows."""
    renames = file._lf.extra.get("renames")
    if renames is None:
        return None
    table = type(file).__table__
    row = conn.execute(sa.select(table).where(table.c.id == renames)).first()
    if row is None or not row.is_latest:
        raise StaleRecordError(
            f"File {renames} is no longer the latest version of {file.key!r} (deleted, or replaced meanwhile);"
            " nothing was saved. Load the latest version and replace that."
        )
    return row


_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(name: str, dialect: str) -> Any:
    """A statement of the version bookkeeping, built once per dialect: a save of one File runs each of them,
    and building a SQLAlchemy statement costs ~0.25 ms, many times what SQLite takes to run it."""
    stmt = _STATEMENTS.get((name, dialect))
    if stmt is not None:
        return stmt
    table = file_class().__table__
    version = table.c.version
    if name == "highest":  # the highest whole-number label of each line (ASCII digits, fits a BIGINT)
        numeric: sa.ColumnElement[bool]
        if dialect == "postgresql":
            numeric = version.op("~", is_comparison=True)("^[0-9]{1,18}$")
        else:
            numeric = sa.and_(
                version != "",
                sa.not_(version.op("GLOB", is_comparison=True)("*[^0-9]*")),
                sa.func.length(version) <= 18,
            )
        stmt = (
            sa.select(table.c.stem_id, sa.func.max(sa.cast(version, sa.BigInteger)))
            .where(table.c.stem_id.in_(sa.bindparam("stems", expanding=True)), numeric)
            .group_by(table.c.stem_id)
        )
    elif name == "taken":  # which of the asked-for labels the lines hold already
        stmt = sa.select(table.c.stem_id, version).where(
            table.c.stem_id.in_(sa.bindparam("stems", expanding=True)),
            version.in_(sa.bindparam("labels", expanding=True)),
        )
    elif name == "demote":
        stmt = (
            table.update()
            .where(table.c.id.in_(sa.bindparam("ids", expanding=True)))
            .values(is_latest=False, updated_at=sa.bindparam("now"))
        )
    else:
        raise KeyError(name)
    _STATEMENTS[(name, dialect)] = stmt
    return stmt


def _label_versions(conn: Any, files: list[File]) -> None:
    """Give each new File a version label: the user's, checked unique in its line, or the next whole number.

    Two indexed queries per batch of lines, whatever their length: the highest whole-number label of
    each line, and which of the labels users asked for are taken (a line with years of daily versions
    costs what a line of two does).
    """
    new_lines = [f for f in files if f.stem_id is not None and f.stem_id != f.id]
    lines = sorted({f.stem_id for f in new_lines if f.stem_id is not None})  # (not None: said above, for mypy)
    asked = sorted({f.version for f in new_lines if f.version is not None})
    highest: dict[str, int] = {}
    taken: dict[str, set[str]] = {}
    dialect = conn.dialect.name
    for batch in chunks(lines):
        rows = conn.execute(_statement("highest", dialect), {"stems": batch})
        highest.update({stem: int(top) for stem, top in rows if top is not None})
        for asked_batch in chunks(asked) if asked else ():
            for stem, label in conn.execute(_statement("taken", dialect), {"stems": batch, "labels": asked_batch}):
                taken.setdefault(stem, set()).add(str(label))
    for f in files:
        values = f.__dict__
        stem = values.get("stem_id") or values["id"]
        if stem == values["id"] and values.get("version") is None:  # a new key: version "1", nothing to look up
            values["version"] = "1"
            f._lf.extra["auto_version"] = True
            continue
        labels = taken.setdefault(stem, set())
        if values.get("version") is not None:
            if values["version"] in labels:
                raise ValidationError(
                    f"{f.key or 'this version line'!r} has a version {f.version!r} already; choose another"
                    " version= label (or none, for the next number). Nothing was saved."
                )
        else:
            # one above the highest whole number: no label of the line can equal it
            values["version"] = str(highest.get(stem, 0) + 1)
            f._lf.extra["auto_version"] = True
        label = values["version"]
        labels.add(label)
        if label.isascii() and label.isdigit() and len(label) <= 18:
            highest[stem] = max(highest.get(stem, 0), int(label))


def _archive(file: File, previous: Any, undo: list[Callable[[], None]], failures: list[str]) -> None:
    """Keep the older version's bytes (at the key now) under ``.lamindb/<its id><suffix>``."""
    backend = file._lf.extra["staged"][0]
    archive = storage_key(previous.key, previous.id, previous.suffix, False)
    try:
        backend.link(previous.key, archive)
    except FileNotFoundError:
        if not backend.exists(previous.key):
            if previous.hash == file.hash:  # the same content: construction said so already (files_io._warn_broken)
                file._lf.extra["archive"] = None
                return
            _logging.warning(
                f"no data at {previous.key!r} for version {previous.version} (File {previous.id}); the new version"
                " takes the key (`lamin verify` lists the old one as missing)"
            )
            file._lf.extra["archive"] = None
            return
        raise
    except FileExistsError:
        # Left by an interrupted save, which archived the older version before it was killed: right if
        # it holds that version's content. It may be the only copy left: the key may hold the crashed
        # save's uncommitted bytes now, so the key is never compared with it (found by the kill campaign).
        if backend.info(archive).hash != previous.hash:
            backend.delete(archive)
            backend.link(previous.key, archive)
    file._lf.extra["archive"] = archive

    def remove() -> None:
        try:
            _delete_quietly(backend, archive)
        except BaseException:
            failures.append(archive)
            raise

    undo.append(remove)


def _overwrite(file: File, previous: Any, undo: list[Callable[[], None]], failures: list[str]) -> None:
    """Put a new version's staged bytes under its key, over the older version (archived first)."""
    backend, staged = file._lf.extra["staged"]
    archive = file._lf.extra.get("archive")
    if archive is None:  # nothing to keep at the key: a plain commit
        _commit_data(file, undo, failures)
        return
    backend.copy_over(staged.temp_key, file.key)

    def restore() -> None:
        try:
            backend.copy_over(archive, file.key)
        except BaseException:
            failures.append(file.key)  # type: ignore[arg-type]  # an overwrite is at a key; the journal stays, so `lamin verify --fix` can finish the undo
            raise

    undo.append(restore)


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
    from lamin_flows.registry.file_precommit import discard_unused

    discard_unused(files)
    temps: list[tuple[Any, str]] = []
    for file in files:
        extra = file._lf.extra
        if "pre_journal" in extra:
            temps.append(extra.pop("pre_journal"))
        vacate = extra.pop("vacate", None)
        if vacate is not None:  # replace() moved the line to another key: the old key is empty now
            try:
                _delete_quietly(extra["staged"][0], vacate)
            except OSError as error:
                _logging.warning(f"could not remove {vacate!r}, which no record points to any more: {error}")
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
    """Save new content as the next version of ``file``'s key (or version line); ``file`` becomes it.

    The older version keeps its record and its bytes (under ``.lamindb/<id><suffix>``).
    """
    from lamin_flows.registry.files_io import construct
    from lamin_flows.registry.storages import refuse_unowned

    if not file._lf.saved:
        raise ValidationError("replace() works on saved Files; for a new File just construct it with the new data")
    refuse_unowned(
        file.storage_id,
        f"replace File {file.id} ({file.key or file.name}) with new data",
        "Save the new data in this instance's storage instead: ln.File(data, key=...).save().",
    )
    if isinstance(data, (str, os.PathLike)):
        path = Path(os.fspath(data)).expanduser()
        if not path.is_file() and "://" not in os.fspath(data):
            raise StorageNotFoundError(f"no file at {os.fspath(data)!r}: check the path")
        suffix = suffix_of(path.name)
    else:
        from lamin_flows.storage import suffix_for

        suffix = suffix_for(data)
    if file.key is not None and suffix != file.suffix:
        _replace_renaming(file, data, suffix)
        return
    new = construct(type(file), data, key=None, name=file.name, description=file.description, revises=file)
    if new._lf.saved:
        if new.id == file.id:
            _logging.info(f"File {file.id} already has this content; nothing replaced")
        else:
            _logging.info(f"the latest version of {file.key or file.id!r} (File {new.id}) already has this content")
        file._adopt(new._values())
        return
    new.save()
    _logging.info(f"saved version {new.version} of {file.key or 'File ' + (file.stem_id or file.id)!r} (File {new.id})")
    file._adopt(new._values())


def _replace_renaming(file: File, data: Any, suffix: str) -> None:
    """``replace()`` with data of another format: the next version takes the key with the new suffix.

    ``tables/a.csv`` replaced by a parquet file becomes ``tables/a.parquet``, version 2 of the same
    line (``file.versions`` lists both); the older version's bytes move from the old key to
    ``.lamindb/<id><suffix>``, so the old key is empty afterwards.
    """
    from lamin_flows.registry.files_io import construct, user_key

    assert file.key is not None  # replace() renames Files at a key only
    old_suffix = file.suffix or ""
    stem = file.key[: -len(old_suffix)] if old_suffix and file.key.endswith(old_suffix) else file.key
    new_key = user_key(stem + suffix)
    table = type(file).__table__
    with db.read(instance.current().engine) as conn:
        taken = conn.execute(
            sa.select(table.c.id).where(
                table.c.storage_id == file.storage_id, table.c.key == new_key, table.c.is_latest == sa.true()
            )
        ).first()
    if taken is not None:
        raise ValidationError(
            f"replace() would move {file.key!r} to {new_key!r} for the new format {suffix!r}, but File {taken.id}"
            " holds that key; replace that File instead, or save the data under another key. Nothing was replaced."
        )
    new = construct(type(file), data, key=new_key, name=file.name, description=file.description)
    if new._lf.saved:
        raise ValidationError(
            f"this content is registered already as {new.key or new.id!r} (File {new.id}); nothing was replaced"
        )
    new._lf.extra["renames"] = file.id
    new.stem_id = file.stem_id or file.id
    new.save()
    _logging.info(f"saved version {new.version} of {file.key!r} as {new_key!r} (new format {suffix!r})")
    file._adopt(new._values())


def delete(file: File, storage: bool | None) -> None:
    """Delete a File record, and its data if asked (metadata first: never a record without data).

    Deleting the latest version of a key makes the version before it the latest again, its bytes
    back at the key.
    """
    location = file.path()  # also learns whether this version is still the latest (one query)
    if storage is None:
        if sys.stdin is not None and sys.stdin.isatty():
            answer = input(f"Also delete the data at {location}? [y/N] ")
            storage = answer.strip().lower() in ("y", "yes")
        else:
            storage = False
            _logging.info(f"kept the data at {location}; file.delete(storage=True) also deletes it")
    if not file._lf.saved:
        return
    from lamin_flows.registry.storages import refuse_unowned

    if storage:
        refuse_unowned(
            file.storage_id,
            f"delete the data of File {file.id} at {location}",
            "file.delete(storage=False) deletes the record only; delete the object with the bucket's own tools.",
        )
    _warn_if_read(file)
    from lamin_flows.registry.file_delete import _refused, delete_with_data

    if file.is_latest and file.stem_id is not None:
        try:
            if _promote(file, storage):
                return
        except StoragePermissionError as error:  # refused before anything changed (the journal, or a copy)
            raise _refused(file, location, error) from error
    if storage:
        delete_with_data(file, location)  # data and record together, journaled (see file_delete)
    else:
        delete_records([file])


def _warn_if_read(file: File) -> None:
    """Say which Runs read a File about to be deleted: their lineage will show this input as deleted."""
    link = type(file).metadata.tables["run_input"]
    with db.read(instance.current().engine) as conn:
        runs = [r.run_id for r in conn.execute(sa.select(link.c.run_id).where(link.c.file_id == file.id).limit(4))]
    if runs:
        shown = ", ".join(runs[:3]) + (", ..." if len(runs) > 3 else "")
        _logging.warning(
            f"File {file.id} ({file.key or file.name}) was read by {'more than 3' if len(runs) > 3 else len(runs)}"
            f" run(s) ({shown}); their lineage will show it as a deleted input"
            f" (see them first with ln.File.select(id={file.id!r}).one().input_of.df())"
        )


def _promote(file: File, storage: bool) -> bool:
    """Delete the latest version ``file`` and make the one before it the latest, data included.

    Returns False (nothing done) if ``file`` has no earlier version. In one transaction: the
    deleted version's bytes are linked to ``.lamindb/<id><suffix>``, the earlier version's bytes
    are put back at the key (last, right before COMMIT), and a journal names both, so a crash is
    rolled back by ``lamin verify --fix``.
    """
    from lamin_flows.registry import journal

    assert file.stem_id is not None  # the caller promotes only Files with a version line
    table = type(file).__table__
    backend = file._backend()
    at_key = file.key is not None and _owned(file)
    own: str | None = storage_key(file.key, file.id, file.suffix, False)  # where the deleted version's bytes go
    undo: list[Callable[[], None]] = []
    journal_key = None
    previous = None
    try:
        with db.write(instance.current().engine) as conn:
            if at_key:
                assert file.key is not None
                db.lock_names(conn, [db.lock_name(file.storage_id, file.key)])
            current = conn.execute(sa.select(table.c.is_latest).where(table.c.id == file.id)).first()
            if current is None or not current.is_latest:
                return False
            previous = conn.execute(
                sa.select(table)
                .where(table.c.stem_id == file.stem_id, table.c.id != file.id)
                .order_by(table.c.created_at.desc(), table.c.id.desc())
                .limit(1)
            ).first()
            if previous is None:
                return False
            source = storage_key(previous.key, previous.id, previous.suffix, False)
            if at_key:
                assert file.key is not None and own is not None
                entry = {
                    "op": "promote",
                    "key": file.key,
                    "id": previous.id,
                    "size": previous.size,
                    "hash": previous.hash,
                    "hash_type": previous.hash_type,
                    "source": source,
                    "keep_previous": not storage,
                    "previous": {
                        "id": file.id,
                        "archive": own,
                        "size": file.size,
                        "hash": file.hash,
                        "hash_type": file.hash_type,
                    },
                }
                journal_key = journal.write(backend, file.storage_id, [entry])
                try:
                    backend.link(file.key, own)
                    undo.append(lambda: _delete_quietly(backend, own))  # type: ignore[arg-type]  # own: set, linked
                except FileExistsError:
                    pass  # left by an interrupted delete: the same bytes (content checked by verify)
                except FileNotFoundError:
                    own = None  # the key holds nothing: nothing to keep
            delete_rows(conn, type(file), [file.id])
            conn.execute(table.update().where(table.c.id == previous.id).values(is_latest=True, updated_at=utcnow()))
            if at_key:
                assert file.key is not None
                backend.copy_over(source, file.key)  # last: the key holds the earlier version again
                if own is not None:
                    undo.append(lambda: backend.copy_over(own, file.key))  # type: ignore[arg-type]  # both set here
                backend.make_durable([file.key] if own is None else [file.key, own])  # before COMMIT
    except BaseException:
        for action in reversed(undo):
            try:
                action()
            except Exception as error:  # noqa: BLE001 - keep undoing the rest; say what could not be undone
                _logging.warning(f"could not undo a storage change after a failed delete: {error}")
        if journal_key is not None:
            journal.remove(backend, journal_key)
        raise
    file._lf.saved = False
    if at_key:
        _delete_quietly(backend, source)
        if own is not None:
            if storage:
                _delete_quietly(backend, own)
            else:
                _logging.info(f"kept the deleted version's data at {backend.path(own)}")
        assert journal_key is not None  # written for every File at a key
        journal.remove(backend, journal_key)
    elif storage:
        assert own is not None  # only a File at a key can have nothing to keep
        _delete_quietly(backend, own)
    _logging.success(
        f"deleted version {file.version} of {file.key or 'File ' + file.stem_id!r}; version {previous.version}"
        f" (File {previous.id}) is the latest again"
    )
    return True


def _owned(file: File) -> bool:
    """Whether ``file``'s storage may be written (see :func:`.storages.refuse_unowned`); where it may not,
    deleting a latest version makes the earlier one the latest in the registry only, and says so."""
    from lamin_flows.registry.storages import storage_owned

    owned, root = storage_owned(file.storage_id)
    if not owned:
        _logging.warning(
            f"{root} was registered in place (read only for lamin_flows): the version before {file.key!r}'s latest"
            " becomes the latest record, but its bytes are not put back at the key"
        )
    return owned


def _delete_quietly(backend: Any, key: str) -> None:
    try:
        backend.delete(key)
    except FileNotFoundError:
        pass
