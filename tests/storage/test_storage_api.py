"""The public surface of lamin_flows.storage is exactly what the registry is meant to use, documented."""

from __future__ import annotations

import inspect

import lamin_flows.storage as storage

PUBLIC = {
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
}
BACKEND_METHODS = {
    "relative_key", "path", "exists", "info", "stage_in", "stage_in_many", "write_temp",
    "commit", "restore", "discard", "delete", "open", "stage", "list",
}  # fmt: skip


def test_public_names() -> None:
    assert set(storage.__all__) == PUBLIC
    assert all(hasattr(storage, name) for name in PUBLIC)
    assert (storage.TMP_PREFIX, storage.MANAGED_PREFIX) == (".lamindb/_tmp/", ".lamindb/")


def test_public_callables_have_examples() -> None:
    for name in PUBLIC - {"MANAGED_PREFIX", "TMP_PREFIX"}:
        doc = inspect.getdoc(getattr(storage, name)) or ""
        assert "Example" in doc, name


def test_backend_methods_are_documented() -> None:
    from lamin_flows.storage.cloud import FsspecBackend
    from lamin_flows.storage.local import LocalBackend

    for cls in (storage.StorageBackend, LocalBackend, FsspecBackend):
        for name in BACKEND_METHODS:
            assert inspect.getdoc(getattr(cls, name)), f"{cls.__name__}.{name}"
