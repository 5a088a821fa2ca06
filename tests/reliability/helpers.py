"""Helpers of the reliability tests: source folders of small files, counting what is where."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

N_DIRS = 20
FILES_PER_DIR = 100
N_FILES = N_DIRS * FILES_PER_DIR


SAVE_CHILD = Path(__file__).with_name("_save_child.py")


def start_save_child(source: Path, instance: str, kill_at: str, **env: str) -> subprocess.Popen:
    """Start ``_save_child.py``: it saves every file of ``source`` into ``instance`` and dies (SIGKILL)
    at ``kill_at``; ``env`` adds variables (``LAMIN_TEST_STOP_AFTER``, ``PGAPPNAME``, ...)."""
    variables = {**os.environ, "LAMIN_INSTANCE": instance, "LAMIN_VERBOSITY": "1", "LAMIN_TEST_KILL_AT": kill_at, **env}
    return subprocess.Popen(
        [sys.executable, str(SAVE_CHILD), str(source)], env=variables, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def make_source(folder: Path, n_dirs: int = N_DIRS, per_dir: int = FILES_PER_DIR, tag: str = "") -> Path:
    """``n_dirs`` folders of ``per_dir`` small files, each with its own content."""
    for d in range(n_dirs):
        sub = folder / f"d{d:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        for j in range(per_dir):
            (sub / f"f{j:03d}.txt").write_text(f"{tag}file {d}/{j}\n" + "x" * (j % 50) * 4)
    return folder


def count_files(folder: Path) -> int:
    """Files under ``folder`` (0 if it does not exist), cheap enough to poll."""
    total = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                total += count_files(Path(entry.path)) if entry.is_dir(follow_symlinks=False) else 1
    except FileNotFoundError:
        pass
    return total


def temp_files(root: Path) -> list[str]:
    """Names in the storage's temporary area, save journals excluded."""
    folder = root / ".lamindb" / "_tmp"
    names = os.listdir(folder) if folder.exists() else []
    return [n for n in names if not n.endswith(".lamin-journal")]


def journals(root: Path) -> list[str]:
    folder = root / ".lamindb" / "_tmp"
    names = os.listdir(folder) if folder.exists() else []
    return [n for n in names if n.endswith(".lamin-journal")]


def count_rows(url: str, table: str = "file") -> int:
    """Rows in a table, read with a fresh connection (what another process would see)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() or 0)
    finally:
        engine.dispose()


def kill_when_stopped(child: subprocess.Popen, timeout: float = 120) -> None:
    """SIGKILL a child once it has frozen itself (SIGSTOP) at the chosen moment (see _save_child.stop_after)."""
    import pytest

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(child.pid, os.WUNTRACED | os.WNOHANG)
        if pid and os.WIFSTOPPED(status):
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            return
        if pid:
            pytest.fail(f"the child ended before the kill: status {status}\n{child.stderr.read().decode()}")
        time.sleep(0.005)
    child.kill()
    pytest.fail(f"the child did not reach the chosen moment within {timeout} s")
