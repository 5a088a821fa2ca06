"""No save deletes or overwrites bytes at a key unless a record of this registry points at them
and the save is a new version of that record (SQLite and PostgreSQL; S3 on the moto server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamin_flows.errors import KeyConflictError, ValidationError


@pytest.fixture
def root(ln) -> Path:
    return Path(ln.setup.settings.storage.root)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_bytes_kept_by_delete_are_never_replaced_by_a_later_save(ln, root, tmp_path):
    first = ln.File(write(tmp_path / "v1.csv", "kept\n"), key="results/summary.csv").save()
    first.delete(storage=False)
    kept = root / "results" / "summary.csv"
    assert kept.read_text() == "kept\n"
    with pytest.raises(KeyConflictError) as caught:
        ln.File(write(tmp_path / "v2.csv", "new\n"), key="results/summary.csv").save()
    message = str(caught.value)
    assert f"ln.File({str(kept)!r}).save()" in message and "Nothing was saved" in message
    assert kept.read_text() == "kept\n" and ln.File.select().count() == 0
    ln.File(kept).save()  # what the message says: register the kept bytes in place first
    newer = ln.File(write(tmp_path / "v2.csv", "new\n"), key="results/summary.csv").save()
    assert newer.version == "2" and kept.read_text() == "new\n"
    assert Path(newer.versions[0].stage()).read_text() == "kept\n"


def test_the_same_content_at_a_kept_key_is_registered_again_without_loss(ln, root, tmp_path):
    source = write(tmp_path / "a.csv", "same\n")
    ln.File(source, key="a.csv").save().delete(storage=False)
    again = ln.File(source, key="a.csv").save()
    assert (root / "a.csv").read_text() == "same\n" and again.path().read_text() == "same\n"


def test_a_folder_copied_over_one_unregistered_file_saves_nothing(ln, root, tmp_path):
    source = tmp_path / "batch"
    for i in range(5):
        write(source / f"f{i}.txt", f"mine {i}\n")
    theirs = write(root / "batch" / "f3.txt", "a colleague's\n")
    with pytest.raises(KeyConflictError, match="f3.txt"):
        ln.save(ln.File.from_dir(source))
    assert theirs.read_text() == "a colleague's\n"
    assert sorted(p.name for p in (root / "batch").iterdir()) == ["f3.txt"]  # the others were undone
    assert ln.File.select().count() == 0


def test_replace_with_another_format_never_lands_on_an_unregistered_file(ln, root, tmp_path):
    import pandas as pd

    file = ln.File(write(tmp_path / "t.csv", "a\n1\n"), key="tables/t.csv").save()
    theirs = root / "tables" / "t.parquet"
    pd.DataFrame({"b": [9]}).to_parquet(theirs)
    before = theirs.read_bytes()
    with pytest.raises(KeyConflictError, match="no record points to"):
        file.replace(pd.DataFrame({"a": [1, 2]}))
    assert theirs.read_bytes() == before and (root / "tables" / "t.csv").read_text() == "a\n1\n"
    assert ln.File.select(key="tables/t.csv").one().id == file.id


def test_an_unregistered_object_in_a_bucket_is_never_overwritten(s3_bucket, moto_server, tmp_path):
    import _s3

    import lamin_flows as ln

    ln.setup.init(storage=f"s3://{s3_bucket}/p")
    client = _s3.s3_client(moto_server)
    client.put_object(Bucket=s3_bucket, Key="p/results/summary.csv", Body=b"a colleague's\n")
    with pytest.raises(KeyConflictError, match="no record points to"):
        ln.File(write(tmp_path / "m.csv", "mine\n"), key="results/summary.csv").save()
    body = client.get_object(Bucket=s3_bucket, Key="p/results/summary.csv")["Body"].read()
    assert body == b"a colleague's\n" and ln.File.select().count() == 0
    kept = ln.File(write(tmp_path / "k.csv", "kept\n"), key="k.csv").save()
    kept.delete(storage=False)
    with pytest.raises(KeyConflictError):
        ln.File(write(tmp_path / "k2.csv", "other\n"), key="k.csv").save()
    assert client.get_object(Bucket=s3_bucket, Key="p/k.csv")["Body"].read() == b"kept\n"


def test_a_version_only_replaces_bytes_its_record_points_to(ln, root, tmp_path):
    file = ln.File(write(tmp_path / "a.txt", "one\n"), key="a.txt").save()
    (root / "a.txt").write_text("changed by hand\n")  # outside lamin_flows: the record no longer matches
    newer = ln.File(write(tmp_path / "b.txt", "two\n"), key="a.txt").save()
    assert newer.version == "2" and (root / "a.txt").read_text() == "two\n"
    # the bytes that were at the key are kept under the older version's id, never deleted
    assert Path(ln.File.select(id=file.id).one().path()).read_text() == "changed by hand\n"
    with pytest.raises(ValidationError):
        newer.key = "b.txt"
        newer.save()
