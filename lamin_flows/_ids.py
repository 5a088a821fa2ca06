"""Persistent random ids: base62, assigned when a record is constructed."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(n_chars: int) -> str:
    """Return a random base62 string of ``n_chars`` characters.

    Example:
        >>> len(base62(20))
        20
    """
    return "".join(secrets.choice(_ALPHABET) for _ in range(n_chars))


def id12() -> str:
    """An id for small registries (Storage, User, Transform, Tag, Project): 62**12 values."""
    return base62(12)


def id20() -> str:
    """An id for File and Run, which can number in the many millions: 62**20 values."""
    return base62(20)
