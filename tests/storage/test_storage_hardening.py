"""Writes into a local storage are checked, and their failures are ours: a full disk, a read-only
or forbidden folder name the user's file, leave nothing behind, and a short write never passes
for a complete copy.

The disks are real: small tmpfs mounts (``mount`` needs root; skipped otherwise), remounted
read-only where asked; a forbidden folder is tried by a child process that dropped root.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamin_flows.errors import StorageFullError, StoragePermissionError
from lamin_flows.storage import copy_with_hash, get_backend


def _all_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_full_disk_mid_copy_names_the_users_file_and_leaves_nothing(small_disk, tmp_path: Path) -> None:  # noqa: ANN001
    disk = small_disk("size=2m")
    backend = get_backend(disk)
    big = tmp_path / "measurements-2026.bin"
    big.write_bytes(os.urandom(3_000_000))
    with pytest.raises(StorageFullError) as caught:
        backend.stage_in(big)
    message = str(caught.value)
    assert "measurements-2026.bin" in message and "disk is full" in message and "_tmp" not in message
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value.__cause__, OSError)
    assert _all_files(disk) == []  # no temporary file, no final key


def test_a_full_disk_in_a_bulk_copy_leaves_nothing(small_disk, tmp_path: Path) -> None:  # noqa: ANN001
    disk = small_disk("size=1m")
    backend = get_backend(disk)
    sources = []
    for i in range(8):  # 1.6 MB for a 1 MB disk
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(os.urandom(200_000))
        sources.append(path)
    with pytest.raises(StorageFullError, match=r"part\d\.bin"):
        backend.stage_in_many(sources)
    assert _all_files(disk) == []


def test_saving_to_a_full_disk_registers_nothing(small_disk, tmp_path: Path) -> None:  # noqa: ANN001
    import lamin_flows as ln

    disk = small_disk("size=2m")
    ln.setup.init(storage=disk, name="full")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3_000_000))
    with pytest.raises(StorageFullError, match="big.bin"):
        ln.File(big, key="results/big.bin").save()
    assert len(ln.File.select()) == 0
    assert [f for f in _all_files(disk) if not f.startswith(".lamindb/_save")] == [".lamindb/_owner.json"]


def test_a_read_only_storage_names_the_users_file(small_disk, tmp_path: Path) -> None:  # noqa: ANN001
    disk = small_disk("size=4m")
    (disk / ".lamindb" / "_tmp").mkdir(parents=True)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    source = tmp_path / "table.csv"
    source.write_text("a,b\n1,2\n")
    with pytest.raises(StoragePermissionError) as caught:
        get_backend(disk).stage_in(source)
    assert "table.csv" in str(caught.value) and "read-only" in str(caught.value)
    assert caught.value.errno == errno.EROFS
    assert _all_files(disk) == []


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder that other users can enter (pytest's tmp_path is root's only)."""
    folder = Path(tempfile.mkdtemp(prefix="lamin-shared-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_forbidden_storage_folder_names_the_users_file(shared: Path) -> None:
    """A user without write access to the storage folder (root would pass: a child drops it)."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to run the child as another user")
    (shared / "store").mkdir()
    source = shared / "notes.txt"
    source.write_text("hello\n")
    os.chmod(source, 0o644)
    script = textwrap.dedent(
        f"""
        import os
        from lamin_flows.errors import StoragePermissionError
        from lamin_flows.storage import get_backend
        backend = get_backend({str(shared / "store")!r})  # imports done as root: the venv may be root's only
        os.setgid(65534); os.setuid(65534)
        try:
            backend.stage_in({str(source)!r})
        except StoragePermissionError as error:
            print("DENIED", error.errno, error)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "LAMIN_HOME"} | {"LAMIN_HOME": str(shared / "home")}
    (shared / "home").mkdir()
    os.chmod(shared / "home", 0o777)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.startswith(f"DENIED {errno.EACCES}"), done.stdout + done.stderr
    assert "notes.txt" in done.stdout and "_tmp" not in done.stdout
    assert _all_files(shared / "store") == []


def test_a_short_write_is_never_taken_for_a_complete_copy(tmp_path: Path) -> None:
    """A write that writes fewer bytes than asked (here: at the file size limit) is continued, and
    the continuation's error surfaces; the copy is removed. Before, a short last write passed."""
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(os.urandom(2 * 1024 * 1024))  # two 1 MiB chunks; the second write is cut short
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1536 * 1024, hard))
    try:
        with pytest.raises(OSError) as caught:
            copy_with_hash(src, dst)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert caught.value.errno == errno.EFBIG
    assert not dst.exists()


def test_a_durable_copy_is_complete_and_identical(tmp_path: Path, small_threshold: int) -> None:
    """The durable large-file path (write-back started per 64 MiB, then fdatasync) copies exactly."""
    from lamin_flows.storage import hash_file

    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(os.urandom(70 * 1024 * 1024))  # more than one write-back piece
    result = copy_with_hash(src, dst, durable=True)
    assert result == hash_file(src) == hash_file(dst) and result.hash_type == "blake3"
    assert dst.read_bytes() == src.read_bytes()


def test_make_durable_after_commits(tmp_path: Path) -> None:
    """The call a save makes before its database commit: committed files stay as they are."""
    backend = get_backend(tmp_path / "store")
    sources = []
    for i in range(20):
        path = tmp_path / f"f{i}.txt"
        path.write_text(f"file {i}")
        sources.append(path)
    keys = []
    for i, staged in enumerate(backend.stage_in_many(sources)):
        backend.commit(staged.temp_key, f"batch/f{i}.txt")
        keys.append(f"batch/f{i}.txt")
    backend.make_durable(keys)
    backend.make_durable([])  # nothing to do
    assert [backend.open(k, "rb").read() for k in keys] == [f"file {i}".encode() for i in range(20)]


def test_a_full_disk_while_moving_into_place_names_the_key(small_disk, tmp_path: Path) -> None:  # noqa: ANN001
    """No inode left for the key's new folder: our error, naming the key; the staged copy stays."""
    disk = small_disk("size=4m,nr_inodes=64")
    backend = get_backend(disk)
    source = tmp_path / "x.txt"
    source.write_text("x")
    staged = backend.stage_in(source)
    fillers = disk / "fillers"
    fillers.mkdir()
    with pytest.raises(OSError):
        for n in range(1000):  # use up every inode
            (fillers / str(n)).touch()
    with pytest.raises(StorageFullError, match="results/deep/x.txt") as caught:
        backend.commit(staged.temp_key, "results/deep/x.txt")
    assert caught.value.errno == errno.ENOSPC
    assert backend.exists(staged.temp_key) and not (disk / "results" / "deep" / "x.txt").exists()
