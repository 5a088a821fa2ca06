"""Fixtures of the storage tests: an S3 (moto) server over HTTP and one backend of each kind.

``backend`` runs a test against a real local folder, S3 on the moto server and fsspec's
in-memory filesystem, so every backend is held to the same contract.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import _s3  # tests/_s3.py; tests/ is on sys.path (rootdir conftest, no __init__.py)
import pytest

from lamin_flows.config import reset_settings
from lamin_flows.storage import StorageBackend, get_backend


@pytest.fixture
def s3_tools() -> ModuleType:
    """The helpers of tests/_s3.py (boto3 client, env, IAM enforcement) for tests that need them."""
    return _s3


@pytest.fixture(params=["local", "s3", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> StorageBackend:
    """A backend of each kind, rooted in a fresh folder, bucket prefix or memory root."""
    if request.param == "local":
        return get_backend(tmp_path / "store")
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        return get_backend(f"s3://{bucket}/root")
    return get_backend(f"memory://{uuid.uuid4().hex}/root")


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Files of 1 KiB and more count as large (BLAKE3) for this test."""
    monkeypatch.setenv("LAMIN_LARGE_FILE_THRESHOLD", "1024")
    reset_settings()
    yield 1024
    monkeypatch.delenv("LAMIN_LARGE_FILE_THRESHOLD")
    reset_settings()


@pytest.fixture
def make_file(tmp_path: Path):  # noqa: ANN201
    """``make_file(name, data)`` writes a local source file outside any storage root."""
    sources = tmp_path / "sources"

    def make(name: str, data: bytes) -> Path:
        path = sources / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return make
