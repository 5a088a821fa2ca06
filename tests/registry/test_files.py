"""Files: registering in place, copying in, objects, dedup, keys, replace, delete, errors."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from lamin_flows.errors import InvalidKeyError, UnsupportedObjectError, ValidationError


def md5_b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.md5(data).digest()).decode().rstrip("=")


def tmp_files(root: Path) -> list[Path]:
    tmp = root / ".lamindb" / "_tmp"
    return [p for p in tmp.rglob("*") if p.is_file()] if tmp.exists() else []


@pytest.fixture
def root(ln, tmp_path) -> Path:
    return Path(str(ln.settings.storage))


def test_in_place_registration(ln, root):
    (root / "mini.csv").write_text("a,b\n1,2\n")
    file = ln.File(root / "mini.csv")
    assert (file.key, file.suffix, file.size) == ("mini.csv", ".csv", 8)
    assert file.hash == md5_b64(b"a,b\n1,2\n") and file.hash_type == "md5"
    file.save()
    assert Path(file.path()) == root / "mini.csv"
    assert ln.File(root / "mini.csv").id == file.id  # same key, same content: the existing record


def test_copy_in_with_key_keeps_original(ln, root, tmp_path):
    source = tmp_path / "in.jpg"
    source.write_bytes(b"\xff\xd8jpeg")
    file = ln.File(source, key="images/a.jpg")
    assert not (root / "images" / "a.jpg").exists()  # nothing final before save
    file.save()
    assert (root / "images" / "a.jpg").read_bytes() == b"\xff\xd8jpeg"
    assert source.exists()
    assert tmp_files(root) == []
    assert Path(file.stage()).read_bytes() == b"\xff\xd8jpeg"


def test_copy_in_without_key_uses_id(ln, root, tmp_path):
    source = tmp_path / "x.txt"
    source.write_text("content")
    file = ln.File(source).save()
    assert file.key is None
    assert Path(file.path()) == root / ".lamindb" / f"{file.id}.txt"
    assert file.load() == "content"


def test_same_content_returns_existing_record(ln, tmp_path):
    first_src, second_src = tmp_path / "1.txt", tmp_path / "2.txt"
    first_src.write_text("same")
    second_src.write_text("same")
    first = ln.File(first_src).save()  # no key: known content stands for it
    assert ln.File(second_src).id == first.id
    keyed = ln.File(first_src, key="one.txt").save()  # an explicit key is honoured
    assert keyed.id != first.id and keyed.key == "one.txt"
    assert ln.File(second_src, key="one.txt").id == keyed.id  # the key's latest holds it
    assert len(ln.File.select()) == 2


def test_new_content_under_a_key_is_a_new_version(ln, root, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old")
    b.write_text("new")
    v1 = ln.File(a, key="k.txt").save()
    v2 = ln.File(b, key="k.txt")
    assert not v2._lf.saved and v2.key == "k.txt" and v2.id != v1.id
    assert (root / "k.txt").read_text() == "old"  # nothing changes before the save
    v2.save()
    assert (v1.version, v2.version, v2.is_latest) == ("1", "2", True)
    assert (root / "k.txt").read_text() == "new"
    old = ln.File.select(id=v1.id).one()
    assert not old.is_latest and old.load() == "old" and old.path() == root / ".lamindb" / f"{v1.id}.txt"
    assert [f.id for f in v2.versions] == [v1.id, v2.id]
    assert ln.File.select(key="k.txt").one().id == v2.id
    assert [f.id for f in ln.File.select(key="k.txt", is_latest=False)] == [v1.id]
    assert tmp_files(root) == []


def test_version_labels_and_revises(ln, root, tmp_path):
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    a.write_text("1")
    b.write_text("2")
    c.write_text("3")
    v1 = ln.File(a, key="k.txt", version="2024-01").save()
    v2 = ln.File(b, revises=v1).save()  # the key comes from revises=
    assert (v1.version, v2.version, v2.key) == ("2024-01", "1", "k.txt")
    with pytest.raises(ValidationError, match="has a version '1' already"):
        ln.File(c, key="k.txt", version="1").save()
    assert ln.File.select(key="k.txt").one().id == v2.id and (root / "k.txt").read_text() == "2"
    with pytest.raises(ValidationError, match="disagree"):
        ln.File(c, key="other.txt", revises=v1)
    with pytest.raises(ValidationError, match="saved File"):
        ln.File(c, revises="k.txt")
    # a File without a key has a version line too
    assert ln.File(a).id == v1.id  # no key: known content stands for it (a warning says so)
    d = tmp_path / "d.txt"
    d.write_text("4")
    n1 = ln.File(d).save()
    n2 = ln.File(c, revises=n1).save()
    assert n2.key is None and n2.version == "2" and [f.id for f in n2.versions] == [n1.id, n2.id]
    assert n1.load() == "4" and n2.load() == "3" and not ln.File.select(id=n1.id).one().is_latest


def test_delete_versions(ln, root, tmp_path):
    paths = [tmp_path / f"{i}.txt" for i in range(3)]
    files = []
    for i, path in enumerate(paths):
        path.write_text(f"content {i}")
        files.append(ln.File(path, key="d.txt").save())
    files[1].delete(storage=True)  # an older version: its record and its bytes
    assert not (root / ".lamindb" / f"{files[1].id}.txt").exists()
    assert [f.id for f in files[2].versions] == [files[0].id, files[2].id]
    files[2].delete(storage=True)  # the latest: the one before it is the latest again, at the key
    latest = ln.File.select(key="d.txt").one()
    assert latest.id == files[0].id and latest.is_latest and (root / "d.txt").read_text() == "content 0"
    assert not (root / ".lamindb" / f"{files[0].id}.txt").exists()
    assert not (root / ".lamindb" / f"{files[2].id}.txt").exists()
    from lamin_flows.verify import verify

    report = verify(min_age=0)
    assert report.ok and report.records == 1 and report.unregistered == [], report.summary()
    latest.delete(storage=False)  # the only version: as before, the data stays
    assert (root / "d.txt").read_text() == "content 0" and len(ln.File.select(is_latest__in=[True, False])) == 0


def test_dataframe_and_anndata_round_trip(ln):
    import pandas as pd

    df = ln.dev.datasets.df_iris()
    file = ln.File(df, name="iris", key="tables/iris.parquet").save()
    assert file.suffix == ".parquet"
    pd.testing.assert_frame_equal(file.load(), df)
    adata = ln.dev.datasets.anndata_small()
    afile = ln.File(adata, key="sc/small.h5ad").save()
    loaded = afile.load()
    assert afile.suffix == ".h5ad" and loaded.shape == adata.shape


def test_load_formats(ln, root):
    (root / "d.json").write_text('{"a": 1}')
    (root / "t.tsv").write_text("x\ty\n1\t2\n")
    (root / "blob.bin").write_bytes(b"\x00\x01")
    assert ln.File(root / "d.json").save().load() == {"a": 1}
    assert list(ln.File(root / "t.tsv").save().load().columns) == ["x", "y"]
    assert Path(ln.File(root / "blob.bin").save().load()) == root / "blob.bin"


@pytest.mark.parametrize(
    "key", ["/abs/x.csv", "../x.csv", "a/../../x.csv", "a\\b.csv", "", "a/\x00.csv", "~/x.csv", ".lamindb/x.csv"]
)
def test_bad_keys_are_refused(ln, root, tmp_path, key):
    source = tmp_path / "s.csv"
    source.write_text("x")
    with pytest.raises((InvalidKeyError, ValueError)):
        ln.File(source, key=key)
    assert len(ln.File.select()) == 0 and tmp_files(root) == []


def test_missing_path_and_unsupported_objects(ln, root):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        ln.File("nope.csv")
    with pytest.raises(UnsupportedObjectError, match="set"):
        ln.File({1, 2})
    with pytest.raises(ValidationError, match="from_dir"):
        ln.File(root)
    assert len(ln.File.select()) == 0


def test_replace_keeps_id_and_key(ln, root, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x\n1\n")
    b.write_text("x\n2\n3\n")
    file = ln.File(a, key="r.csv").save()
    old_hash = file.hash
    file.replace(b)
    again = ln.File.select(key="r.csv").one()
    assert again.id == file.id and again.hash != old_hash and again.size == b.stat().st_size
    assert (root / "r.csv").read_text() == "x\n2\n3\n"
    assert tmp_files(root) == []


def test_delete_metadata_only_or_with_data(ln, root, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a")
    b.write_text("b")
    keep = ln.File(a, key="keep.txt").save()
    drop = ln.File(b, key="drop.txt").save()
    keep.delete()  # not a terminal: keeps the data
    drop.delete(storage=True)
    assert (root / "keep.txt").exists() and not (root / "drop.txt").exists()
    assert len(ln.File.select()) == 0


def test_from_dir_outside_and_inside_storage(ln, root, tmp_path):
    outside = tmp_path / "run42"
    (outside / "sub").mkdir(parents=True)
    (outside / "a.txt").write_text("a")
    (outside / "sub" / "b.txt").write_text("b")
    files = ln.File.from_dir(outside)
    assert [f.key for f in files] == ["run42/a.txt", "run42/sub/b.txt"]
    ln.save(files)
    assert (root / "run42" / "sub" / "b.txt").read_text() == "b"
    prefixed = ln.File.from_dir(outside, key="raw")
    assert [f.key for f in prefixed] == ["raw/a.txt", "raw/sub/b.txt"]  # the keys asked for: new records
    ln.save(prefixed)
    ln.dev.datasets.generate_cell_ranger_files("s1", root)
    inside = ln.File.from_dir(root / "s1")
    assert all(f.key.startswith("s1/") for f in inside) and len(inside) >= 8
    ln.save(inside)
    assert len(ln.File.select(key__startswith="s1/")) == len(inside)
    assert tmp_files(root) == []


def test_failed_copy_leaves_no_row_and_no_temp(ln, root, tmp_path, monkeypatch):
    source = tmp_path / "big.txt"
    source.write_text("data" * 1000)
    import lamin_flows.storage.hashing as hashing

    def broken(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(hashing, "copy_with_hash", broken)
    for module in ("lamin_flows.storage.local", "lamin_flows.storage.base"):
        mod = __import__(module, fromlist=["x"])
        if hasattr(mod, "copy_with_hash"):
            monkeypatch.setattr(mod, "copy_with_hash", broken)
    with pytest.raises(OSError, match="disk on fire"):
        ln.File(source, key="big.txt").save()
    assert len(ln.File.select()) == 0 and tmp_files(root) == [] and not (root / "big.txt").exists()


def test_failed_commit_removes_moved_data(ln, root, tmp_path, monkeypatch):
    from lamin_flows.registry import persist

    source = tmp_path / "c.txt"
    source.write_text("c")
    file = ln.File(source, key="c.txt")
    real = persist.insert_records

    def failing(conn, cls, records):
        real(conn, cls, records)
        raise RuntimeError("commit fails")

    monkeypatch.setattr(persist, "insert_records", failing)
    import lamin_flows.registry.file_commit as file_commit

    monkeypatch.setattr(file_commit, "insert_records", failing)
    with pytest.raises(RuntimeError, match="commit fails"):
        file.save()
    assert not (root / "c.txt").exists() and len(ln.File.select()) == 0
    monkeypatch.undo()
    file.save()  # retrying the same File works
    assert (root / "c.txt").read_text() == "c" and tmp_files(root) == []


def test_unsaved_file_temp_is_removed_when_dropped(ln, root, tmp_path):
    import gc

    source = tmp_path / "d.txt"
    source.write_text("d")
    file = ln.File(source, key="d.txt")
    assert len(tmp_files(root)) == 1
    del file
    gc.collect()
    assert tmp_files(root) == []


def test_tree_and_view(ln, root, capsys):
    (root / "a").mkdir()
    (root / "a" / "x.csv").write_text("1")
    ln.File(root / "a" / "x.csv").save()
    ln.File.tree()
    out = capsys.readouterr().out
    assert "a/" in out and "x.csv" in out
    ln.view()
    out = capsys.readouterr().out
    assert "File" in out and "Storage" in out and "User" in out


def test_the_next_version_number_is_one_above_the_highest_whole_number(ln, tmp_path):
    src = tmp_path / "a.txt"
    labels = []
    for i, label in enumerate(["1", "10", "007", "v99", "2024-01-02", "1" * 30, None, None]):
        src.write_text(f"content {i}")
        labels.append(ln.File(src, key="k.txt", version=label).save().version)
    # "v99", dates and a 30-digit label are names, not numbers; 10 is the highest whole number
    assert labels[-2:] == ["11", "12"]
    assert [f.version for f in ln.File.select(key="k.txt").one().versions] == labels


def test_known_content_without_a_key_returns_the_keyed_file_with_a_warning(ln, tmp_path, capsys):
    a, b = tmp_path / "a.csv", tmp_path / "copy.csv"
    a.write_text("x\n1\n")
    b.write_text("x\n1\n")
    original = ln.File(a, key="tables/a.csv").save()
    capsys.readouterr()
    again = ln.File(b)  # no key: the content is known, so that File stands for it
    assert again.id == original.id
    assert (
        "this content is registered already as version 1 of 'tables/a.csv': returning that File"
        in capsys.readouterr().err
    )
    mine = ln.File(b, key="tables/copy.csv").save()  # an explicit key is honoured: a File of its own
    assert mine.id != original.id and mine.key == "tables/copy.csv" and mine.hash == original.hash
    assert "returning that File" not in capsys.readouterr().err
