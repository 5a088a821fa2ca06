"""What lamin_flows writes is private, and deleting never takes stored data along unasked."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from _cli import run_cli  # tests/_cli.py

import lamin_flows as ln
from lamin_flows.errors import ValidationError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_settings_and_registry_files_are_owner_only(tmp_path, lamin_home, umask):
    old = os.umask(umask)  # even with a permissive umask
    try:
        config = ln.setup.init(storage=tmp_path / "data", name="private")
        ln.Tag(name="x").save()  # the WAL and shared-memory files exist once something is written
    finally:
        os.umask(old)
    instances = lamin_home / "instances"
    assert _mode(instances) == 0o700
    for path in [instances / "private.json", lamin_home / "current-instance", config.sqlite_path]:
        assert _mode(path) == 0o600, path
    for suffix in ("-wal", "-shm"):
        side = Path(str(config.sqlite_path) + suffix)
        assert not side.exists() or _mode(side) == 0o600, side


def test_settings_file_written_over_a_planted_temporary_file_stays_private(tmp_path, lamin_home):
    instances = lamin_home / "instances"
    instances.mkdir(parents=True)
    planted = instances / "private.json.tmp"
    planted.write_text("{}")
    planted.chmod(0o644)
    ln.setup.init(storage=tmp_path / "data", name="private")
    assert _mode(instances / "private.json") == 0o600


def _files_in(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_deleting_an_instance_asks_and_keeps_the_data(tmp_path, lamin_home):
    ln.setup.init(storage=tmp_path / "data", name="keep")
    (tmp_path / "a.txt").write_text("a")
    ln.File(tmp_path / "a.txt", key="a.txt").save()
    before = _files_in(tmp_path / "data")
    with pytest.raises(ValidationError, match="force"):  # not a terminal: refuses instead of asking
        ln.setup.delete("keep")
    refused = run_cli("delete", home=lamin_home)  # no name, no terminal: refused (a name alone confirms)
    assert refused.returncode == 1 and "lamin delete NAME" in refused.stderr
    assert (lamin_home / "instances" / "keep.json").exists()
    done = run_cli("delete", "keep", "--force", home=lamin_home)
    assert done.returncode == 0 and "kept" in done.stderr
    assert not (lamin_home / "instances" / "keep.json").exists()
    assert before == [".lamindb/_owner.json", "a.txt"]
    assert _files_in(tmp_path / "data") == ["a.txt"]  # the stored data is all still there; the owner marker released


def test_deleting_a_storage_with_files_needs_force_and_keeps_the_data(ln, tmp_path):
    old_root = Path(str(ln.settings.storage))
    (tmp_path / "a.txt").write_text("a")
    ln.File(tmp_path / "a.txt", key="a.txt").save()
    old = ln.Storage.select(root=str(old_root)).one()
    with pytest.raises(ValidationError, match="default storage"):
        old.delete(force=True)
    ln.settings.storage = tmp_path / "new"
    with pytest.raises(ValidationError, match="still has 1 File"):
        old.delete()
    assert len(ln.File.select()) == 1 and len(ln.Storage.select()) == 2
    empty = ln.Storage(root=str(tmp_path / "empty"), type="local").save()
    empty.delete()  # nothing registered in it: no question
    old.delete(force=True)
    assert len(ln.File.select()) == 0 and [s.root for s in ln.Storage.select()] == [str((tmp_path / "new").resolve())]
    assert (old_root / "a.txt").read_text() == "a"  # records gone, data kept
