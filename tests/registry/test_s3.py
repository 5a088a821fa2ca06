"""The guide's File operations with S3 storage, against a moto server over HTTP."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import _s3  # tests/_s3.py
import pytest

import lamin_flows as ln
from lamin_flows.errors import StorageNotFoundError


@pytest.fixture
def bucket(s3_bucket: str) -> str:
    ln.setup.init(storage=f"s3://{s3_bucket}/project")
    return s3_bucket


def keys_in(moto_server: str, bucket: str) -> list[str]:
    listing = _s3.s3_client(moto_server).list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []) if not o["Key"].endswith(".lamindb/_owner.json"))


def md5_b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.md5(data).digest()).decode().rstrip("=")


def test_settings_point_at_the_bucket(bucket, lamin_home):
    assert str(ln.settings.storage) == f"s3://{bucket}/project"
    assert ln.Storage.select().one().type == "s3"
    assert ln.setup.settings.instance.sqlite_path.parent == lamin_home / "instances"


def test_upload_stage_load_replace_delete(bucket, moto_server, tmp_path):
    source = tmp_path / "mini.csv"
    source.write_text("a,b\n1,2\n")
    file = ln.File(source, key="tables/mini.csv").save()
    assert str(file.path()) == f"s3://{bucket}/project/tables/mini.csv"
    assert file.hash == md5_b64(source.read_bytes())
    assert keys_in(moto_server, bucket) == ["project/tables/mini.csv"]  # no temporary object left
    local = Path(file.stage())
    assert local.read_bytes() == source.read_bytes() and "cache" in str(local)
    assert list(file.load().columns) == ["a", "b"]
    newer = tmp_path / "newer.csv"
    newer.write_text("a,b\n5,6\n7,8\n")
    first_id = file.id
    file.replace(newer)  # a new version: the old one's bytes move under its id
    assert file.id != first_id and file.version == "2"
    assert Path(file.stage()).read_bytes() == newer.read_bytes()  # changed hash: fetched again
    assert keys_in(moto_server, bucket) == [f"project/.lamindb/{first_id}.csv", "project/tables/mini.csv"]
    old = ln.File.select(id=first_id).one()
    assert Path(old.stage()).read_bytes() == b"a,b\n1,2\n"
    file.delete(storage=True)  # the latest: version 1 is the latest again, back at the key
    assert keys_in(moto_server, bucket) == ["project/tables/mini.csv"]
    assert ln.File.select(key="tables/mini.csv").one().id == first_id
    assert Path(ln.File.select(id=first_id).one().stage()).read_bytes() == b"a,b\n1,2\n"
    ln.File.select(id=first_id).one().delete(storage=True)
    assert keys_in(moto_server, bucket) == [] and len(ln.File.select(is_latest__in=[True, False])) == 0


def test_register_object_in_place_from_etag(bucket, moto_server):
    body = b"x,y\n1,2\n"
    _s3.s3_client(moto_server).put_object(Bucket=bucket, Key="project/existing.csv", Body=body)
    file = ln.File(f"s3://{bucket}/project/existing.csv").save()
    assert (file.key, file.size, file.hash, file.hash_type) == ("existing.csv", len(body), md5_b64(body), "md5")
    assert keys_in(moto_server, bucket) == ["project/existing.csv"]


def test_dataframe_and_from_dir_upload(bucket, moto_server, tmp_path):
    import pandas as pd

    df = ln.dev.datasets.df_iris()
    frame = ln.File(df, name="iris").save()
    pd.testing.assert_frame_equal(frame.load(), df)
    ln.dev.datasets.generate_cell_ranger_files("sample_001", tmp_path)
    files = ln.File.from_dir(tmp_path / "sample_001")
    ln.save(files)
    stored = keys_in(moto_server, bucket)
    assert all(f"project/{f.key}" in stored for f in files)
    assert not any("_tmp" in k for k in stored)
    assert len(ln.File.select(key__startswith="sample_001/")) == len(files)


def test_tree_and_view(bucket, tmp_path, capsys):
    source = tmp_path / "t.txt"
    source.write_text("t")
    ln.File(source, key="folder/t.txt").save()
    ln.File.tree()
    ln.view()
    out = capsys.readouterr().out
    assert "folder/" in out and "t.txt" in out and f"s3://{bucket}/project" in out


def test_new_version_on_s3_keeps_the_old_bytes(bucket, moto_server, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old")
    b.write_text("new")
    v1 = ln.File(a, key="k.txt").save()
    v2 = ln.File(b, key="k.txt")
    assert keys_in(moto_server, bucket)[-1] == "project/k.txt"  # unsaved: only a staged copy besides
    v2.save()
    assert keys_in(moto_server, bucket) == [f"project/.lamindb/{v1.id}.txt", "project/k.txt"]
    assert ln.File.select(id=v1.id).one().load() == "old" and ln.File.select(key="k.txt").one().load() == "new"
    from lamin_flows.verify import verify

    report = verify(min_age=0)
    assert report.ok and report.records == 2 and report.unregistered == [], report.summary()


def test_missing_bucket_is_named_and_leaves_nothing(moto_server, tmp_path):
    with _s3.aws_test_env(moto_server):
        _s3.clear_s3fs_instances()
        with pytest.raises(StorageNotFoundError, match="no-such-bucket"):
            ln.setup.init(storage="s3://no-such-bucket")
        assert not (Path(ln.config.get_settings().home) / "instances" / "no-such-bucket.json").exists()


def test_failed_upload_leaves_no_record_and_no_object(bucket, moto_server, tmp_path, monkeypatch):
    source = tmp_path / "u.txt"
    source.write_text("u" * 10_000)
    file = ln.File(source, key="u.txt")
    backend = file._backend()

    def broken_commit(*args, **kwargs):
        raise OSError("connection reset during copy")

    monkeypatch.setattr(type(backend), "commit", broken_commit)
    with pytest.raises(OSError, match="connection reset"):
        file.save()
    monkeypatch.undo()
    assert len(ln.File.select()) == 0
    assert "project/u.txt" not in keys_in(moto_server, bucket)
    file.save()  # the staged upload is still there: retry works
    assert keys_in(moto_server, bucket) == ["project/u.txt"]


def test_endpoint_from_storage_options_and_secrets_stay_out(moto_server, tmp_path, lamin_home, capsys):
    with _s3.aws_test_env(moto_server, AWS_ENDPOINT_URL=None):
        _s3.clear_s3fs_instances()
        name = _s3.create_bucket(moto_server)
        options = {"endpoint_url": moto_server, "key": "testing", "secret": "s3cr3t-value"}
        ln.setup.init(storage=f"s3://{name}", storage_options=options)
        source = tmp_path / "o.txt"
        source.write_text("o")
        file = ln.File(source, key="o.txt").save()
        assert keys_in(moto_server, name) == ["o.txt"]
        shown = repr(file) + repr(ln.setup.settings.instance) + ln.setup.info() + repr(file._backend())
        ln.view()
        shown += capsys.readouterr().out + capsys.readouterr().err
        assert "s3cr3t-value" not in shown
        for record in ln.Storage.select().all():
            assert "s3cr3t" not in repr(record)
        _s3.clear_s3fs_instances()


def test_cli_init_on_a_bucket(moto_server, tmp_path):
    from _cli import run_cli

    with _s3.aws_test_env(moto_server):
        name = _s3.create_bucket(moto_server)
        home = tmp_path / "home"
        done = run_cli("init", "--storage", f"s3://{name}/prefix", home=home)
        assert done.returncode == 0, done.stderr
        info = run_cli("info", home=home)
        assert f"s3://{name}/prefix" in info.stdout
        missing = run_cli("init", "--storage", "s3://not-a-bucket-here", home=home)
        assert missing.returncode == 1 and "not-a-bucket-here" in missing.stderr


def test_a_cloud_save_journal_is_uploaded_without_flushing_its_scratch_copy(bucket, moto_server, tmp_path, monkeypatch):
    # The journal is durable once its PUT returns; its local scratch file is removed right after.
    import os

    from lamin_flows.registry import journal

    flushed: list[str] = []
    writing = []  # non-empty while journal.write runs
    real_fsync = os.fsync
    monkeypatch.setattr(journal, "sync_folder", lambda path: flushed.append(path))
    monkeypatch.setattr(journal.os, "fsync", lambda fd: (writing and flushed.append(f"fd {fd}"), real_fsync(fd))[1])
    written: list[dict] = []
    original = journal.write

    def write(backend, storage_id, entries, **kwargs):
        writing.append(1)
        try:
            key = original(backend, storage_id, entries, **kwargs)
        finally:
            writing.clear()
        written.append(journal.read(backend, key))  # stored, complete, before any data moves
        return key

    monkeypatch.setattr(journal, "write", write)
    source = tmp_path / "j.csv"
    source.write_text("j\n")
    file = ln.File(source, key="results/j.csv").save()
    assert [e["key"] for d in written for e in d["files"]] == ["results/j.csv"]
    assert flushed == []
    assert keys_in(moto_server, bucket) == ["project/results/j.csv"] and file.is_saved  # the journal is gone again
