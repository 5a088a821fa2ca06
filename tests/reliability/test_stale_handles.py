"""Stale handles: a File loaded before another process deleted it, or saved a new File under its
key, must not become a version of (or overwrite) that other File's data, and an edit of a deleted
record must not vanish silently. Real second process, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lamin_flows.errors import StaleRecordError
from lamin_flows.verify import verify


def _other_process(code: str) -> None:
    """Run ``code`` (with ``ln`` imported) in another Python process on the same instance."""
    env = {**os.environ, "LAMIN_INSTANCE": "test", "LAMIN_VERBOSITY": "1"}
    done = subprocess.run(
        [sys.executable, "-c", "import lamin_flows as ln\n" + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def stale(ln, tmp_path: Path):  # noqa: ANN001, ANN201
    """A saved File at 'k/a.txt' that another process deleted and saved anew: (stale handle, new File)."""
    mine = ln.File(_write(tmp_path / "a.txt", "alice's first"), key="k/a.txt").save()
    other = _write(tmp_path / "b.txt", "bob's new file")
    _other_process(
        f"ln.File.select(id={mine.id!r}).one().delete(storage=True)\nln.File({str(other)!r}, key='k/a.txt').save()\n"
    )
    return mine, ln.File.select(key="k/a.txt").one()


def test_replace_through_a_deleted_record_refuses_and_keeps_the_new_file(ln, stale, tmp_path: Path) -> None:
    mine, theirs = stale
    with pytest.raises(StaleRecordError, match=mine.id) as info:
        mine.replace(_write(tmp_path / "c.txt", "alice's second"))
    assert theirs.id in str(info.value) and "Load the latest version" in str(info.value)
    rows = ln.File.select(key="k/a.txt").all()
    assert [(r.id, r.is_latest) for r in rows] == [(theirs.id, True)]  # no version was added to Bob's line
    assert Path(rows[0].path()).read_text() == "bob's new file"
    assert verify().ok


def test_revises_a_deleted_record_refuses(ln, stale, tmp_path: Path) -> None:
    mine, theirs = stale
    new = ln.File(_write(tmp_path / "c.txt", "alice's second"), revises=mine)
    with pytest.raises(StaleRecordError, match=mine.id):
        new.save()
    assert Path(ln.File.select(key="k/a.txt").one().path()).read_text() == "bob's new file"


def test_replace_of_a_deleted_record_whose_key_is_free_refuses(ln, tmp_path: Path) -> None:
    mine = ln.File(_write(tmp_path / "a.txt", "first"), key="k/a.txt").save()
    _other_process(f"ln.File.select(id={mine.id!r}).one().delete(storage=True)")
    with pytest.raises(StaleRecordError, match="no File holds 'k/a.txt'"):
        mine.replace(_write(tmp_path / "c.txt", "second"))
    assert ln.File.select(key="k/a.txt").all() == []
    assert not (tmp_path / "data" / "k" / "a.txt").exists()


def test_replace_through_an_older_version_refuses(ln, tmp_path: Path) -> None:
    first = ln.File(_write(tmp_path / "a.txt", "v1"), key="k/a.txt").save()
    old_handle = ln.File.select(id=first.id).one()
    _other_process(f"ln.File.select(id={first.id!r}).one().replace({str(_write(tmp_path / 'b.txt', 'v2'))!r})")
    with pytest.raises(StaleRecordError, match="version 2"):
        old_handle.replace(_write(tmp_path / "c.txt", "v3 from a stale handle"))
    latest = ln.File.select(key="k/a.txt", is_latest=True).one()
    assert latest.version == "2" and Path(latest.path()).read_text() == "v2"
    # through a fresh handle it works
    latest.replace(tmp_path / "c.txt")
    assert ln.File.select(key="k/a.txt", is_latest=True).one().version == "3"


def test_saving_an_edit_of_a_deleted_record_refuses(ln, tmp_path: Path) -> None:
    mine = ln.File(_write(tmp_path / "a.txt", "first"), key="k/a.txt").save()
    _other_process(f"ln.File.select(id={mine.id!r}).one().delete(storage=False)")
    mine.description = "an edit nobody would see"
    with pytest.raises(StaleRecordError, match=f"File {mine.id} was deleted"):
        mine.save()
    assert ln.File.select(id=mine.id).all() == []


def test_saving_an_edit_of_a_live_record_still_works(ln, tmp_path: Path) -> None:
    mine = ln.File(_write(tmp_path / "a.txt", "first"), key="k/a.txt").save()
    mine.description = "kept"
    mine.save()
    assert ln.File.select(id=mine.id).one().description == "kept"
