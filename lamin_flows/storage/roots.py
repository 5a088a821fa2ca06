"""Storage roots: normalize what users write, and pick the backend by URL protocol.

Backends are chosen by protocol and imported on first use: ``import lamin_flows.storage`` never
imports fsspec, s3fs or gcsfs; the first ``s3://`` root does.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from lamin_flows.errors import ValidationError
from lamin_flows.storage.base import StorageBackend

_LOCAL_PROTOCOLS = {"", "file", "local"}
_backends: dict[tuple[str, str], StorageBackend] = {}
_lock = threading.Lock()


def _split(url: str) -> tuple[str, str]:
    protocol, sep, rest = url.partition("://")
    return (protocol.lower(), rest) if sep else ("", url)


def is_cloud(root_or_url: str | os.PathLike[str]) -> bool:
    """Whether a root or URL is in cloud (or other non-local fsspec) storage.

    Example:
        >>> is_cloud("s3://bucket/prefix"), is_cloud("/data/store")
        (True, False)
    """
    return _split(os.fspath(root_or_url))[0] not in _LOCAL_PROTOCOLS


def root_of(path_or_url: str | os.PathLike[str]) -> str:
    """Normalize a storage root as users write it.

    Args:
        path_or_url: A local folder (relative, ``~``, ``file://``) or a URL such as ``s3://bucket/prefix/``.

    Returns:
        Local: the absolute, resolved path without trailing slash. Cloud: ``protocol://bucket/prefix``
        with a lower-case protocol and no trailing slash.

    Raises:
        ValidationError: A cloud URL without a bucket.

    Example:
        >>> root_of("s3://my-bucket/project/")
        's3://my-bucket/project'
    """
    protocol, rest = _split(os.fspath(path_or_url))
    if protocol in _LOCAL_PROTOCOLS:
        return str(Path(rest).expanduser().resolve())
    rest = rest.strip("/")
    if not rest:
        raise ValidationError(
            f"Storage root {os.fspath(path_or_url)!r} names no bucket. Write it as '{protocol}://bucket/prefix'."
        )
    return f"{protocol}://{rest}"


def _options_key(storage_options: dict[str, Any] | None) -> str:
    return json.dumps(storage_options or {}, sort_keys=True, default=repr)


def get_backend(root: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> StorageBackend:
    """The backend for a storage root, created once per (root, storage_options) and then reused.

    Args:
        root: A local folder or a URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``).
        storage_options: Extra keyword arguments for the fsspec filesystem (e.g. ``{"profile": "lab"}``);
            credentials otherwise come from the usual environment (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...).

    Returns:
        A :class:`StorageBackend`.

    Raises:
        MissingDependencyError: The protocol needs a package that is not installed (named in the message).

    Example:
        >>> get_backend("s3://my-bucket/project/")  # doctest: +SKIP
        FsspecBackend(root='s3://my-bucket/project', protocol='s3')
    """
    normal = root_of(root)
    cache_key = (normal, _options_key(storage_options))
    with _lock:
        backend = _backends.get(cache_key)
        if backend is None:
            if is_cloud(normal):
                from lamin_flows.storage.cloud import FsspecBackend

                backend = FsspecBackend(normal, storage_options)
            else:
                from lamin_flows.storage.local import LocalBackend

                backend = LocalBackend(normal)
            _backends[cache_key] = backend
        return backend


def clear_backend_cache() -> None:
    """Forget every backend (and its filesystem connection), e.g. after credentials changed.

    Example:
        >>> clear_backend_cache()
    """
    with _lock:
        _backends.clear()
