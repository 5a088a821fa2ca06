"""S3 specifics on a moto server over HTTP: hashes from ETags, the local cache, and errors that
name the bucket and what to check."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lamin_flows.config import get_settings
from lamin_flows.errors import StorageError, StorageNotFoundError, StoragePermissionError
from lamin_flows.storage import TMP_PREFIX, HashResult, StorageBackend, get_backend, hash_bytes, hash_file

MiB = 1024 * 1024


@pytest.fixture
def s3(s3_bucket: str) -> StorageBackend:
    return get_backend(f"s3://{s3_bucket}/root/")


class OtherClient:
    """Writes and deletes objects under the backend's root the way another program would (boto3)."""

    def __init__(self, s3: StorageBackend, client: Any) -> None:
        self.client = client
        self.bucket, _, self.prefix = s3.root[len("s3://") :].partition("/")

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}", Body=data)

    def put_multipart(self, key: str, parts: list[bytes]) -> str:
        name = f"{self.prefix}/{key}"
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=name)
        done = []
        for number, body in enumerate(parts, start=1):
            part = self.client.upload_part(
                Bucket=self.bucket, Key=name, UploadId=upload["UploadId"], PartNumber=number, Body=body
            )
            done.append({"PartNumber": number, "ETag": part["ETag"]})
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=name, UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
        )
        return self.client.head_object(Bucket=self.bucket, Key=name)["ETag"]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}")


@pytest.fixture
def other(s3: StorageBackend, s3_tools: ModuleType, s3_endpoint: str) -> OtherClient:
    return OtherClient(s3, s3_tools.s3_client(s3_endpoint))


def test_root_is_normalized(s3: StorageBackend, s3_bucket: str) -> None:
    assert s3.root == f"s3://{s3_bucket}/root" and s3.protocol == "s3"
    assert s3.path("a/b.csv") == f"s3://{s3_bucket}/root/a/b.csv"
    assert s3.relative_key(f"s3://{s3_bucket}/root/a/b.csv") == "a/b.csv"
    assert s3.relative_key(f"s3://{s3_bucket}/rootless/a.csv") is None
    assert s3.relative_key(f"s3://{s3_bucket}/root/dir/") is None


def test_info_from_single_part_etag_is_md5(s3: StorageBackend, other: OtherClient) -> None:
    data = os.urandom(1000)
    other.put("x.bin", data)
    assert s3.info("x.bin") == hash_bytes(data)


def test_info_from_multipart_etag_is_md5_n(s3: StorageBackend, other: OtherClient) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(1024)]
    etag = other.put_multipart("multi.bin", parts)
    composite = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-2"
    assert etag.strip('"') == composite
    assert s3.info("multi.bin") == HashResult(sum(map(len, parts)), composite, "md5-n")


def test_exists_and_list_see_changes_made_by_other_clients(s3: StorageBackend, other: OtherClient) -> None:
    assert list(s3.list()) == [] and not s3.exists("late.txt")
    other.put("late.txt", b"late")
    assert s3.exists("late.txt") and list(s3.list()) == [("late.txt", 4)]
    other.delete("late.txt")
    assert not s3.exists("late.txt") and list(s3.list()) == []


def _cached(s3: StorageBackend, key: str) -> Path:
    bucket, _, prefix = s3.root[len("s3://") :].partition("/")
    return get_settings().cache_root / bucket / prefix / key


def test_stage_downloads_once_then_reuses_without_network(s3: StorageBackend, other: OtherClient) -> None:
    data = os.urandom(64 * 1024)
    other.put("d/x.bin", data)
    expected = s3.info("d/x.bin")
    local = s3.stage("d/x.bin", expected)
    assert local == _cached(s3, "d/x.bin") and local.read_bytes() == data
    before = local.stat()

    other.delete("d/x.bin")  # any request to the server would now fail
    timings = []
    for _ in range(3):  # best of three: a busy machine can pause any single call
        start = time.perf_counter()
        again = s3.stage("d/x.bin", expected)
        timings.append(time.perf_counter() - start)
        assert again == local
    assert min(timings) < 0.005, timings
    assert (local.stat().st_mtime_ns, local.stat().st_ino) == (before.st_mtime_ns, before.st_ino)


def test_stage_downloads_again_when_the_record_hash_changes(s3: StorageBackend, other: OtherClient) -> None:
    other.put("x.txt", b"version 1")
    assert s3.stage("x.txt", s3.info("x.txt")).read_bytes() == b"version 1"
    other.put("x.txt", b"version 2!")
    assert s3.stage("x.txt", hash_bytes(b"version 2!")).read_bytes() == b"version 2!"


def test_stage_without_expected_checks_the_etag(s3: StorageBackend, other: OtherClient) -> None:
    other.put("x.txt", b"version 1")
    local = s3.stage("x.txt")
    mtime = local.stat().st_mtime_ns
    assert s3.stage("x.txt").stat().st_mtime_ns == mtime  # same ETag: reused
    other.put("x.txt", b"version 2")  # same size, new content
    assert s3.stage("x.txt").read_bytes() == b"version 2"


@pytest.mark.parametrize("multipart", [False, True])
def test_a_corrupted_cache_file_is_fetched_again(s3: StorageBackend, other: OtherClient, multipart: bool) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(100)] if multipart else [os.urandom(2048)]
    if multipart:
        other.put_multipart("c.bin", parts)
    else:
        other.put("c.bin", parts[0])
    expected = s3.info("c.bin")
    assert expected.hash_type == ("md5-n" if multipart else "md5")
    local = s3.stage("c.bin", expected)
    with open(local, "r+b") as file:  # same size, one byte flipped
        first = file.read(1)
        file.seek(0)
        file.write(bytes([first[0] ^ 0xFF]))
    assert s3.stage("c.bin", expected).read_bytes() == b"".join(parts)


def test_a_truncated_cache_file_is_fetched_again(s3: StorageBackend, other: OtherClient) -> None:
    other.put("t.txt", b"complete content")
    expected = s3.info("t.txt")
    s3.stage("t.txt", expected).write_bytes(b"compl")
    assert s3.stage("t.txt", expected).read_bytes() == b"complete content"


def test_stage_refuses_an_object_that_does_not_match_its_record(s3: StorageBackend, other: OtherClient) -> None:
    other.put("x.txt", b"changed behind our back")
    with pytest.raises(StorageError, match="does not match its record"):
        s3.stage("x.txt", hash_bytes(b"what the record says"))
    folder = _cached(s3, "x.txt").parent
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_failed_download_leaves_no_cache_file(
    s3: StorageBackend, other: OtherClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    other.put("x.txt", b"data")

    def broken_get_file(rpath: str, lpath: str, **kwargs: object) -> None:
        Path(lpath).write_bytes(b"da")
        raise ConnectionResetError("connection lost")

    monkeypatch.setattr(s3._fs, "get_file", broken_get_file)  # type: ignore[attr-defined]
    with pytest.raises(ConnectionResetError):
        s3.stage("x.txt", s3.info("x.txt"))
    folder = _cached(s3, "x.txt").parent
    assert not folder.exists() or list(folder.iterdir()) == []


def test_blake3_record_is_verified_on_download(s3: StorageBackend, make_file, small_threshold: int) -> None:  # noqa: ANN001
    data = os.urandom(small_threshold * 8)
    staged = s3.stage_in(make_file("big.bin", data))
    s3.commit(staged.temp_key, "big.bin")
    local = s3.stage("big.bin", staged.hash_result)
    assert hash_file(local) == staged.hash_result


def test_missing_bucket_is_named(s3_endpoint: str, make_file) -> None:  # noqa: ANN001
    backend = get_backend("s3://no-such-bucket-here/prefix")
    assert not backend.exists("x.txt")
    calls = [
        lambda: backend.info("x.txt"),
        lambda: list(backend.list()),
        lambda: backend.stage_in(make_file("x.txt", b"x")),
    ]
    for call in calls:
        with pytest.raises(StorageNotFoundError) as info:
            call()
        assert "no-such-bucket-here" in str(info.value) and "does not exist" in str(info.value)
        assert isinstance(info.value, FileNotFoundError) and info.value.__cause__ is not None


def test_missing_credentials_are_named(moto_server: str, s3_bucket: str, s3_tools: ModuleType) -> None:
    with s3_tools.aws_test_env(moto_server, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None):
        s3_tools.clear_s3fs_instances()
        backend = get_backend(f"s3://{s3_bucket}/root")
        with pytest.raises(StoragePermissionError) as info:
            backend.info("x.txt")
    message = str(info.value)
    assert s3_bucket in message and "AWS_ACCESS_KEY_ID" in message and "AWS_PROFILE" in message
    assert type(info.value.__cause__).__name__ == "NoCredentialsError"


def test_rejected_credentials_are_named(moto_server: str, s3_bucket: str, s3_tools: ModuleType, make_file) -> None:  # noqa: ANN001
    with s3_tools.aws_test_env(
        moto_server, AWS_ACCESS_KEY_ID="AKIAWRONGWRONGWRONG", AWS_SECRET_ACCESS_KEY="wrong-secret"
    ):
        s3_tools.clear_s3fs_instances()
        backend = get_backend(f"s3://{s3_bucket}/root")
        with s3_tools.iam_enforced(moto_server):
            for call in (lambda: backend.info("x.txt"), lambda: backend.stage_in(make_file("x.txt", b"x"))):
                with pytest.raises(PermissionError) as info:
                    call()
                assert isinstance(info.value, StoragePermissionError) and s3_bucket in str(info.value)
                assert "wrong-secret" not in str(info.value)


def test_storage_options_are_used_and_never_shown(s3_endpoint: str, s3_bucket: str) -> None:
    options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": s3_endpoint}}
    backend = get_backend(f"s3://{s3_bucket}/opts", options)
    assert backend is get_backend(f"s3://{s3_bucket}/opts/", dict(options))
    assert backend is not get_backend(f"s3://{s3_bucket}/opts")
    assert "secret" not in repr(backend) and "testing" not in repr(backend)
    assert list(backend.list()) == []


@pytest.fixture
def s3_small_parts(s3_bucket: str) -> StorageBackend:
    """A backend that uploads in 5 MiB parts, so multipart uploads happen with small files."""
    return get_backend(f"s3://{s3_bucket}/parts", {"default_block_size": 5 * MiB})


def test_multipart_upload_round_trip(s3_small_parts: StorageBackend, make_file) -> None:  # noqa: ANN001
    data = os.urandom(11 * MiB)
    staged = s3_small_parts.stage_in(make_file("big.bin", data))
    assert staged.hash_result == hash_bytes(data)
    assert s3_small_parts.info(staged.temp_key).hash_type == "md5-n"  # really uploaded in parts
    s3_small_parts.commit(staged.temp_key, "big.bin")
    assert s3_small_parts.stage("big.bin", staged.hash_result).read_bytes() == data


def test_failed_multipart_upload_is_aborted(
    s3_small_parts: StorageBackend,
    s3_bucket: str,
    s3_tools: ModuleType,
    s3_endpoint: str,
    make_file,
    monkeypatch,  # noqa: ANN001
) -> None:
    from lamin_flows.storage import cloud

    real = cloud.read_chunks

    def failing_reader(source: Path, chunk_size: int):  # noqa: ANN202
        for i, chunk in enumerate(real(source, MiB)):
            if i == 8:  # after the first part went up
                raise OSError("disk read error")
            yield chunk

    monkeypatch.setattr(cloud, "read_chunks", failing_reader)
    with pytest.raises(OSError, match="disk read error"):
        s3_small_parts.stage_in(make_file("big.bin", os.urandom(11 * MiB)))
    client = s3_tools.s3_client(s3_endpoint)
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert list(s3_small_parts.list(TMP_PREFIX)) == []
