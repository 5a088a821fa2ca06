"""The local cache of cloud objects: ``settings.cache_root / <bucket> / <prefix/key>``.

Each cached file has a sidecar ``cache_root/.lamin-meta/<bucket>/<prefix/key>.json`` (a folder
name no S3 or GCS bucket can have) that records the hashes the file is known to have (computed
locally, and the ETag it was downloaded with) plus the file's size, mtime and inode at the time.

Reusing a cached file costs one ``stat`` and one small JSON read, no network and no hashing:
the file counts as verified while its stat fingerprint is unchanged and the sidecar holds the
expected hash. If the fingerprint changed (someone wrote to the cache file), the file is hashed
again and reused only if it still matches; otherwise it is downloaded again. Downloads go to a
temporary name and are renamed into place, so a killed download never leaves a truncated file.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from lamin_flows.config import get_settings
from lamin_flows.storage.hashing import HashResult, hash_file_as

_META = ".lamin-meta"
_COMPUTABLE = {"md5", "blake3"}  # hash types that can be checked from the content alone


def cache_path(fs_path: str) -> Path:
    """Where the object at ``bucket/prefix/key`` is cached."""
    return get_settings().cache_root / fs_path.lstrip("/")


def _meta_path(local: Path) -> Path:
    root = get_settings().cache_root
    return root / _META / local.relative_to(root).parent / (local.name + ".json")


def _fingerprint(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def read_meta(local: Path) -> dict[str, Any] | None:
    """The sidecar of a cached file, or None if there is none or it is unreadable."""
    try:
        with open(_meta_path(local), encoding="utf-8") as file:
            meta = json.load(file)
        return meta if isinstance(meta, dict) else None
    except (OSError, ValueError):
        return None


def write_meta(local: Path, hashes: dict[str, str], etag: str | None) -> None:
    """Record the hashes ``local`` is known to have, with its current stat fingerprint."""
    meta_path = _meta_path(local)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"fingerprint": _fingerprint(local.stat()), "hashes": hashes, "etag": etag}
    temp = meta_path.with_name(f".{meta_path.name}.{secrets.token_hex(4)}")
    temp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(temp, meta_path)


def is_fresh(local: Path, expected: HashResult) -> bool:
    """Whether the cached file holds exactly the ``expected`` content (see the module docstring)."""
    try:
        stat = local.stat()
    except OSError:
        return False
    if stat.st_size != expected.size:
        return False
    meta = read_meta(local) or {}
    unchanged = meta.get("fingerprint") == _fingerprint(stat)
    hashes: dict[str, str] = dict(meta.get("hashes") or {}) if unchanged else {}
    if expected.hash_type in hashes:
        return hashes[expected.hash_type] == expected.hash
    if expected.hash_type not in _COMPUTABLE:
        return False  # e.g. a multipart ETag cannot be recomputed: fetch again
    if hash_file_as(local, expected.hash_type).hash != expected.hash:
        return False
    hashes[expected.hash_type] = expected.hash
    write_meta(local, hashes, meta.get("etag") if unchanged else None)
    return True


def matches_remote(local: Path, size: int, etag: str | None) -> bool:
    """Whether the cached file is the download of the remote object with this size and ETag."""
    try:
        stat = local.stat()
    except OSError:
        return False
    meta = read_meta(local)
    return bool(
        etag
        and meta
        and stat.st_size == size
        and meta.get("etag") == etag
        and meta.get("fingerprint") == _fingerprint(stat)
    )


def part_path(local: Path) -> Path:
    """A unique temporary name next to ``local`` to download into before renaming."""
    local.parent.mkdir(parents=True, exist_ok=True)
    return local.with_name(f".{local.name}.{secrets.token_hex(6)}.part")


def discard(local: Path) -> None:
    """Remove a cached file and its sidecar."""
    local.unlink(missing_ok=True)
    _meta_path(local).unlink(missing_ok=True)
