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
from collections import Counter
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
            [sys.executable, str(CHILD), str(work), str(i), str(n)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
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
    config = ln.setup.init(storage=tmp_path / "race-data", db=ln.setup.settings.instance.db_url, name="race")
    root = Path(config.storage_root)
    results = _run_writers(work, N_WRITERS)

    # tags: one record per name, every writer got the same ones
    assert len(ln.Tag.select()) == N_TAGS
    assert len({tuple(r["tag_ids"]) for r in results}) == 1
    # same content, same key: one record per key, every writer holds it
    shared = {tuple(r["shared"]) for r in results}
    assert len(shared) == 1 and len(ln.File.select(key__startswith="shared/")) == N_SHARED
    # same content, different keys: stored once, every writer holds the first writer's record
    assert len({tuple(r["dup"]) for r in results}) == 1
    assert len(ln.File.select(key__contains="/dup")) == N_DUP
    # different content, same key: one winner per key, the others got KeyConflictError
    wins = Counter(key for r in results for key in r["won"])
    assert sorted(wins) == sorted(f"conflict/c{j:03d}.txt" for j in range(N_CONFLICT)) and set(wins.values()) == {1}
    assert sum(r["lost"] for r in results) == N_CONFLICT * (N_WRITERS - 1)
    winner_of = {key: r["index"] for r in results for key in r["won"]}
    for file in ln.File.select(key__startswith="conflict/"):
        assert Path(file.path()).read_text() == f"conflict {int(file.key[10:-4])} from writer {winner_of[file.key]}\n"
    # own files: all there, each with its two tags
    own_ids = [i for r in results for i in r["own"]]
    assert len(set(own_ids)) == N_WRITERS * N_OWN
    race = ln.Tag.select(name="race").one()
    assert len(ln.File.select(tags=race)) == N_WRITERS * N_OWN
    assert count_rows(config.url, "file_tag") == 2 * N_WRITERS * N_OWN

    # nothing lost, nothing duplicated, nothing left over
    total = N_WRITERS * N_OWN + N_SHARED + N_DUP + N_CONFLICT
    keys = [f.key for f in ln.File.select().all()]
    assert len(keys) == len(set(keys)) == total
    hashes = [f.hash for f in ln.File.select().all()]
    assert len(set(hashes)) == total
    report = verify(min_age=0)
    assert report.ok and report.records == total and report.unregistered == [] and report.in_progress == [], report.summary()
    tmp = root / ".lamindb" / "_tmp"
    assert not tmp.exists() or os.listdir(tmp) == []
    print(f"\n{N_WRITERS} writers x {FILES_PER_WRITER} Files: slowest writer {max(r['seconds'] for r in results):.1f} s")
