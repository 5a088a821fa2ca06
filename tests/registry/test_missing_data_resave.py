"""The same content saved again under a key whose stored data was deleted or overwritten behind the
registry: the save notices (the copy's size; for MD5 also its bytes), warns naming the key, and
stores the data again as the key's next version, so the user never gets a record without data.

Local storage with MD5 and BLAKE3 files, and S3 on the moto server."""

from __future__ import annotations

import os
from pathlib import Path

import _s3  # tests/_s3.py
import pytest

from lamin_flows.config import reset_settings


@pytest.fixture(params=["md5", "blake3"])
def hash_type(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Small files hashed with MD5, or (threshold lowered to 1 KiB) with BLAKE3."""
    if request.param == "blake3":
        monkeypatch.setenv("LAMIN_LARGE_FILE_THRESHOLD", "1024")
        reset_settings()
        request.addfinalizer(reset_settings)
    return str(request.param)


def _source(tmp_path: Path, size: int = 4096) -> Path:
    path = tmp_path / "source.bin"
    path.write_bytes(os.urandom(size))
    return path


def _warnings(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_data_deleted_behind_the_registry_is_stored_again(ln_sqlite, hash_type, tmp_path, capsys) -> None:
    source = _source(tmp_path)
    first = ln_sqlite.File(source, key="runs/data.bin").save()
    assert first.hash_type == hash_type
    first.path().unlink()  # someone removed it in storage
    capsys.readouterr()
    again = ln_sqlite.File(source, key="runs/data.bin").save()
    said = _warnings(capsys)
    assert "'runs/data.bin'" in said and "is missing" in said and said.count("!") == 1  # one warning
    assert again.id != first.id and again.version == "2" and again.is_latest
    assert again.path().read_bytes() == source.read_bytes()
    assert ln_sqlite.File.select(key="runs/data.bin").one().id == again.id  # the latest, with its data


def test_data_overwritten_behind_the_registry_is_kept_and_stored_again(ln_sqlite, hash_type, tmp_path, capsys) -> None:
    source = _source(tmp_path)
    first = ln_sqlite.File(source, key="data.bin").save()
    other = os.urandom(1000 if hash_type == "blake3" else 4096)  # BLAKE3: the size is what is checked
    first.path().write_bytes(other)
    capsys.readouterr()
    again = ln_sqlite.File(source, key="data.bin").save()
    said = _warnings(capsys)
    assert "'data.bin'" in said and ("has 1000 bytes where its record says 4096" in said or "other bytes" in said)
    assert again.id != first.id and again.path().read_bytes() == source.read_bytes()
    old = ln_sqlite.File.select(id=first.id).one()
    assert Path(old.stage()).read_bytes() == other  # what was written there is not lost


def test_intact_data_still_returns_the_existing_record(ln_sqlite, hash_type, tmp_path, capsys) -> None:
    source = _source(tmp_path)
    first = ln_sqlite.File(source, key="data.bin").save()
    capsys.readouterr()
    again = ln_sqlite.File(source, key="data.bin")
    assert again.id == first.id and again.is_saved and "!" not in _warnings(capsys)


def test_on_s3_deleted_data_is_stored_again(s3_bucket, moto_server, hash_type, tmp_path, capsys) -> None:
    import lamin_flows as ln

    ln.setup.init(storage=f"s3://{s3_bucket}/project")
    source = _source(tmp_path)
    first = ln.File(source, key="runs/data.bin").save()
    client = _s3.s3_client(moto_server)
    client.delete_object(Bucket=s3_bucket, Key="project/runs/data.bin")
    capsys.readouterr()
    again = ln.File(source, key="runs/data.bin").save()
    said = _warnings(capsys)
    assert "'runs/data.bin'" in said and "is missing" in said
    assert again.id != first.id and again.version == "2"
    stored = client.get_object(Bucket=s3_bucket, Key="project/runs/data.bin")["Body"].read()
    assert stored == source.read_bytes()


def test_on_s3_truncated_data_is_stored_again(s3_bucket, moto_server, hash_type, tmp_path, capsys) -> None:
    import lamin_flows as ln

    ln.setup.init(storage=f"s3://{s3_bucket}/project")
    source = _source(tmp_path)
    first = ln.File(source, key="data.bin").save()
    client = _s3.s3_client(moto_server)
    client.put_object(Bucket=s3_bucket, Key="project/data.bin", Body=source.read_bytes()[:1000])
    capsys.readouterr()
    again = ln.File(source, key="data.bin").save()
    said = _warnings(capsys)
    assert "'data.bin'" in said and ("has 1000 bytes" in said or "other bytes" in said)
    assert again.id != first.id
    assert client.get_object(Bucket=s3_bucket, Key="project/data.bin")["Body"].read() == source.read_bytes()


def test_content_without_a_key_whose_copy_was_deleted_is_stored_again(ln_sqlite, hash_type, tmp_path, capsys) -> None:
    source = _source(tmp_path)
    first = ln_sqlite.File(source).save()  # stored under .lamindb/<id>.bin
    first.path().unlink()
    capsys.readouterr()
    again = ln_sqlite.File(source).save()
    said = _warnings(capsys)
    assert f"File {first.id}" in said and "is missing" in said and "as a new File" in said
    assert again.id != first.id and again.path().read_bytes() == source.read_bytes()
    capsys.readouterr()
    assert ln_sqlite.File(source).id == again.id  # from now on the intact copy is the one deduplicated to
    assert "outside lamin_flows" not in _warnings(capsys)
