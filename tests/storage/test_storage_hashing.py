"""Hashes: MD5 below the large-file threshold, BLAKE3 above, both 22-character base64url; copying
hashes in the same pass and gives the same answer as hashing the copy."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import resource
import signal
from pathlib import Path

import blake3
import pytest

from lamin_flows.storage import HashResult, copy_with_hash, hash_bytes, hash_file, hash_many

B64URL_22 = re.compile(r"[A-Za-z0-9_-]{22}")


def _md5(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.md5(data).digest()).decode().rstrip("=")


def _blake3(data: bytes) -> str:
    return base64.urlsafe_b64encode(blake3.blake3(data).digest()[:16]).decode().rstrip("=")


@pytest.mark.parametrize("data", [b"", b"hello", os.urandom(100_000)])
def test_small_files_hash_as_md5_base64url(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    result = hash_file(path)
    assert result == HashResult(len(data), _md5(data), "md5")
    assert B64URL_22.fullmatch(result.hash)
    assert hash_bytes(data) == result


def test_large_files_hash_as_truncated_blake3(tmp_path: Path, small_threshold: int) -> None:
    data = os.urandom(small_threshold * 50)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    result = hash_file(path)
    assert result == HashResult(len(data), _blake3(data), "blake3")
    assert B64URL_22.fullmatch(result.hash)
    assert hash_bytes(data) == result


def test_threshold_is_inclusive(tmp_path: Path, small_threshold: int) -> None:
    below, at = tmp_path / "below", tmp_path / "at"
    below.write_bytes(b"x" * (small_threshold - 1))
    at.write_bytes(b"x" * small_threshold)
    assert hash_file(below).hash_type == "md5"
    assert hash_file(at).hash_type == "blake3"


def test_hash_many_keeps_order(tmp_path: Path) -> None:
    paths = []
    for i in range(60):  # enough for the parallel path with a progress bar
        path = tmp_path / f"{i}.txt"
        path.write_bytes(str(i).encode() * (i + 1))
        paths.append(path)
    assert hash_many(paths) == [hash_file(p) for p in paths]
    assert hash_many([]) == []


@pytest.mark.parametrize("size", [0, 10, 3 * 1024 * 1024 + 17])
@pytest.mark.parametrize("large", [False, True])
def test_copy_with_hash_equals_hash_of_copy(
    tmp_path: Path, size: int, large: bool, request: pytest.FixtureRequest
) -> None:
    if large:
        request.getfixturevalue("small_threshold")
    data = os.urandom(size)
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(data)
    result = copy_with_hash(src, dst)
    assert dst.read_bytes() == data
    assert result == hash_file(dst) == hash_file(src)
    assert result.hash_type == ("blake3" if large and size >= 1024 else "md5")


def test_copy_with_hash_of_missing_source_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        copy_with_hash(tmp_path / "missing", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


@pytest.mark.parametrize("large", [False, True])
def test_copy_failing_midway_removes_the_partial_copy(
    tmp_path: Path, large: bool, request: pytest.FixtureRequest
) -> None:
    """A real write failure in the middle of the copy: the file size limit (like a full disk)."""
    if large:
        request.getfixturevalue("small_threshold")
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(os.urandom(4 * 1024 * 1024))
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 * 1024 * 1024, hard))
    try:
        with pytest.raises(OSError):
            copy_with_hash(src, dst)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)
    assert not dst.exists()


@pytest.mark.parametrize("piece", [3 * 1024 * 1024 + 1, 64 * 1024 * 1024])
def test_a_large_copy_is_hashed_piece_by_piece_where_it_was_written(
    tmp_path: Path, small_threshold: int, monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    """The copy is hashed in pieces as the kernel writes them, at offsets that need not be page-aligned."""
    from lamin_flows.storage import hashing

    monkeypatch.setattr(hashing, "WRITEBACK_CHUNK", piece)
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(os.urandom(10 * 1024 * 1024 + 17))
    for durable in (False, True):
        result = hashing.copy_with_hash(src, dst, durable=durable)
        assert result == hashing.hash_file(src) == hashing.hash_file(dst) and result.hash_type == "blake3"
        assert dst.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("missing", [["copy_file_range"], ["copy_file_range", "sendfile"]])
def test_a_large_copy_without_kernel_copies_is_hashed_the_same(
    tmp_path: Path, small_threshold: int, monkeypatch: pytest.MonkeyPatch, missing: list[str]
) -> None:
    """Filesystems where copy_file_range (and sendfile) fail with EXDEV/EINVAL: the next way copies, and hashes."""
    import errno

    from lamin_flows.storage import hashing

    def unsupported(*args: object) -> int:
        raise OSError(errno.EXDEV, "not across these filesystems")

    for name in missing:
        monkeypatch.setattr(os, name, unsupported)
    monkeypatch.setattr(hashing, "WRITEBACK_CHUNK", 4 * 1024 * 1024)
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024 + 5))
    result = hashing.copy_with_hash(src, dst, durable=True)
    assert result == hashing.hash_file(src) and dst.read_bytes() == src.read_bytes()
