"""Storage: where the bytes of registered files live, and how they get there.

Keys, hashing, serialization formats and one backend per kind of root (a local folder, or any
fsspec protocol such as ``s3://``). Storage knows nothing of the registry; the registry calls:

* :func:`get_backend` (``root_of``, ``is_cloud``) to reach a root,
* ``stage_in`` / ``write_temp`` + ``commit`` (+ ``restore`` / ``discard``) to write files safely,
* ``info``, ``stage``, ``open``, ``list``, ``delete`` to read and manage them,
* :func:`validate_key`, :func:`hash_file` and :mod:`formats <lamin_flows.storage.formats>` helpers.

Importing this package is cheap: pandas, pyarrow, anndata, blake3, fsspec and s3fs are imported
by the functions that need them.

Example:
    >>> from lamin_flows.storage import get_backend
    >>> backend = get_backend("/data/store")  # doctest: +SKIP
    >>> staged = backend.stage_in("table.csv")  # doctest: +SKIP
    >>> backend.commit(staged.temp_key, "results/table.csv")  # doctest: +SKIP
"""

from __future__ import annotations

from lamin_flows.storage.base import Staged, StorageBackend
from lamin_flows.storage.formats import load_path, suffix_for, write_object
from lamin_flows.storage.hashing import HashResult, copy_with_hash, hash_bytes, hash_file, hash_many
from lamin_flows.storage.keys import MANAGED_PREFIX, TMP_PREFIX, validate_key
from lamin_flows.storage.roots import clear_backend_cache, get_backend, is_cloud, root_of

__all__ = [
    "MANAGED_PREFIX",
    "TMP_PREFIX",
    "HashResult",
    "Staged",
    "StorageBackend",
    "clear_backend_cache",
    "copy_with_hash",
    "get_backend",
    "hash_bytes",
    "hash_file",
    "hash_many",
    "is_cloud",
    "load_path",
    "root_of",
    "suffix_for",
    "validate_key",
    "write_object",
]
