"""Roots as users write them, and the backend each one gets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lamin_flows.errors import MissingDependencyError, ValidationError
from lamin_flows.storage import get_backend, is_cloud, root_of


def test_local_roots_are_absolute_and_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    expected = str((tmp_path / "real").resolve())
    assert root_of("real") == root_of("./real/") == root_of(tmp_path / "link") == expected
    assert root_of(f"file://{tmp_path}/real") == expected
    monkeypatch.setenv("HOME", str(tmp_path))
    assert root_of("~/real") == expected


@pytest.mark.parametrize(
    ("url", "root"),
    [("s3://bucket/prefix/", "s3://bucket/prefix"), ("S3://bucket", "s3://bucket"), ("gs://b/a/b//", "gs://b/a/b")],
)
def test_cloud_roots_lose_trailing_slashes(url: str, root: str) -> None:
    assert root_of(url) == root
    assert is_cloud(url)


def test_cloud_root_without_bucket_is_refused() -> None:
    with pytest.raises(ValidationError, match="names no bucket"):
        root_of("s3://")


def test_is_cloud_for_local_paths(tmp_path: Path) -> None:
    assert not is_cloud(tmp_path) and not is_cloud("relative/x") and not is_cloud("file:///x")


def test_backends_are_cached_per_root(tmp_path: Path) -> None:
    backend = get_backend(tmp_path)
    assert get_backend(f"{tmp_path}/") is backend and backend.root == str(tmp_path.resolve())
    assert backend.protocol == "local"


def test_local_relative_key_through_symlink_and_outside(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "store")
    backend = get_backend(tmp_path / "store")
    assert backend.relative_key(tmp_path / "alias" / "a" / "b.txt") == "a/b.txt"
    assert backend.relative_key(tmp_path / "store" / "x" / ".." / "y.txt") == "y.txt"
    assert backend.relative_key(tmp_path / "other.txt") is None


@pytest.mark.skipif(importlib.util.find_spec("gcsfs") is not None, reason="gcsfs is installed")
def test_missing_protocol_package_is_named() -> None:
    with pytest.raises(MissingDependencyError, match="pip install gcsfs"):
        get_backend("gs://bucket/prefix")


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValidationError, match="Unknown storage protocol"):
        get_backend("nosuchproto://bucket/x")
