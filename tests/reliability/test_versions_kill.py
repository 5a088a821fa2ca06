"""kill -9 in the middle of a new version of 50 keys, and of deleting a latest version.

The parent registers version 1 of 50 files (``from_dir(..., key="data")``), changes their
content and lets a child save version 2 of all of them in one ``ln.save``; the child is killed
while older versions are kept under their ids (``link``), while new bytes go to the keys
(``copy_over``), right before COMMIT, or right after it. Whatever the moment:

* no record is without its data, and ``verify()`` reports an interrupted save (not corrupt data);
* ``verify(fix=True)`` puts version 1's bytes back at every key the crash changed, so the
  previous latest is intact and correct, and leaves no stray copies;
* the same save run again makes version 2 of every key, and every version's bytes are intact.

The delete tests kill ``delete(storage=True)`` of a latest version, which brings version 1 back
to the key: the registry and storage must agree again after ``verify(fix=True)``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import lamin_flows as ln
from lamin_flows.verify import verify
from reliability.helpers import journals, kill_when_stopped, temp_files

CHILD = Path(__file__).with_name("_version_child.py")
N = 50


def _write(folder: Path, night: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for j in range(N):
        (folder / f"f{j:02d}.txt").write_text(f"night {night} file {j}\n" + "x" * j)
    return folder


def _child(mode: str, target: str, kill_at: str = "", stop_after: str = "") -> subprocess.Popen:
    env = {
        **os.environ,
        "LAMIN_INSTANCE": "versions",
        "LAMIN_VERBOSITY": "1",
        "LAMIN_TEST_KILL_AT": kill_at,
        "LAMIN_TEST_STOP_AFTER": stop_after,
        "PYTHONPATH": os.pathsep.join([str(CHILD.parent), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, str(CHILD), mode, target], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _run(child: subprocess.Popen, stop_after: str) -> None:
    if stop_after:
        kill_when_stopped(child)
    else:
        child.wait(timeout=120)
        assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()


def _contents(root: Path) -> dict[str, str]:
    return {f.key: Path(f.stage()).read_text() for f in ln.File.select(key__startswith="data/")}


MOMENTS = [
    pytest.param("sqlite", "", "link:25", id="sqlite-archiving"),
    pytest.param("sqlite", "", "copy_over:25", id="sqlite-overwriting"),
    pytest.param("sqlite", "before_commit", "", id="sqlite-before-commit"),
    pytest.param("sqlite", "after_commit", "", id="sqlite-after-commit"),
    pytest.param("postgresql", "", "copy_over:25", id="pg-overwriting", marks=pytest.mark.postgres),
    pytest.param("postgresql", "before_commit", "", id="pg-before-commit", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize(("database", "kill_at", "stop_after"), MOMENTS)
def test_kill_during_a_new_version(database, kill_at, stop_after, tmp_path, request):
    db = request.getfixturevalue("pg_db") if database == "postgresql" else None
    config = ln.setup.init(storage=tmp_path / "data-root", db=db, name="versions")
    root = Path(config.storage_root)
    source = _write(tmp_path / "source", 1)
    ln.save(ln.File.from_dir(source, key="data"))
    night1 = _contents(root)
    _write(source, 2)

    _run(_child("save", str(source), kill_at, stop_after), stop_after)

    committed = kill_at == "after_commit"
    report = verify(min_age=0)
    assert report.missing == [] and report.corrupt == [], report.summary()
    if not committed:
        assert len(report.interrupted) == 1, report.summary()
    fixed = verify(fix=True, min_age=0)
    assert fixed.ok and fixed.missing == [] and fixed.corrupt == [], fixed.summary()
    assert temp_files(root) == [] and journals(root) == []
    latest = _contents(root)
    if committed:
        assert all(text.startswith("night 2") for text in latest.values())
    else:  # rolled back: version 1 is the latest, its bytes at every key
        assert latest == night1
        assert {(root / key).read_text() for key in night1} == set(night1.values())
        assert len(ln.File.select(is_latest=False)) == 0

    ln.save(ln.File.from_dir(source, key="data"))  # the same save again
    for file in ln.File.select(key__startswith="data/"):
        versions = file.versions.all()
        assert [f.version for f in versions] == ["1", "2"], versions
        assert Path(versions[0].stage()).read_text() == night1[file.key]
        assert (root / file.key).read_text().startswith("night 2")
    after = verify(fix=True, min_age=0)
    assert after.ok and after.records == 2 * N and after.unregistered == [], after.summary()


@pytest.mark.parametrize(
    ("kill_at", "stop_after"),
    [
        pytest.param("", "link:1", id="keeping-the-deleted-bytes"),
        pytest.param("", "copy_over:1", id="restoring-version-1"),
        pytest.param("before_commit", "", id="before-commit"),
        pytest.param("after_commit", "", id="after-commit"),
    ],
)
def test_kill_while_deleting_a_latest_version(kill_at, stop_after, tmp_path):
    config = ln.setup.init(storage=tmp_path / "data-root", name="versions")
    root = Path(config.storage_root)
    (tmp_path / "a.txt").write_text("version 1")
    (tmp_path / "b.txt").write_text("version 2")
    v1 = ln.File(tmp_path / "a.txt", key="k.txt").save()
    v2 = ln.File(tmp_path / "b.txt", key="k.txt").save()

    _run(_child("delete", "k.txt", kill_at, stop_after), stop_after)

    report = verify(min_age=0)
    assert report.missing == [] and report.corrupt == [], report.summary()
    fixed = verify(fix=True, min_age=0)
    assert fixed.ok and fixed.unregistered == [], fixed.summary()
    assert temp_files(root) == [] and journals(root) == []
    latest = ln.File.select(key="k.txt").one()
    if kill_at == "after_commit":
        assert latest.id == v1.id and (root / "k.txt").read_text() == "version 1"
        assert len(ln.File.select(is_latest__in=[True, False])) == 1
    else:  # rolled back: version 2 is still the latest, at the key; version 1 under its id
        assert latest.id == v2.id and (root / "k.txt").read_text() == "version 2"
        assert Path(ln.File.select(id=v1.id).one().stage()).read_text() == "version 1"
    latest.delete(storage=True)  # and the delete, run again, completes
    if kill_at != "after_commit":
        assert ln.File.select(key="k.txt").one().id == v1.id and (root / "k.txt").read_text() == "version 1"
    assert verify(fix=True, min_age=0).ok
