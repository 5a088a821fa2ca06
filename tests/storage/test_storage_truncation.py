"""A file truncated while it is hashed or copied: a clear SourceChangedError naming it, never a
SIGBUS that kills the process (which is what hashing a memory-mapped file did).

Each case runs in a child process, so that a SIGBUS shows as the child's exit status instead of
killing pytest. The child truncates a 256 MiB file from another thread 5 ms after it starts
hashing (once the file is open); BLAKE3 needs well over 50 ms for 256 MiB here, so the
truncation lands in the middle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# runs in the child: truncate ``path`` 5 ms after this process opened it (hashing has begun)
TRUNCATE = textwrap.dedent(
    """
    import os, time

    def truncate_once_open(path):
        while not any(os.path.realpath(f"/proc/self/fd/{fd}") == path for fd in os.listdir("/proc/self/fd")):
            time.sleep(0.0005)
        time.sleep(0.005)
        os.truncate(path, 4 << 20)
    """
)

CHILD = TRUNCATE + textwrap.dedent(
    """
    import os, sys, threading, time
    from lamin_flows.errors import SourceChangedError
    from lamin_flows.storage import copy_with_hash, hash_file

    path, dst, what = sys.argv[1], sys.argv[2], sys.argv[3]

    threading.Thread(target=truncate_once_open, args=(path,)).start()
    try:
        if what == "hash":
            hash_file(path)
        else:
            copy_with_hash(path, dst)
    except SourceChangedError as error:
        print("CHANGED", error)
    else:
        print("NO ERROR")
    """
)


def _big_file(path: Path, size: int = 256 << 20) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for _ in range(size >> 20):
            fh.write(block)


@pytest.mark.parametrize("what", ["hash", "copy"])
def test_a_file_truncated_while_hashed_gives_an_error_naming_it(tmp_path: Path, what: str) -> None:
    src = tmp_path / "growing-dataset.bin"
    dst = tmp_path / "copy.bin"
    for _attempt in range(3):  # on a loaded machine the truncating thread can lose the race to a fast copy
        _big_file(src)
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(src), str(dst), what], capture_output=True, text=True, timeout=120
        )
        assert done.returncode != -signal.SIGBUS, "the process was killed by SIGBUS"
        assert done.returncode == 0, done.stderr
        if done.stdout.startswith("CHANGED"):
            break
        dst.unlink(missing_ok=True)  # the whole copy finished before the truncation: try again
    assert done.stdout.startswith("CHANGED"), done.stdout + done.stderr
    assert "growing-dataset.bin" in done.stdout and "changed while it was being" in done.stdout
    assert not dst.exists()  # no partial copy left behind


def test_a_small_file_that_grew_while_hashed_is_refused(tmp_path: Path) -> None:
    """The size/mtime check also covers the one-read path of small files (MD5)."""
    from lamin_flows.errors import SourceChangedError
    from lamin_flows.storage.hashing import check_unchanged

    path = tmp_path / "log.txt"
    path.write_bytes(b"first line\n")
    before = os.stat(path)
    with open(path, "ab") as fh:
        fh.write(b"second line\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    with pytest.raises(SourceChangedError, match="log.txt"):
        check_unchanged(path, before, before.st_size, os.stat(path), "hashed")


def test_registering_in_place_a_file_being_truncated_is_refused(ln_sqlite, tmp_path: Path) -> None:  # noqa: ANN001
    """``ln.File(path)`` of a file inside storage hashes it in place: same guarantee, no record."""
    src = tmp_path / "data" / "in-place.bin"
    _big_file(src)
    script = TRUNCATE + textwrap.dedent(
        f"""
        import os, threading, time
        import lamin_flows as ln
        from lamin_flows.errors import SourceChangedError
        ln.setup.load("test")
        len(ln.File.select())  # the registry is loaded before the clock starts
        threading.Thread(target=truncate_once_open, args=({str(src)!r},)).start()
        try:
            ln.File({str(src)!r}).save()
        except SourceChangedError as error:
            print("CHANGED", error)
        print("RECORDS", len(ln.File.select()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=os.environ.copy()
    )
    assert done.returncode == 0, done.stderr
    assert "CHANGED" in done.stdout and "in-place.bin" in done.stdout, done.stdout + done.stderr
    assert "RECORDS 0" in done.stdout
