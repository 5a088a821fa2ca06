"""``lamin verify``: what it finds, what ``--fix`` repairs, and what it never touches."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from _cli import run_cli  # tests/_cli.py

import lamin_flows as ln
from lamin_flows.errors import ValidationError
from lamin_flows.verify import Report, verify
from reliability.helpers import (
    count_files,
    journals,
    make_source,
    start_save_child,
    temp_files,
)


@pytest.fixture
def stored(ln, tmp_path):
    """An instance with 40 Files copied in, and its storage root."""
    ln.save(ln.File.from_dir(make_source(tmp_path / "src", n_dirs=4, per_dir=10)))
    return Path(str(ln.settings.storage))


def test_clean_instance_passes(stored):
    report = verify()
    assert report.ok and report.records == 40 and report.objects == 40 and report.hashed == 40
    assert report.findings == [] and "OK" in report.summary()
    done = run_cli("verify")
    assert done.returncode == 0 and "checked 40 File records" in done.stdout, done.stderr


def test_finds_missing_corrupt_and_leftovers(stored):
    (stored / "src/d00/f000.txt").unlink()  # missing
    corrupt = stored / "src/d01/f001.txt"
    corrupt.write_bytes(corrupt.read_bytes().replace(b"file", b"FILE"))  # same size, other content
    resized = stored / "src/d02/f002.txt"
    resized.write_text("short")
    (stored / "notes.txt").write_text("a user's own file")  # unregistered: listed, not a problem
    tmp = stored / ".lamindb" / "_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "0123456789abcdef-old.txt").write_text("left by a crash")
    os.utime(tmp / "0123456789abcdef-old.txt", (time.time() - 7200, time.time() - 7200))
    (tmp / "fedcba9876543210-new.txt").write_text("a save in progress")

    report = verify()
    assert [f.key for f in report.missing] == ["src/d00/f000.txt"]
    assert sorted(f.key for f in report.corrupt) == ["src/d01/f001.txt", "src/d02/f002.txt"]
    assert "hash" in report.corrupt[0].detail and "size 5 bytes" in report.corrupt[1].detail
    assert [f.key for f in report.unregistered] == ["notes.txt"]
    assert [f.key for f in report.temporary] == [".lamindb/_tmp/0123456789abcdef-old.txt"]
    assert [f.key for f in report.in_progress] == [".lamindb/_tmp/fedcba9876543210-new.txt"]
    assert not report.ok and len(report.problems) == 4
    done = run_cli("verify")
    assert done.returncode == 1 and "records without data" in done.stdout and "src/d00/f000.txt" in done.stdout

    done = run_cli("verify", "--fix")  # removes the old temporary file, nothing else
    assert done.returncode == 1 and "removed" in done.stdout
    assert not (tmp / "0123456789abcdef-old.txt").exists() and (tmp / "fedcba9876543210-new.txt").exists()
    assert (stored / "notes.txt").exists() and corrupt.exists() and resized.exists()  # never deleted
    assert count_files(stored / "src") == 39
    fixed = verify(fix=True, min_age=0)
    assert [f.key for f in fixed.fixed] == [".lamindb/_tmp/fedcba9876543210-new.txt"]
    assert len(fixed.missing) == 1 and len(fixed.corrupt) == 2  # only a person can repair these


def _crash_before_commit(source: Path, instance: str) -> None:
    child = start_save_child(source, instance, "before_commit")
    _, err = child.communicate()
    assert child.returncode == -9, err.decode()


def test_fix_rolls_back_an_interrupted_save(ln, tmp_path):
    root = Path(str(ln.settings.storage))
    source = make_source(tmp_path / "src", n_dirs=3, per_dir=10)
    _crash_before_commit(source, "test")
    assert count_files(root / "src") == 30 and len(journals(root)) == 1 and len(ln.File.select()) == 0

    report = verify()
    assert len(report.interrupted) == 1 and report.unregistered == [] and not report.ok
    assert "moved 30 of 30 files" in report.interrupted[0].detail
    # one file is registered meanwhile (in place), one is overwritten by someone: both must survive
    kept = ln.File(root / "src/d00/f000.txt").save()
    changed = root / "src/d01/f001.txt"
    changed.write_text("other content")
    done = run_cli("verify", "--fix")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rolled back" in done.stdout and "kept 1" in done.stdout
    assert sorted(p.relative_to(root).as_posix() for p in (root / "src").rglob("*.txt")) == [
        "src/d00/f000.txt",
        "src/d01/f001.txt",
    ]
    assert Path(kept.path()).exists() and journals(root) == []
    after = verify()
    assert after.missing == [] and [f.key for f in after.unregistered] == ["src/d01/f001.txt"]
    # the crashed process's staged copies are recent: kept until they are old (or --min-age 0)
    assert len(after.in_progress) == 30
    assert verify(fix=True, min_age=0).ok and temp_files(root) == []


def test_storage_option_and_unreachable_storage(ln, tmp_path):
    first = Path(str(ln.settings.storage))
    (tmp_path / "a.txt").write_text("a")
    ln.File(tmp_path / "a.txt", key="a.txt").save()
    ln.settings.storage = tmp_path / "second"
    (tmp_path / "b.txt").write_text("b")
    ln.File(tmp_path / "b.txt", key="b.txt").save()
    assert verify().records == 2 and len(verify().storages) == 2
    only = verify(storage=tmp_path / "second")
    assert only.records == 1 and only.storages == [str((tmp_path / "second").resolve())]
    with pytest.raises(ValidationError, match="not a registered storage root"):
        verify(storage=tmp_path / "nowhere")
    done = run_cli("verify", "--storage", str(tmp_path / "nowhere"))
    assert done.returncode == 1 and done.stderr.startswith("error:") and "nowhere" in done.stderr
    shutil.rmtree(first)
    report = verify()
    assert len(report.unreachable) == 1 and "does not exist" in report.unreachable[0].detail and not report.ok


def test_one_query_and_one_listing_whatever_the_number_of_files(ln_sqlite, tmp_path, monkeypatch):
    """Batched: the statements verify sends and the listings it makes do not grow with the records."""
    from lamin_flows.registry import instance
    from lamin_flows.verify import objects

    engine = instance.current().engine
    statements: list[str] = []
    listings: list[str] = []
    original = objects._list_local
    monkeypatch.setattr(objects, "_list_local", lambda root: (listings.append(root), original(root))[1])
    sa.event.listen(
        engine, "before_cursor_execute", lambda conn, cursor, statement, *args: statements.append(statement)
    )
    counts = []
    for n in (10, 300):
        source = make_source(tmp_path / f"src{n}", n_dirs=1, per_dir=n, tag=f"{n} ")
        ln_sqlite.save(ln_sqlite.File.from_dir(source))
        statements.clear()
        listings.clear()
        report = verify()
        assert report.ok and report.records in (10, 310)
        counts.append(len(statements))
        assert len(listings) == 1
    assert counts[0] == counts[1] and counts[0] <= 4, counts


def test_replace_with_another_format_leaves_nothing_behind(ln, tmp_path):
    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    (tmp_path / "a.txt").write_text("hello")
    file = ln.File(tmp_path / "a.csv").save()  # no key: stored as .lamindb/<id>.csv
    first = file.id
    file.replace(tmp_path / "a.txt")  # a new version, stored as .lamindb/<new id>.txt
    assert file.suffix == ".txt" and file.load() == "hello" and file.id != first
    assert ln.File.select(id=first).one().load().iloc[0].tolist() == [1, 2]
    report = verify(min_age=0)
    assert report.ok and report.objects == 2 and report.unregistered == [], report.summary()


def test_deleting_data_keeps_what_a_new_record_took_meanwhile(ln, tmp_path, monkeypatch):
    """``file.delete(storage=True)`` before its transaction: another save makes a new version of the key.

    The record and the data go in one transaction (see registry/file_delete.py); the last moment
    another writer can take the key is before it, while the delete keeps a copy of the data.
    """
    from lamin_flows.storage.local import LocalBackend

    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    old = ln.File(tmp_path / "a.txt", key="k.txt").save()
    real = LocalBackend.link
    done = []

    def and_then_another_writer(self, from_key, to_key):
        real(self, from_key, to_key)
        if to_key.startswith(".lamindb/_tmp/") and not done:  # the delete's copy of the data
            done.append(ln.File(tmp_path / "b.txt", key="k.txt").save())  # a writer that saves the key right now

    monkeypatch.setattr(LocalBackend, "link", and_then_another_writer)
    old.delete(storage=True)
    assert done and done[0].version == "2"
    assert (Path(str(ln.settings.storage)) / "k.txt").read_text() == "b"
    assert ln.File.select(key="k.txt").one().id == done[0].id
    assert verify(min_age=0).ok


def test_from_dir_of_the_storage_root_registers_in_place(ln_sqlite):
    root = Path(str(ln_sqlite.settings.storage))
    make_source(root, n_dirs=2, per_dir=5)
    ln_sqlite.save(ln_sqlite.File.from_dir(root))
    assert sorted(f.key for f in ln_sqlite.File.select())[:2] == ["d00/f000.txt", "d00/f001.txt"]
    report = verify(min_age=0)
    assert report.ok and report.records == report.objects == 10  # registered in place, not copied into itself


def test_report_api():
    report = Report(storages=["/x"])
    assert report.ok and repr(report) == "Report(ok=True, records=0, objects=0)"


# ---- cloud ---------------------------------------------------------------------------------------
@pytest.fixture
def s3_instance(s3_endpoint, s3_bucket):
    import _s3

    ln.setup.init(storage=f"s3://{s3_bucket}/root", name="s3verify")
    return s3_bucket, _s3.s3_client(s3_endpoint)


def test_s3_size_and_etag_and_rehash(s3_instance, tmp_path, monkeypatch):
    bucket, client = s3_instance
    ln.save(ln.File.from_dir(make_source(tmp_path / "src", n_dirs=1, per_dir=6)))
    report = verify()
    assert report.ok and report.records == 6 and report.hashed == 6  # plain-MD5 ETags: no download
    client.delete_object(Bucket=bucket, Key="root/src/d00/f000.txt")
    body = client.get_object(Bucket=bucket, Key="root/src/d00/f001.txt")["Body"].read()
    client.put_object(Bucket=bucket, Key="root/src/d00/f001.txt", Body=body.replace(b"file", b"FILE"))
    client.put_object(Bucket=bucket, Key="root/.lamindb/_tmp/0123456789abcdef-x.txt", Body=b"left over")
    report = verify(min_age=0)
    assert [f.key for f in report.missing] == ["src/d00/f000.txt"]
    assert [f.key for f in report.corrupt] == ["src/d00/f001.txt"] and "md5 hash" in report.corrupt[0].detail
    assert [f.key for f in report.temporary] == [".lamindb/_tmp/0123456789abcdef-x.txt"]
    fixed = verify(fix=True, min_age=0)
    assert len(fixed.fixed) == 1 and "root/.lamindb/_tmp/0123456789abcdef-x.txt" not in [
        o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]
    ]
    # BLAKE3-hashed (large) files have no comparable ETag: size only, unless rehash downloads them
    monkeypatch.setenv("LAMIN_LARGE_FILE_THRESHOLD", "10")
    from lamin_flows.config import reset_settings

    reset_settings()
    ln.settings.verbosity = 1
    big = tmp_path / "big.bin"
    big.write_bytes(b"0123456789" * 100)
    file = ln.File(big, key="big.bin").save()
    assert file.hash_type == "blake3"
    client.put_object(Bucket=bucket, Key="root/big.bin", Body=b"9876543210" * 100)  # same size
    assert "big.bin" not in [f.key for f in verify(storage=f"s3://{bucket}/root").corrupt]
    rehashed = {f.key: f.detail for f in verify(rehash=True).corrupt}
    assert "blake3 hash" in rehashed["big.bin"] and "md5 hash" in rehashed["src/d00/f001.txt"]


def test_s3_key_that_is_also_a_folder(s3_instance, tmp_path):
    """On S3 "a" and "a/b.txt" can both exist; the data of key "a" must land at "a", not inside it."""
    bucket, client = s3_instance
    (tmp_path / "b.txt").write_text("inner")
    (tmp_path / "a").write_text("outer")
    ln.File(tmp_path / "b.txt", key="a/b.txt").save()
    outer = ln.File(tmp_path / "a", key="a").save()
    assert client.get_object(Bucket=bucket, Key="root/a")["Body"].read() == b"outer"
    assert Path(outer.stage()).read_text() == "outer"
    report = verify(min_age=0)
    assert report.ok and report.unregistered == [], report.summary()
