"""What only a local folder promises: commits are renames on one filesystem, files follow the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lamin_flows.errors import KeyConflictError
from lamin_flows.storage import get_backend


def test_commit_renames_without_copying(tmp_path: Path) -> None:
    backend = get_backend(tmp_path / "store")
    src = tmp_path / "src.txt"
    src.write_bytes(b"x" * 1000)
    staged = backend.stage_in(src)
    temp = backend.path(staged.temp_key)
    assert temp.stat().st_dev == Path(backend.root).stat().st_dev
    inode = temp.stat().st_ino
    backend.commit(staged.temp_key, "a/b/c.txt")
    assert backend.path("a/b/c.txt").stat().st_ino == inode


def test_overwrite_is_a_rename_and_the_backup_is_the_old_file(tmp_path: Path) -> None:
    backend = get_backend(tmp_path / "store")
    (tmp_path / "old.txt").write_text("old")
    (tmp_path / "new.txt").write_text("new")
    backend.commit(backend.stage_in(tmp_path / "old.txt").temp_key, "k.txt")
    old_inode = backend.path("k.txt").stat().st_ino
    staged = backend.stage_in(tmp_path / "new.txt")
    new_inode = backend.path(staged.temp_key).stat().st_ino
    backup = backend.commit(staged.temp_key, "k.txt", overwrite=True)
    assert backup is not None
    assert backend.path("k.txt").stat().st_ino == new_inode
    assert backend.path(backup).stat().st_ino == old_inode


def test_files_are_created_with_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        backend = get_backend(tmp_path / "store")
        (tmp_path / "src.txt").write_text("x")
        os.chmod(tmp_path / "src.txt", 0o600)  # the source's own mode does not carry over
        backend.commit(backend.stage_in(tmp_path / "src.txt").temp_key, "d/x.txt")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(backend.path("d/x.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE(backend.path("d/x.txt").parent.stat().st_mode) == 0o750


def test_a_key_whose_folder_is_a_file_conflicts(tmp_path: Path) -> None:
    backend = get_backend(tmp_path / "store")
    (tmp_path / "x.txt").write_text("x")
    backend.commit(backend.stage_in(tmp_path / "x.txt").temp_key, "a.txt")
    staged = backend.stage_in(tmp_path / "x.txt")
    with pytest.raises(KeyConflictError, match="already a file"):
        backend.commit(staged.temp_key, "a.txt/b.txt")
    assert backend.exists(staged.temp_key)


def test_the_temporary_folder_is_made_again_if_it_was_removed(tmp_path: Path) -> None:
    backend = get_backend(tmp_path / "store")
    src = tmp_path / "src.txt"
    src.write_bytes(b"data")
    first = backend.stage_in(src)
    backend.discard(first.temp_key)
    tmp_dir = Path(backend.root) / ".lamindb" / "_tmp"
    tmp_dir.rmdir()  # e.g. someone cleaned up by hand between two saves
    second = backend.stage_in(src)
    assert backend.path(second.temp_key).read_bytes() == b"data"


def test_commit_makes_missing_folders_and_names_a_missing_staged_file(tmp_path: Path) -> None:
    from lamin_flows.errors import StorageNotFoundError

    backend = get_backend(tmp_path / "store")
    src = tmp_path / "src.txt"
    src.write_bytes(b"data")
    staged = backend.stage_in(src)
    backend.commit(staged.temp_key, "deep/er/still/x.txt", keep_temp=True)
    assert backend.path("deep/er/still/x.txt").read_bytes() == b"data"
    backend.discard(staged.temp_key)
    with pytest.raises(StorageNotFoundError, match=staged.temp_key.rsplit("/", 1)[1]):
        backend.commit(staged.temp_key, "deep/other.txt")
    assert not backend.exists("deep/other.txt")


def test_small_local_copies_stay_in_the_calling_thread(tmp_path: Path) -> None:
    """Threads only take turns with the GIL for small local files: 1.7 s instead of 0.5 s for 10,000."""
    import threading

    backend = get_backend(tmp_path / "store")
    sources = []
    for i in range(200):
        path = tmp_path / f"f{i}.txt"
        path.write_bytes(os.urandom(512))
        sources.append(path)
    threads = set()
    real = backend._stage_in_one_of_many  # what stage_in_many runs per file

    def stage_in(src):  # type: ignore[no-untyped-def]
        threads.add(threading.get_ident())
        return real(src)

    backend._stage_in_one_of_many = stage_in  # type: ignore[method-assign]
    staged = backend.stage_in_many(sources)
    assert len(staged) == 200
    assert threads == {threading.get_ident()}


@pytest.mark.parametrize("keep_temp", [True, False])
def test_commit_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_temp: bool) -> None:
    """Filesystems without hard links (FAT, some SMB/FUSE mounts): copy or move, still no clobbering."""
    import errno

    backend = get_backend(tmp_path / "store")
    src = tmp_path / "src.txt"
    src.write_bytes(b"data")
    staged = backend.stage_in(src)

    def no_links(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    backend.commit(staged.temp_key, "new/folder/x.txt", keep_temp=keep_temp)
    assert backend.path("new/folder/x.txt").read_bytes() == b"data"
    assert backend.path(staged.temp_key).exists() == keep_temp
    other = backend.stage_in(src)
    with pytest.raises(KeyConflictError):
        backend.commit(other.temp_key, "new/folder/x.txt")
