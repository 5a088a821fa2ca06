"""Paths inside a storage's own ``.lamindb/`` area cannot be registered in place (local, S3, both registries)."""

from __future__ import annotations

from pathlib import Path

import _s3  # tests/_s3.py
import pytest

from lamin_flows.errors import ValidationError
from lamin_flows.verify import verify


def test_the_data_of_a_keyless_file_is_not_registered_twice(ln, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("no key")
    first = ln.File(source).save()
    inside = Path(first.path())
    assert ".lamindb" in inside.parts
    with pytest.raises(ValidationError, match="lamin_flows manages") as info:
        ln.File(inside)
    assert str(inside) in str(info.value)
    assert ln.File.select().count() == 1
    first.delete(storage=True)  # still deletes only its own data, and nothing else points at it
    assert not inside.exists()
    assert verify(min_age=0).ok


def test_a_file_put_into_lamindb_by_hand_and_the_folder_are_refused(ln, tmp_path: Path) -> None:
    managed = tmp_path / "data" / ".lamindb"
    (managed / "mine").mkdir(parents=True)
    (managed / "mine" / "x.txt").write_text("mine")
    with pytest.raises(ValidationError, match="lamin_flows manages"):
        ln.File(managed / "mine" / "x.txt")
    with pytest.raises(ValidationError, match="lamin_flows manages"):
        ln.File.from_dir(managed / "mine")
    with pytest.raises(ValidationError, match="lamin_flows manages"):
        ln.File.from_dir(managed)
    assert ln.File.select().count() == 0
    # copying it in under a key of one's own is fine: that is a copy, not the managed object
    copy = ln.File(managed / "mine" / "x.txt", key="rescued/x.txt").save()
    assert copy.key == "rescued/x.txt" and Path(copy.path()).read_text() == "mine"


def test_from_dir_of_the_root_still_skips_lamindb(ln, tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "top.txt").write_text("top")
    keyless = tmp_path / "k.txt"
    keyless.write_text("keyless")
    ln.File(keyless).save()
    files = ln.File.from_dir(root)
    assert [f.key for f in files] == ["top.txt"]


def test_s3_objects_inside_lamindb_are_refused(s3_bucket: str, s3_endpoint: str, tmp_path: Path) -> None:
    import lamin_flows as ln

    ln.setup.init(storage=f"s3://{s3_bucket}/project")
    source = tmp_path / "a.txt"
    source.write_text("no key on s3")
    first = ln.File(source).save()
    with pytest.raises(ValidationError, match="lamin_flows manages"):
        ln.File(str(first.path()))
    _s3.s3_client(s3_endpoint).put_object(Bucket=s3_bucket, Key="project/.lamindb/mine.txt", Body=b"mine")
    with pytest.raises(ValidationError, match="lamin_flows manages"):
        ln.File(f"s3://{s3_bucket}/project/.lamindb/mine.txt")
    assert ln.File.select().count() == 1
