"""What identifies a piece of code: its reference (``module:qualname``) and a hash of its source.

The source is hashed once per decorated function (at its first call), never per call. Where no
source exists (``python -c``, a REPL, a notebook cell Python cannot read back), the bytecode,
constants and names are hashed instead, so changed code still makes a new version.
"""

from __future__ import annotations

import hashlib
import inspect
import types
from collections.abc import Callable
from typing import Any

VERSION_LENGTH = 12  # hex characters of the source hash used as a Transform version


def reference_of(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of a function, e.g. ``"pipelines.nightly:nightly_ingest"``."""
    module = getattr(fn, "__module__", None) or "<unknown>"
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))
    return f"{module}:{qualname}"


def _code_digest(code: types.CodeType, sha: Any) -> None:
    sha.update(code.co_code)
    sha.update(repr(code.co_names).encode())
    sha.update(repr(code.co_varnames).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _code_digest(const, sha)  # nested functions, comprehensions, lambdas
        else:
            sha.update(repr(const).encode())


def source_hash(fn: Callable[..., Any]) -> str:
    """SHA-256 (hex) of a function's source, or of its bytecode where no source is available.

    Example:
        >>> source_hash(lambda: 1)[:12]  # doctest: +SKIP
        '3f2a9c0d1e4b'
    """
    fn = inspect.unwrap(fn)
    sha = hashlib.sha256()
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = None
    if source is not None:
        sha.update(b"source:")
        sha.update(source.encode())
        return sha.hexdigest()
    code = getattr(fn, "__code__", None)
    if code is None:
        sha.update(b"repr:" + repr(fn).encode())
    else:
        sha.update(b"bytecode:")
        _code_digest(code, sha)
    return sha.hexdigest()
