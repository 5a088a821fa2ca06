"""Files: registering in place, copying in, objects, dedup, keys, replace, delete, errors."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from lamin_flows.errors import InvalidKeyError, KeyConflictError, UnsupportedObjectError, ValidationError


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
    first = ln.File(first_src, key="one.txt").save()
    second = ln.File(second_src, key="two.txt")
    assert second.id == first.id and second.key == "one.txt"
    assert len(ln.File.select()) == 1


def test_key_conflict_changes_nothing(ln, root, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old")
    b.write_text("new")
    ln.File(a, key="k.txt").save()
    with pytest.raises(KeyConflictError, match=r"k\.txt.*replace"):
        ln.File(b, key="k.txt")
    assert (root / "k.txt").read_text() == "old"
    assert tmp_files(root) == []
    assert len(ln.File.select()) == 1


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
    assert [f.key for f in prefixed] == ["run42/a.txt", "run42/sub/b.txt"]  # same content: existing records
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
