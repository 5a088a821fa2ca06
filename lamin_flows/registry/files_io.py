"""How File records and their data move together: construct, save, replace, delete.

The rule everywhere: data first, metadata second, and undo the data if the metadata fails.
New data is written to a temporary key when the File is constructed (hashing while
copying, so it is read once), moved into its final key inside the write transaction
(never over data a record points to), and removed again if the transaction fails. A crash
can therefore leave data without a record (found by ``lamin verify``), never a record
without data.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import sqlalchemy as sa

from lamin_flows import _logging
from lamin_flows._ids import id20
from lamin_flows._parallel import map_batched
from lamin_flows.errors import KeyConflictError, StorageNotFoundError, ValidationError
from lamin_flows.registry import db, instance
from lamin_flows.registry.file import File, attach_staged, suffix_of
from lamin_flows.registry.persist import chunks, delete_records, insert_records, update_records

_roots: dict[str, str] = {}


# ---- storages ---------------------------------------------------------------------------
def _options() -> dict[str, Any] | None:
    return instance.current().config.storage_options or None


def backend_for_storage_id(storage_id: str) -> Any:
    """The storage backend of a Storage record id."""
    from lamin_flows.registry.models import Storage
    from lamin_flows.storage import get_backend

    root = _roots.get(storage_id)
    if root is None:
        root = Storage.select(id=storage_id).one().root
        _roots[storage_id] = root
    return get_backend(root, _options())


def _storages() -> list[Any]:
    from lamin_flows.registry.models import Storage

    instance.current().storage_id  # the default storage exists before we look
    records = Storage.select().all()
    for record in records:
        _roots[record.id] = record.root
    return records


def locate(path_or_url: str) -> tuple[Any, str] | None:
    """The Storage record whose root contains ``path_or_url`` and the key inside it."""
    from lamin_flows.storage import get_backend

    best = None
    for storage in _storages():
        key = get_backend(storage.root, _options()).relative_key(path_or_url)
        if key is not None and (best is None or len(storage.root) > len(best[0].root)):
            best = (storage, key)
    return best


def _register_bucket(url: str) -> tuple[Any, str]:
    """Register the bucket of a cloud URL outside every known storage as a new Storage."""
    from lamin_flows.registry.models import Storage
    from lamin_flows.storage import root_of

    protocol, rest = url.split("://", 1)
    bucket = rest.split("/", 1)[0]
    root = root_of(f"{protocol}://{bucket}")
    record = Storage(root=root, type=protocol).save()
    _roots[record.id] = record.root
    _logging.hint(f"registered {root} as a new storage location")
    key = locate(url)
    assert key is not None
    return key


# ---- construction -----------------------------------------------------------------------
@dataclass
class Candidate:
    """What we know about a file before deciding whether it is new."""

    storage_id: str
    key: str | None
    suffix: str
    name: str | None
    size: int
    hash: str
    hash_type: str
    backend: Any = None
    staged: Any = None  # set when the data was copied to a temporary key


def _discard(candidates: list[Candidate]) -> None:
    by_backend: dict[int, tuple[Any, list[str]]] = {}
    for c in candidates:
        if c.staged is not None:
            by_backend.setdefault(id(c.backend), (c.backend, []))[1].append(c.staged.temp_key)
    for backend, keys in by_backend.values():
        backend.discard_many(keys)


def _existing_rows(conn: Any, candidates: list[Candidate]) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    """Rows already holding one of the candidates' keys, and rows with a copied candidate's hash."""
    table = File.__table__
    by_key: dict[tuple[str, str], Any] = {}
    by_hash: dict[str, Any] = {}
    keyed: dict[str, list[str]] = {}
    for c in candidates:
        if c.key is not None:
            keyed.setdefault(c.storage_id, []).append(c.key)
    for storage_id, keys in keyed.items():
        for batch in chunks(keys):
            stmt = sa.select(table).where(table.c.storage_id == storage_id, one_of(conn, table.c.key, batch))
            for row in conn.execute(stmt):
                by_key[(row.storage_id, row.key)] = row
    hashes = sorted({c.hash for c in candidates if c.staged is not None})
    for batch in chunks(hashes):
        stmt = sa.select(table).where(one_of(conn, table.c.hash, batch)).order_by(table.c.created_at)
        for row in conn.execute(stmt):
            by_hash.setdefault(row.hash, row)
    return by_key, by_hash


def one_of(conn: Any, column: Any, values: Sequence[str]) -> Any:
    """``column IN values``, planned well on PostgreSQL even before the table has statistics.

    There the values travel as one array, unnested in a subquery (a hash or index lookup per
    value). As 2,000 separate parameters against a freshly bulk-loaded table (no ANALYZE yet),
    PostgreSQL compared every row with the whole list: over a second per batch at 60,000 Files.
    """
    if conn.dialect.name != "postgresql":
        return column.in_(values)
    from sqlalchemy.dialects.postgresql import ARRAY

    return column.in_(sa.select(sa.func.unnest(sa.literal(list(values), ARRAY(sa.Text)))))


def _conflict(key: str, row: Any) -> KeyConflictError:
    return KeyConflictError(
        f"key {key!r} already holds different content (File {row.id}, hash {row.hash}). Nothing was changed."
        f" To record new content under this key use ln.File.select(key={key!r}).one().replace(new_data);"
        " otherwise save under another key."
    )


def resolve(candidates: list[Candidate], description: str | None = None) -> list[File]:
    """Turn candidates into Files: existing records for known content, new unsaved Files otherwise."""
    try:
        with db.read(instance.current().engine) as conn:
            by_key, by_hash = _existing_rows(conn, candidates)
        for c in candidates:
            row = by_key.get((c.storage_id, c.key)) if c.key is not None else None
            if row is not None and row.hash != c.hash:
                raise _conflict(c.key, row)  # type: ignore[arg-type]
    except BaseException:
        _discard(candidates)
        raise
    out: list[File] = []
    new_by_hash: dict[str, File] = {}
    duplicates: list[Candidate] = []  # staged copies of content that is stored already
    for c in candidates:
        row = by_key.get((c.storage_id, c.key)) if c.key is not None else None
        if row is None and c.staged is not None:
            row = by_hash.get(c.hash)
        if row is not None:
            duplicates.append(c)
            _logging.hint(f"returning the existing File {row.id} ({row.key or row.name}): same content")
            out.append(File._from_row(row))
            continue
        if c.staged is not None and c.key is None and c.hash in new_by_hash:
            duplicates.append(c)
            out.append(new_by_hash[c.hash])
            continue
        file = File._build(  # the fast path of File(id=..., ...): thousands are made at once
            {
                "id": id20(),
                "name": c.name,
                "key": c.key,
                "storage_id": c.storage_id,
                "suffix": c.suffix,
                "size": c.size,
                "hash": c.hash,
                "hash_type": c.hash_type,
                "description": description,
            }
        )
        if c.staged is not None:
            attach_staged(file, c.backend, c.staged)
            new_by_hash.setdefault(c.hash, file)
        out.append(file)
    _discard(duplicates)
    return out


def user_key(key: str) -> str:
    """Validate a key a user chose; the ``.lamindb/`` area belongs to lamin_flows itself."""
    from lamin_flows.storage import MANAGED_PREFIX, validate_key

    key = validate_key(key)
    if key == MANAGED_PREFIX.rstrip("/") or key.startswith(MANAGED_PREFIX):
        raise ValidationError(
            f"key {key!r} is inside {MANAGED_PREFIX!r}, which lamin_flows manages; choose a key outside it"
            " (or pass no key to let lamin_flows place the data there)"
        )
    return key


def _key_suffix(key: str | None, suffix: str) -> str:
    if key is None:
        return suffix
    key_suffix = suffix_of(key)
    if suffix and key_suffix and key_suffix != suffix:
        raise ValidationError(f"key {key!r} ends in {key_suffix!r} but the data is {suffix!r}; use a key ending in {suffix!r}")
    return key_suffix or suffix


def construct(cls: Any, data: Any, *, key: str | None, name: str | None, description: str | None) -> File:
    """``ln.File(data, key=..., name=...)`` (see :class:`File`)."""
    from lamin_flows.storage import get_backend, hash_file, is_cloud, suffix_for, write_object

    inst = instance.current()
    if key is not None:
        key = user_key(key)
    if isinstance(data, (str, os.PathLike)):
        text = os.fspath(data)
        if is_cloud(text):
            storage, rel = locate(text) or _register_bucket(text)
            if key is not None and key != rel:
                raise ValidationError(
                    f"{text!r} is registered in place with key {rel!r}; it cannot take key {key!r}."
                    " Drop key= (or copy the object yourself first)."
                )
            info = get_backend(storage.root, _options()).info(rel)
            candidate = Candidate(storage.id, rel, suffix_of(rel), name or PurePosixPath(rel).name, info.size, info.hash, info.hash_type)
            return resolve([candidate], description)[0]
        path = Path(text).expanduser()
        if not path.exists():
            raise StorageNotFoundError(f"no file at {text!r}: check the path (relative paths start at {Path.cwd()})")
        if path.is_dir():
            raise ValidationError(f"{text!r} is a folder: use ln.File.from_dir({text!r}) to register its files")
        path = path.resolve()
        found = locate(str(path))
        if found is not None and (key is None or key == found[1]):
            storage, rel = found
            info = hash_file(path)
            candidate = Candidate(storage.id, rel, suffix_of(rel), name or path.name, info.size, info.hash, info.hash_type)
            return resolve([candidate], description)[0]
        suffix = _key_suffix(key, suffix_of(path.name))
        backend = get_backend(inst.config.storage_root, _options())
        staged = backend.stage_in(path)
        candidate = Candidate(inst.storage_id, key, suffix, name or path.name, staged.size, staged.hash, staged.hash_type, backend, staged)
        return resolve([candidate], description)[0]
    suffix = _key_suffix(key, suffix_for(data))
    backend = get_backend(inst.config.storage_root, _options())
    staged = backend.write_temp(lambda dest: write_object(data, dest), suffix)
    candidate = Candidate(inst.storage_id, key, suffix, name, staged.size, staged.hash, staged.hash_type, backend, staged)
    return resolve([candidate], description)[0]


def walk_dir(path: Path) -> list[tuple[str, str]]:
    """(relative POSIX path, full path) of every file under ``path``, sorted by the first,
    skipping lamin_flows' own ``.lamindb`` folder.

    Plain strings, joined once per folder: pathlib objects cost ~10 µs per file, which is a
    tenth of the budget of registering a file.
    """
    from lamin_flows.storage import MANAGED_PREFIX

    managed = MANAGED_PREFIX.strip("/")
    base = os.fspath(path)
    out: list[tuple[str, str]] = []
    for root, dirs, names in os.walk(base):
        dirs[:] = [d for d in dirs if d != managed]
        relative = os.path.relpath(root, base)
        prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
        out.extend((prefix + name, os.path.join(root, name)) for name in names)
    out.sort()
    return out


def list_dir(path: Path) -> list[Path]:
    """Every file under ``path`` (sorted), skipping lamin_flows' own ``.lamindb`` folder."""
    return [Path(full) for _, full in walk_dir(path)]


def from_dir(cls: Any, path: str | os.PathLike, *, key: str | None = None) -> list[File]:
    """``File.from_dir`` (see there)."""
    from lamin_flows.storage import get_backend, hash_many, validate_key

    inst = instance.current()
    folder = Path(os.fspath(path)).expanduser()
    if not folder.exists():
        raise StorageNotFoundError(f"no folder at {os.fspath(path)!r}: check the path")
    if not folder.is_dir():
        raise ValidationError(f"{os.fspath(path)!r} is a file, not a folder: use ln.File({os.fspath(path)!r})")
    folder = folder.resolve()
    listing = walk_dir(folder)
    rels = [rel for rel, _ in listing]
    paths = [full for _, full in listing]
    names = [rel.rpartition("/")[2] for rel in rels]
    found = locate(str(folder)) if key is None else None
    if found is None and key is None:  # the storage root itself: locate() finds no key for it
        found = next(((s, "") for s in _storages() if s.root == str(folder)), None)
    if found is not None:
        storage, rel_dir = found
        keys = [f"{rel_dir}/{r}" if rel_dir else r for r in rels]
        infos = hash_many(paths)
        candidates = [
            Candidate(storage.id, k, suffix_of(k), n, i.size, i.hash, i.hash_type) for k, n, i in zip(keys, names, infos)
        ]
    else:
        prefix = user_key(key.rstrip("/")) if key else folder.name
        keys = [validate_key(f"{prefix}/{r}") for r in rels]
        backend = get_backend(inst.config.storage_root, _options())
        staged = backend.stage_in_many(paths)
        candidates = [
            Candidate(inst.storage_id, k, suffix_of(k), n, s.size, s.hash, s.hash_type, backend, s)
            for k, n, s in zip(keys, names, staged)
        ]
    return resolve(candidates)


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
            backend.delete(final)
        except FileNotFoundError:
            pass
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
        by_key, by_hash = _existing_rows(conn, candidates)
        to_insert, to_commit, keys_seen = [], [], set()
        for f, c in zip(new, candidates):
            row = by_key.get((f.storage_id, f.key)) if f.key is not None else None
            if row is not None and row.hash != f.hash:
                raise _conflict(f.key, row)  # type: ignore[arg-type]
            if row is None and c.staged is not None:
                row = by_hash.get(f.hash)
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
            for _ in map_batched(lambda f: _commit_data(f, undo, failures), to_commit, _workers()):
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


def _workers() -> int:
    from lamin_flows.config import get_settings

    return get_settings().workers


def after_save(files: list[File]) -> None:
    """After the commit: drop the staged copies (the data is under its final key, or the File
    turned out to exist already) and the save journals."""
    journals = []
    temps: dict[int, tuple[Any, list[str]]] = {}
    for file in files:
        extra = file._lf.extra
        if "staged" not in extra:
            continue
        backend, data = extra.pop("staged")
        extra.pop("finalizer").detach()
        temps.setdefault(id(backend), (backend, []))[1].append(data.temp_key)
        if "journal" in extra:
            journals.append(extra.pop("journal"))
    for backend, keys in temps.values():
        backend.discard_many(keys)
    if journals:
        from lamin_flows.registry import journal

        for ref in journals:
            journal.remove(*ref)


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
