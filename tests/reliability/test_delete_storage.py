"""``file.delete(storage=True)``: the record and its data go together, or both stay.

Read-only storage refuses before anything changed (our StoragePermissionError, record and data
kept); a delete killed before its COMMIT is rolled back by ``lamin verify --fix`` (the data back
at its key); one killed after its COMMIT leaves a copy that verify names as that delete's
leftover (not as an unregistered file) and ``--fix`` removes. SQLite and PostgreSQL, real kills.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lamin_flows.errors import StoragePermissionError
from lamin_flows.verify import verify
from reliability.helpers import journals, kill_when_stopped, temp_files

# Freezes itself (SIGSTOP) at one moment of the delete: "after:delete" (the data deleted, COMMIT not
# sent) or "before:discard" (committed, the copy kept while deleting not yet removed).
_DELETE_CHILD = """
import os, signal, sys
import lamin_flows as ln
from lamin_flows.storage.cloud import FsspecBackend
from lamin_flows.storage.local import LocalBackend
when, method = sys.argv[2].split(":")
Backend = FsspecBackend if sys.argv[3] == "cloud" else LocalBackend
original = getattr(Backend, method)
def frozen(self, *args, **kwargs):
    if when == "before":
        os.kill(os.getpid(), signal.SIGSTOP)
    result = original(self, *args, **kwargs)
    if when == "after":
        os.kill(os.getpid(), signal.SIGSTOP)
    return result
setattr(Backend, method, frozen)
ln.File.select(id=sys.argv[1]).one().delete(storage=True)
"""


def _saved(ln, tmp_path: Path, text: str = "precious bytes"):  # noqa: ANN001, ANN202
    source = tmp_path / "src.txt"
    source.write_text(text)
    return ln.File(source, key="results/summary.txt").save()


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _kill_during_delete(file_id: str, moment: str, backend: str = "local") -> None:
    env = {**os.environ, "LAMIN_INSTANCE": "test", "LAMIN_VERBOSITY": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", _DELETE_CHILD, file_id, moment, backend],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    kill_when_stopped(child)


def test_a_delete_leaves_no_journal_or_copy(ln, tmp_path: Path) -> None:
    file = _saved(ln, tmp_path)
    file.delete(storage=True)
    root = tmp_path / "data"
    assert not (root / "results" / "summary.txt").exists()
    assert journals(root) == [] and temp_files(root) == []
    assert ln.File.select().count() == 0


def test_read_only_storage_keeps_record_and_data(tmp_path: Path, db_url, small_disk) -> None:
    import lamin_flows as ln

    disk = small_disk("size=4m")
    ln.setup.init(storage=disk / "data", db=db_url, name="test")
    file = _saved(ln, tmp_path)
    (tmp_path / "v.txt").write_text("version 1")
    versioned = ln.File(tmp_path / "v.txt", key="lines/v.txt").save()
    versioned.replace(_write_text(tmp_path / "v2.txt", "version 2"))
    done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only: {done.stderr.strip()}")
    try:
        with pytest.raises(StoragePermissionError, match="Nothing was deleted") as info:
            file.delete(storage=True)
        assert "results/summary.txt" in str(info.value) and "storage=False" in str(info.value)
        assert ln.File.select(id=file.id).one().key == "results/summary.txt"  # the record stays
        assert (disk / "data" / "results" / "summary.txt").read_text() == "precious bytes"  # and its data
        with pytest.raises(StoragePermissionError, match="Nothing was deleted"):  # the latest of two versions
            versioned.delete(storage=True)
        latest = ln.File.select(key="lines/v.txt", is_latest=True).one()
        assert latest.version == "2" and Path(latest.path()).read_text() == "version 2"
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    ln.File.select(id=file.id).one().delete(storage=True)  # writable again: it works
    assert not (disk / "data" / "results" / "summary.txt").exists()


def test_a_delete_killed_before_commit_is_rolled_back(ln, tmp_path: Path) -> None:
    file = _saved(ln, tmp_path)
    root = tmp_path / "data"
    _kill_during_delete(file.id, "after:delete")
    assert ln.File.select(id=file.id).one()  # never committed: the record is there
    assert not (root / "results" / "summary.txt").exists()  # but its data was already gone from the key
    report = verify(min_age=0)
    assert any(f.kind == "interrupted" and "never committed" in f.detail for f in report.findings), report.findings
    fixed = verify(fix=True, min_age=0)
    assert any("rolled back a delete" in f.detail for f in fixed.fixed), fixed.fixed
    assert (root / "results" / "summary.txt").read_text() == "precious bytes"
    assert journals(root) == [] and temp_files(root) == []
    assert verify(min_age=0).ok
    ln.File.select(id=file.id).one().delete(storage=True)
    assert ln.File.select().count() == 0 and not (root / "results" / "summary.txt").exists()


def test_a_delete_killed_after_commit_leaves_a_named_leftover_that_fix_removes(ln, tmp_path: Path) -> None:
    file = _saved(ln, tmp_path)
    root = tmp_path / "data"
    _kill_during_delete(file.id, "before:discard")
    assert ln.File.select(id=file.id).all() == []  # committed
    assert len(temp_files(root)) == 1 and len(journals(root)) == 1
    report = verify(min_age=0)
    kinds = [f.kind for f in report.findings]
    assert "unregistered" not in kinds and "temporary" not in kinds, report.findings
    leftover = [f for f in report.findings if f.kind == "interrupted"]
    assert len(leftover) == 1 and file.id in leftover[0].detail and "--fix removes it" in leftover[0].detail
    fixed = verify(fix=True, min_age=0)
    assert any(file.id in f.detail and "removed the copy" in f.detail for f in fixed.fixed), fixed.fixed
    assert temp_files(root) == [] and journals(root) == []
    assert verify(min_age=0).ok


def _s3_keys(endpoint: str, bucket: str) -> list[str]:
    """The bucket's keys but the storage root's owner marker (``.lamindb/_owner.json``)."""
    import _s3  # tests/_s3.py

    listing = _s3.s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []) if not o["Key"].endswith(".lamindb/_owner.json"))


def test_on_s3_a_delete_leaves_nothing_and_a_killed_one_is_settled(s3_bucket, s3_endpoint, db_url, tmp_path) -> None:
    import lamin_flows as ln

    ln.setup.init(storage=f"s3://{s3_bucket}/p", db=db_url, name="test")
    gone = _saved(ln, tmp_path, "deleted normally")
    gone.delete(storage=True)
    assert _s3_keys(s3_endpoint, s3_bucket) == []  # no copy, no journal
    file = _saved(ln, tmp_path, "deleted by a killed process")
    _kill_during_delete(file.id, "after:delete", "cloud")  # the object deleted, COMMIT not sent
    assert ln.File.select(id=file.id).one() and "p/results/summary.txt" not in _s3_keys(s3_endpoint, s3_bucket)
    fixed = verify(fix=True, min_age=0)
    assert any("rolled back a delete" in f.detail for f in fixed.fixed), fixed.fixed
    assert _s3_keys(s3_endpoint, s3_bucket) == ["p/results/summary.txt"]
    assert verify(min_age=0).ok


# The same refusal for a folder its user may not change (EACCES): the tests run as root, which
# ignores permission bits, so the child runs without CAP_DAC_OVERRIDE (util-linux setpriv).
_FORBIDDEN_CHILD = """
import sys
import lamin_flows as ln
from lamin_flows.errors import StoragePermissionError
try:
    ln.File.select(id=sys.argv[1]).one().delete(storage=True)
    print("deleted")
except StoragePermissionError as error:
    print("StoragePermissionError:", error)
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run a child without permission overrides",
)
def test_a_forbidden_storage_folder_keeps_record_and_data(ln, tmp_path: Path) -> None:
    file = _saved(ln, tmp_path)
    folder = Path(str(ln.settings.storage)) / "results"
    folder.chmod(0o555)  # its owner may read it, not change it
    try:
        out = subprocess.run(
            [
                "setpriv",
                "--bounding-set",
                "-dac_override,-dac_read_search",
                "--",
                sys.executable,
                "-c",
                _FORBIDDEN_CHILD,
                file.id,
            ],
            env={**os.environ, "LAMIN_INSTANCE": "test", "LAMIN_VERBOSITY": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        folder.chmod(0o755)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("StoragePermissionError:"), out.stdout + out.stderr
    assert "results/summary.txt" in out.stdout and "Nothing was deleted" in out.stdout
    assert ln.File.select(id=file.id).one().key == "results/summary.txt"  # the record stays
    assert (folder / "summary.txt").read_text() == "precious bytes"  # and its data
    assert verify(min_age=0).ok  # no journal or copy left behind
