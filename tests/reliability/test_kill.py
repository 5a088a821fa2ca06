"""kill -9 in the middle of saving 2,000 files, at 20 moments chosen by progress (and 4 more on PostgreSQL).

Each test starts a child process that runs ``files = ln.File.from_dir(source); ln.save(files)``
on a fresh instance and kills it (SIGKILL, no cleanup of any kind) at a given amount of progress.
For the copy and move phases the child freezes itself (SIGSTOP) right after the chosen file, and
this process then sends the SIGKILL, so the moment is exact however loaded the machine is:

* ``copy``: while the files are copied into the temporary area (``.lamindb/_tmp``), at 10%..80%;
* ``move``: while ``ln.save`` moves them into their final keys, inside the transaction, at 10%..80%;
* ``before_commit``: every row written and every file in place, COMMIT not sent (a hook in the child);
* ``after_commit``: committed, staged copies and save journal not yet removed (a hook in the child).

After each kill the test checks that the kill landed mid-save (some but not all of the phase
done), that ``verify()`` finds no record without data, then runs the same save again and checks
that it completes with exactly one record per file, and that ``verify(fix=True)`` leaves a clean
storage. Every other test rolls the crashed save back with ``verify(fix=True)`` before the rerun;
the others rerun straight away, which must converge on the data the crash left in place.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

import lamin_flows as ln
from lamin_flows.verify import verify
from reliability.helpers import (
    N_FILES,
    count_files,
    count_rows,
    journals,
    kill_when_stopped,
    start_save_child,
    temp_files,
)

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
MOMENTS = (
    [("copy", f) for f in FRACTIONS]
    + [("move", f) for f in FRACTIONS]
    + [("before_commit", 1.0), ("before_commit", 1.0), ("after_commit", 1.0), ("after_commit", 1.0)]
)
assert len(MOMENTS) == 20
# the same on PostgreSQL, at fewer moments: the registry's side of a kill is the server's rollback
PG_MOMENTS = [("move", 0.3), ("move", 0.7), ("before_commit", 1.0), ("after_commit", 1.0)]
CASES = [pytest.param(i, "sqlite", p, f, id=f"{i:02d}-{p}-{f:.0%}") for i, (p, f) in enumerate(MOMENTS)] + [
    pytest.param(20 + i, "postgresql", p, f, id=f"pg-{p}-{f:.0%}", marks=pytest.mark.postgres)
    for i, (p, f) in enumerate(PG_MOMENTS)
]


def _start_child(source: Path, moment: str, stop_after: str = "") -> subprocess.Popen:
    return start_save_child(source, "killed", moment, LAMIN_TEST_STOP_AFTER=stop_after)


def _rerun(source: Path) -> None:
    files = ln.File.from_dir(source)
    ln.save(files)


@pytest.mark.parametrize(("index", "database", "phase", "fraction"), CASES)
def test_kill_during_save(index, database, phase, fraction, source, tmp_path, request):
    db = request.getfixturevalue("pg_db") if database == "postgresql" else None
    config = ln.setup.init(storage=tmp_path / "data", db=db, name="killed")
    root = Path(config.storage_root)
    final = root / source.name
    url = config.url

    threshold = int(N_FILES * fraction)
    if phase in ("copy", "move"):
        # freeze at the threshold's copy (stage_in) or move (commit), then kill -9 from here
        method_name = "_stage_in_one_of_many" if phase == "copy" else "commit"  # per file of stage_in_many
        child = _start_child(source, "", f"{method_name}:{threshold}")
        kill_when_stopped(child)
    else:
        child = _start_child(source, phase)
        child.wait(timeout=120)
        assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()

    # the kill landed mid-save: some but not all of the phase was done
    staged, moved, rows = len(temp_files(root)), count_files(final), count_rows(url)
    if phase == "copy":
        assert 0 < staged < N_FILES and moved == 0 and rows == 0, (staged, moved, rows)
    elif phase == "move":
        assert staged == N_FILES and 0 < moved < N_FILES and rows == 0, (staged, moved, rows)
        assert len(journals(root)) == 1
    elif phase == "before_commit":
        assert moved == N_FILES and rows == 0 and len(journals(root)) == 1, (staged, moved, rows)
    else:
        assert moved == N_FILES and rows == N_FILES and len(journals(root)) == 1 and staged == N_FILES

    # no record without its data, whatever the moment
    report = verify(min_age=0)
    assert report.missing == [] and report.corrupt == [], report.summary()
    assert report.records == rows
    if phase in ("move", "before_commit"):
        assert len(report.interrupted) == 1, report.summary()

    if index % 2 == 1:  # roll the crashed save back first; otherwise rerun over what it left
        fixed = verify(fix=True, min_age=0)
        assert fixed.ok and fixed.missing == [], fixed.summary()
        if rows == 0:
            assert count_files(final) == 0  # the crashed save was rolled back: nothing unregistered left
        assert temp_files(root) == [] and journals(root) == []

    _rerun(source)
    assert count_rows(url) == N_FILES
    keys = [f.key for f in ln.File.select().all()]
    assert len(keys) == len(set(keys)) == N_FILES  # nothing duplicated
    after = verify(fix=True, min_age=0)
    assert after.ok and after.records == N_FILES and after.unregistered == [], after.summary()
    assert temp_files(root) == [] and journals(root) == []
