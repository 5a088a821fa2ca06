"""Hostile filesystem objects: symbolic links in storage that lead out of the root are never written
or deleted through; FIFOs, sockets, devices, broken links and names that are not UTF-8 in a folder
given to ``from_dir`` are skipped with a warning naming each (never blocking), the rest registered."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from lamin_flows.errors import InvalidKeyError, StoragePermissionError
from lamin_flows.storage import get_backend

LATIN1 = os.fsdecode(b"caf\xe9.txt")  # 'caf\udce9.txt': how Python names the latin-1 bytes on Linux


@pytest.fixture
def escape(tmp_path: Path) -> tuple[Path, Path]:
    """A storage root with ``link`` -> a folder outside it, which holds ``victim.txt``."""
    root, outside = tmp_path / "store", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "victim.txt").write_text("not yours")
    (root / "link").symlink_to(outside)
    (root / "evil.txt").symlink_to(outside / "victim.txt")
    return root, outside


def test_a_commit_never_writes_through_a_link_out_of_the_root(escape: tuple[Path, Path], tmp_path: Path) -> None:
    root, outside = escape
    backend = get_backend(root)
    source = tmp_path / "data.csv"
    source.write_text("a,b\n")
    staged = backend.stage_in(source)
    for overwrite in (False, True):
        with pytest.raises(StoragePermissionError) as caught:
            backend.commit(staged.temp_key, "link/sub/data.csv", overwrite=overwrite)
        assert "link" in str(caught.value) and str(outside) in str(caught.value)
    assert sorted(os.listdir(outside)) == ["victim.txt"]  # not even the folder "sub"
    assert backend.exists(staged.temp_key)  # the staged copy stays, for another key
    backend.commit(staged.temp_key, "inside/data.csv")
    assert (root / "inside" / "data.csv").read_text() == "a,b\n"


def test_delete_and_open_never_go_through_a_link_out_of_the_root(escape: tuple[Path, Path]) -> None:
    root, outside = escape
    backend = get_backend(root)
    with pytest.raises(StoragePermissionError):
        backend.delete("link/victim.txt")
    with pytest.raises(StoragePermissionError):
        backend.open("link/new.txt", "w")
    with pytest.raises(StoragePermissionError, match="evil.txt"):
        backend.open("evil.txt", "w")
    assert (outside / "victim.txt").read_text() == "not yours" and sorted(os.listdir(outside)) == ["victim.txt"]


def test_a_link_inside_the_root_is_fine(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to(root / "real")
    backend = get_backend(root)
    source = tmp_path / "x.txt"
    source.write_text("x")
    backend.commit(backend.stage_in(source).temp_key, "alias/x.txt")
    assert (root / "real" / "x.txt").read_text() == "x"


def test_saving_under_a_link_out_of_the_root_registers_nothing(ln_sqlite, tmp_path: Path) -> None:  # noqa: ANN001
    ln = ln_sqlite
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "data" / "link").symlink_to(outside)
    source = tmp_path / "table.csv"
    source.write_text("a\n1\n")
    with pytest.raises(StoragePermissionError, match="symbolic link"):
        ln.File(source, key="link/table.csv").save()
    assert os.listdir(outside) == [] and len(ln.File.select()) == 0


def _hostile_folder(folder: Path) -> None:
    (folder / "sub").mkdir(parents=True)
    (folder / "ok.txt").write_text("ok")
    (folder / "sub" / "also-ok.txt").write_text("also ok")
    os.mkfifo(folder / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "sock"))
    server.close()
    (folder / "broken").symlink_to(folder / "nowhere")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as fh:
        fh.write(b"latin-1 name")
    if os.geteuid() == 0:
        os.mknod(folder / "null", 0o600 | 0o020000, os.makedev(1, 3))  # a character device


@pytest.mark.parametrize("where", ["outside", "inside"])
def test_from_dir_skips_special_files_and_bad_names_with_a_warning(
    ln_sqlite,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    where: str,  # noqa: ANN001
) -> None:
    ln = ln_sqlite
    folder = tmp_path / "incoming" if where == "outside" else tmp_path / "data" / "incoming"
    _hostile_folder(folder)
    files = ln.File.from_dir(folder)  # a FIFO opened for reading would block forever here
    ln.save(files)
    keys = sorted(f.key for f in files)
    assert keys == ["incoming/ok.txt", "incoming/sub/also-ok.txt"]
    err = capsys.readouterr().err
    for name in ("pipe", "sock", "broken", r"caf\xe9.txt") + (("null",) if os.geteuid() == 0 else ()):
        assert f"skipped '{folder}/{name}':" in err, (name, err)
    assert "not UTF-8" in err and "not a regular file" in err and "broken symbolic link" in err


def test_a_single_file_with_a_latin1_name_gets_our_error(ln_sqlite, tmp_path: Path) -> None:  # noqa: ANN001
    ln = ln_sqlite
    inside = os.path.join(os.fsencode(tmp_path / "data"), b"caf\xe9.txt")
    with open(inside, "wb") as fh:
        fh.write(b"x")
    with pytest.raises(InvalidKeyError, match=r"not UTF-8") as caught:
        ln.File(os.fsdecode(inside))
    assert "caf\\xe9.txt" in str(caught.value)
    assert len(ln.File.select()) == 0
