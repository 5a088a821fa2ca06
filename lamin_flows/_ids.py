"""Persistent random ids: base62, assigned when a record is constructed."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Random bytes below 248 (= 4 × 62) map to a character uniformly, the other 8 are dropped: one
# urandom call and one bytes.translate per id (~1 µs) instead of a secrets.choice per character
# (~20 µs per File id, noticeable when registering thousands of files).
_KEEP = 4 * len(_ALPHABET)
_TABLE = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) if b < _KEEP else 0 for b in range(256))
_DROP = bytes(range(_KEEP, 256))


def base62(n_chars: int) -> str:
    """Return a random base62 string of ``n_chars`` characters (each uniform, from the OS's CSPRNG).

    Example:
        >>> len(base62(20))
        20
    """
    out = b""
    while len(out) < n_chars:
        out += secrets.token_bytes(n_chars + 8).translate(_TABLE, _DROP)
    return out[:n_chars].decode("ascii")


def id12() -> str:
    """An id for small registries (Storage, User, Transform, Tag, Project): 62**12 values."""
    return base62(12)


def id20() -> str:
    """An id for File and Run, which can number in the many millions: 62**20 values."""
    return base62(20)
