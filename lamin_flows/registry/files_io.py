"""How data comes into File records: constructing Files from paths, folders and objects
(where a path lies, in which Storage, is :mod:`lamin_flows.registry.storages`).

New data is written to a temporary key when the File is constructed (hashing while copying,
so it is read once), which is how construction knows the hash and can return the existing
record for known content. Saving, replacing and deleting (data moved into place inside the
write transaction, and undone if it fails) is :mod:`lamin_flows.registry.file_commit`.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lamin_flows import _logging
from lamin_flows._ids import id20
from lamin_flows.errors import NoResultError, StorageNotFoundError, ValidationError
from lamin_flows.registry import db, instance
from lamin_flows.registry.classes import file_class
from lamin_flows.registry.persist import collector_paused
from lamin_flows.registry.sql import chunks, one_of
from lamin_flows.registry.storages import all_storages, backend_for_storage_id, locate, register_bucket, storage_options
from lamin_flows.storage.keys import suffix_of

if TYPE_CHECKING:
    from lamin_flows.registry.file import File


def find_file(key_or_id: str) -> File:
    """The File with this key (the default storage's, if several storages hold it), else with this id.

    Raises:
        NoResultError: Neither a key nor an id of a File.
    """
    files = file_class()
    matches: list[File] = files.select(key=key_or_id).all() or files.select(id=key_or_id).all()
    if not matches:
        raise NoResultError(
            f"no File with key or id {key_or_id!r}; list keys with `lamin tree` or ln.File.select().df()"
        )
    if len(matches) > 1:  # the same key in several storages: the default storage's
        default = instance.current().storage_id
        matches = [f for f in matches if f.storage_id == default] or matches
    return matches[0]


def _discard_temp(backend: Any, temp_key: str) -> None:
    try:
        backend.discard(temp_key)
    except Exception:  # interpreter shutdown or storage gone: `lamin verify --fix` cleans up  # noqa: BLE001
        pass


def attach_staged(file: File, backend: Any, staged: Any) -> None:
    """Remember the temporary data of an unsaved File; it is removed if the File is dropped."""
    file._lf.extra["staged"] = (backend, staged)
    file._lf.extra["finalizer"] = weakref.finalize(file, _discard_temp, backend, staged.temp_key)


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
    stem_id: str | None = None  # a File without a key: the version line it continues (revises=)

    @classmethod
    def of_file(cls, f: File) -> Candidate:
        """The candidate of an unsaved File whose data is staged (its staged copy, if any, kept)."""
        return cls(
            f.storage_id,
            f.key,
            f.suffix,
            f.name,
            f.size or 0,
            f.hash or "",
            f.hash_type or "",
            staged=f._lf.extra.get("staged"),
            stem_id=f.stem_id if f.key is None else None,
        )


def by_backend(pairs: Iterable[tuple[Any, str]]) -> list[tuple[Any, list[str]]]:
    """(backend, key) pairs grouped per backend, for one call per storage: [(backend, keys), ...]."""
    groups: dict[int, tuple[Any, list[str]]] = {}
    for backend, key in pairs:
        groups.setdefault(id(backend), (backend, []))[1].append(key)
    return list(groups.values())


def discard_staged(staged: Iterable[tuple[Any, str]]) -> None:
    """Remove staged copies, given as (backend, temp key): one ``discard_many`` per backend."""
    for backend, keys in by_backend(staged):
        backend.discard_many(keys)


def _discard(candidates: list[Candidate]) -> None:
    discard_staged((c.backend, c.staged.temp_key) for c in candidates if c.staged is not None)


def _dedups(c: Candidate) -> bool:
    """Whether known content anywhere stands for this candidate: copied data the user gave no key
    and no version line. An explicit key is always honoured (a new version if its content differs)."""
    return c.staged is not None and c.key is None and c.stem_id is None


def _existing_rows(
    conn: Any, candidates: list[Candidate]
) -> tuple[dict[tuple[str, str], Any], dict[str, Any], dict[str, Any]]:
    """The latest rows of the candidates' keys and version lines, and rows with a deduplicated
    candidate's hash."""
    table = file_class().__table__
    latest = table.c.is_latest == sa.true()
    by_key: dict[tuple[str, str], Any] = {}
    by_stem: dict[str, Any] = {}
    by_hash: dict[str, list[Any]] = {}  # oldest first
    keyed: dict[str, list[str]] = {}
    for c in candidates:
        if c.key is not None:
            keyed.setdefault(c.storage_id, []).append(c.key)
    for storage_id, keys in keyed.items():
        for batch in chunks(keys):
            stmt = sa.select(table).where(table.c.storage_id == storage_id, one_of(conn, table.c.key, batch), latest)
            for row in conn.execute(stmt):
                by_key[(row.storage_id, row.key)] = row
    stems = sorted({c.stem_id for c in candidates if c.key is None and c.stem_id is not None})
    for batch in chunks(stems):
        for row in conn.execute(sa.select(table).where(one_of(conn, table.c.stem_id, batch), latest)):
            by_stem[row.stem_id] = row
    hashes = sorted({c.hash for c in candidates if _dedups(c)})
    for batch in chunks(hashes):
        stmt = sa.select(table).where(one_of(conn, table.c.hash, batch)).order_by(table.c.created_at)
        for row in conn.execute(stmt):
            by_hash.setdefault(row.hash, []).append(row)
    return by_key, by_stem, by_hash


def existing_matches(
    conn: Any, candidates: list[Candidate], rejected: list[Any] | None = None
) -> list[tuple[Any, Any]]:
    """For each candidate: (the row that already holds its content or None, the latest version
    it would follow or None).

    The row holding the content is the latest version under its key (or version line) when that
    has the same hash, or, for copied data without a key, a row with the same hash
    (deduplication). Other content under a known key is a new version of it. Construction asks
    first; saving asks again under the write lock. ``rejected`` collects the rows that had a
    deduplicated candidate's hash but not its content (a collision, or a copy deleted or damaged).
    """
    by_key, by_stem, by_hash = _existing_rows(conn, candidates)
    out = []
    for c in candidates:
        if c.key is not None:
            previous = by_key.get((c.storage_id, c.key))
        else:
            previous = by_stem.get(c.stem_id) if c.stem_id is not None else None
        if previous is not None and previous.hash == c.hash and _same_content(c, previous):
            out.append((previous, None))
            continue
        row = None
        tried: list[Any] = []
        for other in by_hash.get(c.hash, []) if _dedups(c) else []:  # the oldest File that holds these bytes
            if _same_content(c, other):
                row = other
                break
            tried.append(other)  # an MD5 collision, or a copy deleted or damaged behind the registry
        if row is None and rejected is not None:
            rejected.extend(tried)
        out.append((row, None) if row is not None else (None, previous))
    return out


def _same_content(c: Candidate, row: Any) -> bool:
    """Whether a candidate whose hash matches a registered row's holds that row's bytes.

    Data registered in place is the registered copy itself; copied-in data is compared with it
    unless the hash is strong (:mod:`lamin_flows.registry.identity`).
    """
    from lamin_flows.registry.identity import is_weak, same_bytes
    from lamin_flows.storage.keys import storage_key

    if c.staged is None:
        return True
    if row.hash_type != c.hash_type:
        return False
    backend, staged = (
        c.staged if isinstance(c.staged, tuple) else (c.backend, c.staged)
    )  # a save passes File.extra's pair
    stored = storage_key(row.key, row.id, row.suffix, row.is_latest)
    size = c.size if not is_weak(c.hash_type) else None  # a strong hash: the registered copy must be there
    return same_bytes(
        backend_for_storage_id(row.storage_id), stored, backend, staged.temp_key, c.hash_type, row.id, size
    )


def resolve(candidates: list[Candidate], description: str | None = None, version: str | None = None) -> list[File]:
    """Turn candidates into Files: existing records for known content, new unsaved Files otherwise
    (new versions where a key's latest version holds other content)."""
    cls = file_class()
    rejected: list[Any] = []  # rows with a deduplicated candidate's hash but not its bytes
    try:
        with db.read(instance.current().engine) as conn:
            matches = existing_matches(conn, candidates, rejected)
    except BaseException:
        _discard(candidates)
        raise
    for row in {r.id: r for r in rejected}.values():
        _warn_broken(row, "as a new File")
    out: list[File] = []
    new_by_hash: dict[str, File] = {}
    duplicates: list[Candidate] = []  # staged copies of content that is stored already
    for c, (row, previous) in zip(candidates, matches, strict=True):
        if row is not None:
            duplicates.append(c)
            if version is not None and row.version != version:
                _discard(candidates)
                raise ValidationError(
                    f"version={version!r} was asked, but this content is registered already as version"
                    f" {row.version!r} of {row.key or row.id!r} (File {row.id}); nothing was changed"
                )
            where = f"version {row.version} of {row.key!r}" if row.key else f"File {row.id} ({row.name})"
            if c.key is None and row.key is not None:
                _logging.warning(f"this content is registered already as {where}: returning that File")
            else:
                _logging.hint(f"returning the existing {where}: same content")
            out.append(cls._from_row(row))
            continue
        twin = new_by_hash.get(c.hash) if _dedups(c) else None
        if twin is not None and _same_staged(c, twin):
            duplicates.append(c)
            out.append(twin)
            continue
        file = cls._build(  # the fast path of File(id=..., ...): thousands are made at once
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
                "version": version,
                "stem_id": c.stem_id,
            }
        )
        if previous is not None:
            same_hash = previous.hash == c.hash and previous.hash_type == c.hash_type
            if not (same_hash and _warn_broken(previous)):  # a copy deleted or damaged behind the registry: warned
                _logging.hint(
                    f"{c.key or 'this version line'!r} holds other content (version {previous.version},"
                    f" File {previous.id}): this File becomes its next version when saved"
                )
        if c.staged is not None:
            attach_staged(file, c.backend, c.staged)
            if _dedups(c):
                new_by_hash.setdefault(c.hash, file)
        out.append(file)
    _discard(duplicates)
    _warn_case_twins([(f.storage_id, f.key) for f in out if not f._lf.saved and f.key is not None])
    return out


def _warn_broken(row: Any, again: str = "as its next version") -> bool:
    """Say that a registered copy of this content was deleted or changed behind the registry, if it
    was (False: it is intact, and the new content only shares its MD5)."""
    from lamin_flows.registry.identity import is_weak, stored_problem
    from lamin_flows.storage.keys import storage_key

    stored = storage_key(row.key, row.id, row.suffix, row.is_latest)
    weak = row.hash if is_weak(row.hash_type) else None
    problem = stored_problem(backend_for_storage_id(row.storage_id), stored, row.size, weak)
    if problem is None:
        return False
    _logging.warning(
        f"the stored data of {row.key or 'File ' + row.id!r} (version {row.version}, File {row.id}) {problem}: it was"
        f" deleted or changed outside lamin_flows. This content is saved again {again}, with its data in"
        " place; `lamin verify` lists the old record"
    )
    return True


def _warn_case_twins(keys: list[tuple[str, str]]) -> None:
    """Warn when a new key differs only in case from a registered one, or from another new one.

    ``Report.csv`` and ``report.csv`` are two keys here and on S3, but one file on a
    case-insensitive filesystem (macOS, Windows): a checkout or sync there silently keeps one.
    """
    if not keys:
        return
    twins: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    for storage_id, key in keys:
        other = seen.setdefault((storage_id, key.lower()), key)
        if other != key:
            twins.append((key, other))
    table = file_class().__table__
    by_storage: dict[str, dict[str, str]] = {}
    for storage_id, key in keys:
        by_storage.setdefault(storage_id, {})[key.lower()] = key
    with db.read(instance.current().engine) as conn:
        for storage_id, lowered in by_storage.items():
            names = sorted(lowered)
            for batch in chunks(names):
                stmt = sa.select(table.c.key).where(
                    table.c.storage_id == storage_id,
                    table.c.is_latest == sa.true(),
                    one_of(conn, sa.func.lower(table.c.key), batch),
                )
                for (registered,) in conn.execute(stmt):
                    new = lowered.get(registered.lower())
                    if new is not None and new != registered:
                        twins.append((new, registered))
    if twins:
        new, other = twins[0]
        more = f" (and {len(twins) - 1} more such keys)" if len(twins) > 1 else ""
        _logging.warning(
            f"key {new!r} differs from {other!r} only in case{more}: two keys here and on S3, but one file on a"
            " case-insensitive filesystem (macOS, Windows), where one would overwrite the other. Use one spelling."
        )


def _same_staged(c: Candidate, twin: File) -> bool:
    """Whether a staged candidate holds the same bytes as an earlier new File of the same hash."""
    from lamin_flows.registry.identity import same_bytes

    backend, staged = twin._lf.extra["staged"]
    return twin.hash_type == c.hash_type and same_bytes(
        backend, staged.temp_key, c.backend, c.staged.temp_key, c.hash_type
    )


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


def refuse_managed(rel: str, given: str) -> None:
    """In-place registration of a path inside the storage's own ``.lamindb/`` area is refused.

    Those are lamin_flows' own objects (Files without a key, older versions, staged copies):
    a second record for one of them would be deleted by ``lamin verify --fix`` or would delete the
    first record's data when it is deleted.
    """
    from lamin_flows.storage import MANAGED_PREFIX

    if rel == MANAGED_PREFIX.rstrip("/") or rel.startswith(MANAGED_PREFIX):
        raise ValidationError(
            f"{given!r} lies inside {MANAGED_PREFIX!r} of its storage, which lamin_flows manages (the data of"
            " Files without a key, older versions, staged copies); it cannot be registered in place. Find its"
            " record with ln.File.select(...), or copy the file elsewhere and register the copy."
        )


def _key_suffix(key: str | None, suffix: str) -> str:
    if key is None:
        return suffix
    key_suffix = suffix_of(key)
    if suffix and key_suffix and key_suffix != suffix:
        raise ValidationError(
            f"key {key!r} ends in {key_suffix!r} but the data is {suffix!r}; use a key ending in {suffix!r}"
        )
    return key_suffix or suffix


def _revised(revises: Any, key: str | None) -> tuple[str | None, str | None]:
    """The key and version line a new version of ``revises`` takes: (key, stem_id for key-less lines)."""
    if not isinstance(revises, file_class()) or not revises._lf.saved:
        raise ValidationError(
            f"revises= takes a saved File, got {type(revises).__name__}: {revises!r}; e.g."
            " ln.File(new_data, revises=ln.File.select(key=...).one())"
        )
    if key is not None and key != revises.key:
        raise ValidationError(
            f"key={key!r} and revises= (File {revises.id}, key {revises.key!r}) disagree: a new version"
            " keeps its key; pass one of them"
        )
    if revises.key is not None:
        return revises.key, None
    return None, revises.stem_id or revises.id


def _check_version(version: Any) -> str | None:
    if version is None:
        return None
    if not isinstance(version, (str, int)) or isinstance(version, bool) or not str(version).strip():
        raise ValidationError(f"version= takes a non-empty label such as '2' or '2024-06-01', got {version!r}")
    label = str(version).strip()
    if len(label) > 64:
        raise ValidationError(f"version label {label[:20]!r}... is longer than 64 characters; use a shorter label")
    return label


def construct(
    cls: Any,
    data: Any,
    *,
    key: str | None,
    name: str | None,
    description: str | None,
    version: Any = None,
    revises: Any = None,
) -> File:
    """``ln.File(data, key=..., name=..., version=..., revises=...)`` (see :class:`File`)."""
    file = _construct(cls, data, key=key, name=name, description=description, version=version, revises=revises)
    if revises is not None and not file._lf.saved:
        file._lf.extra["revises"] = revises.id  # checked again at save, under the write lock: still the latest?
    return file


def _construct(
    cls: Any, data: Any, *, key: str | None, name: str | None, description: str | None, version: Any, revises: Any
) -> File:
    from lamin_flows.storage import get_backend, hash_file, is_cloud, suffix_for, write_object

    inst = instance.current()
    version = _check_version(version)
    stem_id = None
    if key is not None:
        key = user_key(key)
    if revises is not None:
        key, stem_id = _revised(revises, key)
        if stem_id is not None and revises.storage_id != inst.storage_id:
            raise ValidationError(f"File {revises.id} lies in another storage; a new version of it is saved there only")
    if isinstance(data, (str, os.PathLike)):
        text = os.fspath(data)
        if is_cloud(text):
            storage, rel = locate(text) or register_bucket(text)
            refuse_managed(rel, text)
            if key is not None and key != rel:
                raise ValidationError(
                    f"{text!r} is registered in place with key {rel!r}; it cannot take key {key!r}."
                    " Drop key= (or copy the object yourself first)."
                )
            info = get_backend(storage.root, storage_options()).info(rel)
            candidate = Candidate(
                storage.id, rel, suffix_of(rel), name or PurePosixPath(rel).name, info.size, info.hash, info.hash_type
            )
            return resolve([candidate], description, version)[0]
        path = Path(text).expanduser()
        if not path.exists():
            raise StorageNotFoundError(f"no file at {text!r}: check the path (relative paths start at {Path.cwd()})")
        if path.is_dir():
            raise ValidationError(f"{text!r} is a folder: use ln.File.from_dir({text!r}) to register its files")
        path = path.resolve()
        found = locate(str(path))
        if found is not None and (key is None or key == found[1]):
            storage, rel = found
            refuse_managed(rel, text)
            info = hash_file(path)
            candidate = Candidate(
                storage.id, rel, suffix_of(rel), name or path.name, info.size, info.hash, info.hash_type
            )
            return resolve([candidate], description, version)[0]
        suffix = _key_suffix(key, suffix_of(path.name))
        backend = get_backend(inst.config.storage_root, storage_options())
        staged = backend.stage_in(path)
        candidate = Candidate(
            inst.storage_id,
            key,
            suffix,
            name or path.name,
            staged.size,
            staged.hash,
            staged.hash_type,
            backend,
            staged,
            stem_id,
        )
        return resolve([candidate], description, version)[0]
    suffix = _key_suffix(key, suffix_for(data))
    backend = get_backend(inst.config.storage_root, storage_options())
    staged = backend.write_temp(lambda dest: write_object(data, dest), suffix)
    candidate = Candidate(
        inst.storage_id, key, suffix, name, staged.size, staged.hash, staged.hash_type, backend, staged, stem_id
    )
    return resolve([candidate], description, version)[0]


def walk_dir(path: Path) -> list[tuple[str, str]]:
    """(relative POSIX path, full path) of every regular file under ``path``, sorted by the first,
    skipping lamin_flows' own ``.lamindb`` folder.

    Skipped, each with a warning naming it, so that one odd entry never blocks or aborts the
    registration of a whole folder: FIFOs, sockets and devices (opening a FIFO would wait for a
    writer forever), broken symbolic links, names that are not UTF-8 (a latin-1 ``caf\xe9.txt``
    cannot become a key), and folders that cannot be read. Symbolic links to folders are not
    followed, as before.

    Plain strings, joined once per folder: pathlib objects cost ~10 µs per file, which is a
    tenth of the budget of registering a file.
    """
    from lamin_flows.storage import MANAGED_PREFIX

    managed = MANAGED_PREFIX.strip("/")
    base = os.fspath(path)
    out: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []

    def walk(folder: str, prefix: str) -> None:
        try:
            entries = os.scandir(folder)
        except OSError as error:
            if folder == base:
                raise
            skipped.append((folder, f"cannot be read ({error.strerror})"))
            return
        with entries:
            for entry in entries:
                name = entry.name
                try:
                    name.encode()
                except UnicodeEncodeError:
                    skipped.append((entry.path, "its name is not UTF-8; rename it (e.g. `convmv -f latin1 -t utf8`)"))
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if name != managed:
                            walk(entry.path, prefix + name + "/")
                    elif entry.is_file():
                        out.append((prefix + name, entry.path))
                    elif not entry.is_symlink() or os.path.exists(entry.path):
                        if not entry.is_dir():  # a link to a folder: not followed, as os.walk does
                            skipped.append((entry.path, "it is not a regular file (a FIFO, socket or device)"))
                    else:
                        skipped.append((entry.path, "it is a broken symbolic link"))
                except OSError as error:  # removed, or unreadable, while listing
                    skipped.append((entry.path, error.strerror or str(error)))

    walk(base, "")
    for where, why in skipped:
        shown = os.fsencode(where).decode("utf-8", "backslashreplace")  # latin-1 bytes as \xe9
        _logging.warning(f"skipped '{shown}': {why}")
    out.sort()
    return out


def from_dir(cls: Any, path: str | os.PathLike[str], *, key: str | None = None) -> list[File]:
    """``File.from_dir`` (see there)."""
    instance.current()  # no instance: say so before looking at the folder
    folder = Path(os.fspath(path)).expanduser()
    if not folder.exists():
        raise StorageNotFoundError(f"no folder at {os.fspath(path)!r}: check the path")
    if not folder.is_dir():
        raise ValidationError(f"{os.fspath(path)!r} is a file, not a folder: use ln.File({os.fspath(path)!r})")
    folder = folder.resolve()
    listing = walk_dir(folder)
    with collector_paused(len(listing)):  # every File made stays alive: the collector's passes find nothing
        return _from_listing(folder, listing, key, path)


def _from_listing(folder: Path, listing: list[tuple[str, str]], key: str | None, path: Any) -> list[File]:
    """The Files of a walked folder: copied in from outside storage, or registered in place."""
    from lamin_flows.storage import hash_many

    rels = [rel for rel, _ in listing]
    found = locate(str(folder)) if key is None else None
    if found is None and key is None:  # the storage root itself: locate() finds no key for it
        found = next(((s, "") for s in all_storages() if s.root == str(folder)), None)
    if found is None:
        return copy_in(folder, rels, user_key(key.rstrip("/")) if key else folder.name)
    storage, rel_dir = found  # inside a storage: registered in place, hashed, not copied
    refuse_managed(rel_dir, os.fspath(path))
    infos = hash_many([full for _, full in listing])
    candidates = [
        Candidate(storage.id, k, suffix_of(k), r.rpartition("/")[2], i.size, i.hash, i.hash_type)
        for r, k, i in zip(rels, (f"{rel_dir}/{r}" if rel_dir else r for r in rels), infos, strict=True)
    ]
    return resolve(candidates)


def copy_in(folder: Path, rels: list[str], prefix: str) -> list[File]:
    """Files for some files of a folder outside storage, copied into the default storage (hashed
    on the way) under ``<prefix>/<relative path>``; existing records for content already there.

    Used by ``File.from_dir`` and by the ``ingest_batch`` task, which copies one slice of a folder.
    """
    from lamin_flows.storage import get_backend, validate_key

    inst = instance.current()
    keys = [validate_key(f"{prefix}/{r}") for r in rels]
    backend = get_backend(inst.config.storage_root, storage_options())
    staged = backend.stage_in_many([os.path.join(folder, r) for r in rels])
    candidates = [
        Candidate(inst.storage_id, k, suffix_of(k), r.rpartition("/")[2], s.size, s.hash, s.hash_type, backend, s)
        for k, r, s in zip(keys, rels, staged, strict=True)
    ]
    return resolve(candidates)
