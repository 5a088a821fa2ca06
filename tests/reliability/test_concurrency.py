"""8 processes write 1,000 Files each at once, on SQLite and on PostgreSQL.

The writers (``_writer_child.py``) prepare their Files, meet at a file-based start line, then
save at the same moment, racing on the same new Tag names, the same content under the same key,
the same content under different keys, and different content under the same key. Afterwards:

* every writer exited cleanly; the only errors were the expected KeyConflictErrors;
* same content + same key, and same tag name, converged on one record each, with no error;
* same content under different keys is stored once (the later writers got the first record);
* each contested key holds exactly one record, whose data is the winner's; every loser got
  KeyConflictError; nothing else was refused;
* every record has its data and nothing is left over (``verify``), nothing is duplicated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lamin_flows.verify import verify
from reliability.helpers import count_rows

CHILD = Path(__file__).with_name("_writer_child.py")
N_WRITERS = 8
FILES_PER_WRITER = 1000
N_OWN, N_SHARED, N_DUP, N_CONFLICT, N_TAGS = 700, 100, 100, 100, 11


def _run_writers(work: Path, n: int) -> list[dict]:
    env = {**os.environ, "LAMIN_INSTANCE": "race", "LAMIN_VERBOSITY": "1"}
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), str(work), str(i), str(n)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(n)
    ]
    deadline = time.monotonic() + 300
    while not all((work / f"ready-{i}").exists() for i in range(n)):
        for child in children:
            if child.poll() is not None:
                pytest.fail(f"a writer died while preparing:\n{child.communicate()[1].decode()}")
        assert time.monotonic() < deadline, "the writers did not get ready"
        time.sleep(0.01)
    (work / "go").touch()  # everyone starts now
    results = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err.decode()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def test_eight_writers_at_once(ln, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    # a second instance on the fixture's database: on PostgreSQL that database is test's, so shared on purpose
    config = ln.setup.init(
        storage=tmp_path / "race-data", db=ln.setup.settings.instance.db_url, name="race", share=True
    )
    root = Path(config.storage_root)
    results = _run_writers(work, N_WRITERS)

    # tags: one record per name, every writer got the same ones
    assert len(ln.Tag.select()) == N_TAGS
    assert len({tuple(r["tag_ids"]) for r in results}) == 1
    # same content, same key: one record per key, every writer holds it
    shared = {tuple(r["shared"]) for r in results}
    assert len(shared) == 1 and len(ln.File.select(key__startswith="shared/")) == N_SHARED
    # same content, no key: stored once, every writer holds the first writer's record
    assert len({tuple(r["dup"]) for r in results}) == 1
    assert len(ln.File.select(key=None)) == N_DUP
    # different content, same key: every save a new version, distinct labels, exactly one latest
    saved = [tuple(v) for r in results for v in r["won"]]
    assert len(saved) == N_CONFLICT * N_WRITERS and len({file_id for _, file_id, _ in saved}) == len(saved)
    for j in range(N_CONFLICT):
        key = f"conflict/c{j:03d}.txt"
        latest = ln.File.select(key=key).one()
        versions = latest.versions.all()
        assert len(versions) == N_WRITERS and sorted(int(f.version) for f in versions) == list(range(1, N_WRITERS + 1))
        assert [f.is_latest for f in versions] == [False] * (N_WRITERS - 1) + [True]
        for f in versions:  # every version's bytes, the latest's at the key
            writer = int(Path(f.stage()).read_text().rsplit(" ", 1)[1])
            assert Path(f.stage()).read_text() == f"conflict {j} from writer {writer}\n"
        assert Path(latest.path()) == root / key
    # own files: all there, each with its two tags
    own_ids = [i for r in results for i in r["own"]]
    assert len(set(own_ids)) == N_WRITERS * N_OWN
    race = ln.Tag.select(name="race").one()
    assert len(ln.File.select(tags=race)) == N_WRITERS * N_OWN
    assert count_rows(config.url, "file_tag") == 2 * N_WRITERS * N_OWN

    # nothing lost, nothing duplicated, nothing left over
    latest_total = N_WRITERS * N_OWN + N_SHARED + N_DUP + N_CONFLICT
    total = latest_total + N_CONFLICT * (N_WRITERS - 1)
    keys = [f.key for f in ln.File.select(key__isnull=False).all()]
    assert len(keys) == len(set(keys)) == latest_total - N_DUP
    hashes = [f.hash for f in ln.File.select(is_latest__in=[True, False]).all()]
    assert len(hashes) == len(set(hashes)) == total
    report = verify(min_age=0)
    assert report.ok and report.records == total and report.unregistered == [] and report.in_progress == [], (
        report.summary()
    )
    tmp = root / ".lamindb" / "_tmp"
    assert not tmp.exists() or os.listdir(tmp) == []
    print(
        f"\n{N_WRITERS} writers x {FILES_PER_WRITER} Files: slowest writer {max(r['seconds'] for r in results):.1f} s"
    )
