"""Content identity that cannot be forged: "same content" never rests on an MD5 alone.

Files below 16 MiB are hashed with MD5 (it matches S3's ETag), and MD5 collisions can be made
at will: two different files with one MD5 exist in public. Wherever the registry would decide
that new data *is* registered content (and so store nothing, or return another record), a
match of a weak hash is confirmed by comparing the bytes with the registered copy. BLAKE3
(``hash_type="blake3"``, files from 16 MiB) needs no such comparison, but the registered copy
must still be there with its size: one deleted or overwritten behind the registry is not the
content, and the save stores the data again (as the key's next version) instead of returning a
record without data.

The comparison runs only when the hashes already match (a re-save of the same content), and
its result is remembered per staged copy, so construction and the save under the write lock
compare at most once.

Example:
    >>> same_bytes(backend, "reports/a.csv", backend, ".lamindb/_tmp/x1.csv", "md5")   # doctest: +SKIP
    True
"""

from __future__ import annotations

import threading
from typing import Any

WEAK_HASH_TYPES = frozenset({"md5", "md5-n"})
CHUNK = 1024 * 1024
_confirmed: dict[tuple[int, str, int, str, str], bool] = {}
_lock = threading.Lock()


def is_weak(hash_type: str | None) -> bool:
    """Whether equal hashes of this type leave the content open (MD5 and S3 multipart ETags)."""
    return hash_type is None or hash_type in WEAK_HASH_TYPES


def _equal_streams(a: Any, b: Any) -> bool:
    while True:
        left, right = a.read(CHUNK), b.read(CHUNK)
        if left != right:
            return False
        if not left:
            return True


def same_bytes(
    backend_a: Any,
    key_a: str,
    backend_b: Any,
    key_b: str,
    hash_type: str | None,
    tag: str = "",
    size: int | None = None,
) -> bool:
    """Whether two stored objects whose hashes (of ``hash_type``) match hold the same bytes.

    Args:
        backend_a: the storage of the first object (e.g. the registered copy).
        key_a: its key.
        backend_b: the storage of the second object (e.g. a staged copy).
        key_b: its key.
        hash_type: the type of the hash both objects share.
        tag: what else the answer depends on (the registered record's id), for the memo.
        size: the size of the second object. Given, a strong hash is trusted only if the first
            object is there with this size: a registered copy that was deleted or overwritten
            behind the registry is not the content (one ``stat`` or HEAD, nothing read).

    Returns:
        For a strong hash, True without reading anything (but see ``size``); otherwise the bytes
        are compared. An object that cannot be read counts as different (nothing is then
        deduplicated).

    Example:
        >>> same_bytes(backend, "big.bin", backend, staged.temp_key, "blake3", size=staged.size)  # doctest: +SKIP
        False
    """
    if not is_weak(hash_type) and size is None:
        return True
    memo = (id(backend_a), key_a, id(backend_b), key_b, tag)
    with _lock:
        known = _confirmed.get(memo)
    if known is not None:
        return known
    try:
        if not is_weak(hash_type):
            result = bool(backend_a.size(key_a) == size)
        else:
            with backend_a.open(key_a, "rb") as a, backend_b.open(key_b, "rb") as b:
                result = _equal_streams(a, b)
    except OSError:
        result = False
    with _lock:
        if len(_confirmed) > 100_000:
            _confirmed.clear()
        _confirmed[memo] = result
    return result


def stored_problem(backend: Any, key: str, size: int, expected_hash: str | None = None) -> str | None:
    """What is wrong with a registered copy whose content a new save did not find there, for a warning.

    Args:
        backend: the registered copy's storage.
        key: its key.
        size: the size its record says.
        expected_hash: the hash its record says; given, a copy of the right size is hashed (small, MD5 files:
            cheap), and one that still has this hash is intact (the new content merely collides).

    Returns:
        "is missing", "has 10 bytes where its record says 12", "holds other bytes than its record
        says", or None: the copy is intact.

    Example:
        >>> stored_problem(backend, "a.csv", 12)  # doctest: +SKIP
        'is missing'
    """
    try:
        found = backend.size(key)
    except FileNotFoundError:
        return "is missing"
    except OSError as error:
        return f"cannot be read ({error})"
    if found != size:
        return f"has {found} bytes where its record says {size}"
    if expected_hash is not None:
        try:
            if backend.info(key).hash == expected_hash:
                return None
        except OSError as error:
            return f"cannot be read ({error})"
    return "holds other bytes than its record says"
