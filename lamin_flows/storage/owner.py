"""Who owns a storage root: the owner marker ``.lamindb/_owner.json``.

A registry writes its instance id and name into the root it uses (at ``init``, and when it
attaches another root). A second registry that finds a marker naming another instance refuses
the root, so two registries never take turns overwriting each other's keys or rolling back each
other's saves, unless the user shares the root explicitly (``share=True``): then the marker
lists both instances, each one's saves still never overwrite bytes its own records do not point
to, and each one's ``lamin verify --fix`` leaves the other's journals alone.

A root that lies inside an owned root (or contains one) is refused the same way: its keys are
the other root's keys under another name. Below a new local root, owned folders are looked for
three levels down; below a new cloud root (``s3://bucket`` around ``s3://bucket/lab/project``),
two prefixes down, with one delimited listing per prefix and at most 200 of them.

The marker is plain JSON, one small object; this module knows nothing of the registry, it is
handed the instance's id and name.

Example:
    >>> from lamin_flows.storage import get_backend
    >>> from lamin_flows.storage.owner import claim
    >>> claim(get_backend("/data/store"), "a1B2c3D4e5F6", "lab")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from lamin_flows import _logging
from lamin_flows.errors import StorageOwnedError
from lamin_flows.storage.base import read_document
from lamin_flows.storage.keys import MANAGED_PREFIX

OWNER_KEY = f"{MANAGED_PREFIX}_owner.json"
FORMAT = "lamin_flows.owner/1"


def read(backend: Any) -> dict[str, Any] | None:
    """The owner marker of ``backend``'s root, or None if there is none (or it is not one)."""
    return read_document(backend, OWNER_KEY, FORMAT, "instances")


def _read_local(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(document, dict) and document.get("format") == FORMAT and isinstance(document.get("instances"), list)
    return document if ok else None


def owners(document: dict[str, Any] | None) -> list[dict[str, str]]:
    """The instances a marker names, as ``{"id": ..., "name": ...}`` dicts."""
    if document is None:
        return []
    return [i for i in document["instances"] if isinstance(i, dict) and isinstance(i.get("id"), str)]


def _describe(entries: list[dict[str, str]]) -> str:
    return ", ".join(f"{e.get('name')!r} (id {e['id']})" for e in entries)


def _write(backend: Any, document: dict[str, Any], *, replace: bool) -> None:
    text = json.dumps(document, indent=2)

    def writer(path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)

    staged = backend.write_temp(writer, "-owner.json")
    try:
        if replace:
            backend.copy_over(staged.temp_key, OWNER_KEY)
        else:
            backend.commit(staged.temp_key, OWNER_KEY, keep_temp=True, size=staged.size)
    finally:
        backend.discard(staged.temp_key)


def claim(backend: Any, instance_id: str, name: str, *, share: bool = False) -> None:
    """Make ``backend``'s root owned by instance ``instance_id`` (or shared with it).

    Args:
        backend: the storage root's backend.
        instance_id: the claiming instance's id.
        name: its name, shown to the owner of a refused root.
        share: add this instance next to another owner instead of refusing.

    Raises:
        StorageOwnedError: another instance owns the root and ``share`` is not set.

    Example:
        >>> claim(get_backend("/data/store"), "a1B2c3D4e5F6", "lab", share=True)   # doctest: +SKIP
    """
    me = {"id": instance_id, "name": name}
    for _ in range(3):  # two instances claiming at once: the second one reads the first one's marker
        document = read(backend)
        entries = owners(document)
        if any(e["id"] == instance_id for e in entries):
            return
        if entries and not share:
            raise StorageOwnedError(
                f"storage {backend.root} belongs to another lamin_flows instance, {_describe(entries)}"
                f" (see {backend.path(OWNER_KEY)}); instance {name!r} would overwrite its keys and roll back its"
                f" saves. Use that instance (ln.setup.load(...)), choose another storage, or share the storage"
                f" on purpose: ln.setup.init(storage=..., share=True) / `lamin init --share`."
            )
        now = datetime.now(UTC).isoformat()
        new = {"format": FORMAT, "shared": bool(entries), "instances": [*entries, {**me, "since": now}]}
        try:
            _write(backend, new, replace=document is not None)
            return
        except FileExistsError:
            continue
    raise StorageOwnedError(f"could not claim storage {backend.root}: its owner marker {OWNER_KEY} keeps changing")


def release(backend: Any, instance_id: str) -> None:
    """Take instance ``instance_id`` off the root's marker (removed with its last owner)."""
    document = read(backend)
    entries = owners(document)
    kept = [e for e in entries if e["id"] != instance_id]
    if document is None or len(kept) == len(entries):
        return
    if kept:
        _write(backend, {**document, "shared": len(kept) > 1, "instances": kept}, replace=True)
    else:
        try:
            backend.delete(OWNER_KEY)
        except FileNotFoundError:
            pass


def shares(backend: Any, instance_id: str) -> bool:
    """Whether another instance also writes to this root (the marker names more than ``instance_id``)."""
    return any(e["id"] != instance_id for e in owners(read(backend)))


def check_nesting(root: str, other_roots: list[str], backend_for: Any, instance_id: str) -> None:
    """Refuse ``root`` if it lies inside, or contains, another registered root or an owned folder.

    Args:
        root: the normalized root being attached.
        other_roots: the normalized roots this registry has registered already.
        backend_for: ``backend_for(root) -> backend``, to read the markers of the folders above.
        instance_id: the attaching instance (its own marker above is no conflict).

    Raises:
        StorageOwnedError: naming the other root and its owner.
    """
    for other in other_roots:
        if other != root and (_inside(root, other) or _inside(other, root)):
            how = "inside" if _inside(root, other) else "around"
            raise StorageOwnedError(
                f"storage {root} lies {how} storage {other}, which this registry holds already: the same"
                f" files would have two keys and two owners. Use {other} (with a key prefix) instead."
            )
    for parent in _parents(root):
        if "://" in parent:
            document = read(backend_for(parent))
        else:  # a plain read: no backend (and no temporary area) for every folder above
            document = _read_local(Path(parent) / OWNER_KEY)
        entries = [e for e in owners(document) if e["id"] != instance_id]
        if entries:
            raise StorageOwnedError(
                f"storage {root} lies inside {parent}, which lamin_flows instance {_describe(entries)} owns;"
                f" its saves and `lamin verify --fix` would meet this one's. Use that instance with a key"
                f" prefix, or choose a storage outside {parent}."
            )
    found = _owned_below_cloud(backend_for(root), instance_id) if "://" in root else _owned_below(root, instance_id)
    if found is not None:
        raise StorageOwnedError(
            f"storage {root} contains {found[0]}, which lamin_flows instance {_describe(found[1])} owns; saves"
            f" here would write into that storage's keys. Choose a storage that does not contain {found[0]}."
        )


def _owned_below(
    root: str, instance_id: str, max_depth: int = 3, max_folders: int = 10_000
) -> tuple[str, list[dict[str, str]]] | None:
    """A folder below a local root (``max_depth`` levels down, at most ``max_folders`` folders, with a
    warning past that bound) that another instance owns."""
    level = [Path(root)]
    seen = 0
    for _ in range(max_depth):
        below: list[Path] = []
        for folder in level:
            try:
                children = [e for e in os.scandir(folder) if e.is_dir(follow_symlinks=False) and e.name != ".lamindb"]
            except OSError:
                continue
            for child in children:
                seen += 1
                path = Path(child.path)
                entries = [e for e in owners(_read_local(path / OWNER_KEY)) if e["id"] != instance_id]
                if entries:
                    return os.fspath(path), entries
                below.append(path)
            if seen > max_folders:
                _logging.warning(
                    f"{root} has more than {max_folders:,} folders within {max_depth} levels: only the first"
                    f" {max_folders:,} were checked for another registry's storage. If one may lie deeper in"
                    " this folder, set up the instance on that subfolder instead."
                )
                return None
        level = below
    return None


CLOUD_DEPTH = 2  # markers up to two prefixes below a bucket root (bucket/lab/project/.lamindb/_owner.json)
CLOUD_FOLDERS = 200  # prefixes looked into at most: one delimited LIST request each


def _owned_below_cloud(
    backend: Any, instance_id: str, max_depth: int = CLOUD_DEPTH, max_folders: int = CLOUD_FOLDERS
) -> tuple[str, list[dict[str, str]]] | None:
    """A prefix at most ``max_depth`` levels below a cloud root whose owner marker names another instance.

    One delimited listing per prefix looked into (the root's, then each prefix's, which also shows
    whether it holds ``.lamindb/``), at most ``max_folders`` of them: a bucket with thousands of
    top-level prefixes is not walked, it is checked as far as the bound goes.
    """
    level = [""]
    seen = 0
    for depth in range(max_depth + 1):
        below: list[str] = []
        for folder in level:
            children = backend.folders(folder)
            if folder and MANAGED_PREFIX.rstrip("/") in children:
                marker = read_document(backend, f"{folder}/{OWNER_KEY}", FORMAT, "instances")
                entries = [e for e in owners(marker) if e["id"] != instance_id]
                if entries:
                    return f"{backend.root.rstrip('/')}/{folder}", entries
            if depth == max_depth:
                continue
            for child in children:
                if child == MANAGED_PREFIX.rstrip("/"):
                    continue
                seen += 1
                if seen > max_folders:
                    _logging.warning(
                        f"{backend.root} has more than {max_folders} prefixes within {max_depth} levels: only"
                        f" the first {max_folders} were checked for another registry's storage. If one may"
                        " lie deeper in this bucket, attach that prefix instead of the bucket root."
                    )
                    return None
                below.append(f"{folder}/{child}" if folder else child)
        level = below
    return None


def _inside(inner: str, outer: str) -> bool:
    return inner.startswith(outer.rstrip("/") + "/")


def _parents(root: str) -> list[str]:
    """The folders above a root, nearest first (cloud: the prefixes inside its bucket)."""
    if "://" in root:
        protocol, rest = root.split("://", 1)
        parts = rest.split("/")
        return [f"{protocol}://{'/'.join(parts[:n])}" for n in range(len(parts) - 1, 0, -1)]
    parents = list(PurePosixPath(root).parents)
    return [os.fspath(p) for p in parents if os.fspath(p) != "/"] or []
