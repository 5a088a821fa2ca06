"""A randomized kill campaign: at least 100 SIGKILLs at random moments, then nothing is lost.

Children (one at a time; ``LAMIN_TEST_CAMPAIGN_PARALLEL=2`` runs two at once on the same
instance) run random operations on one instance (``_campaign_child.py``: saves,
``replace()``, new versions of a folder, deletes, ``verify(fix=True)``, tracked runs) and are
killed after a random delay; 100 children in all. Then ``verify(fix=True)`` settles what the
crashes left, and:

* every record (every version) has its data, and its size and hash describe those bytes;
* the unregistered files planted in the storage (at keys the children try to save to) are
  byte for byte what was planted;
* ``verify()`` finds no problem, and no temporary file or journal is left.

The seed is printed on failure; ``LAMIN_TEST_CAMPAIGN_SEED=<seed>`` runs the same campaign
again (the moments of the kills still depend on the machine's speed).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import lamin_flows as ln
from lamin_flows.storage import hash_file
from lamin_flows.verify import verify
from reliability.helpers import journals, temp_files

CHILD = Path(__file__).with_name("_campaign_child.py")
KILLS = 100
PARALLEL = int(os.environ.get("LAMIN_TEST_CAMPAIGN_PARALLEL", "1"))
PLANTED = {f"planted/p{i}.txt": f"a colleague's file {i}\n".encode() * (i + 1) for i in range(3)}


def _one_child(scratch: Path, seed: int, delay: float, problems: list[str]) -> None:
    env = {**os.environ, "LAMIN_INSTANCE": "campaign", "LAMIN_VERBOSITY": "0"}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(scratch), str(seed)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        ready = child.stdout.readline()  # type: ignore[union-attr]
        if ready.strip() == b"ready":
            time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait(timeout=60)
    if child.returncode != -signal.SIGKILL:
        problems.append(f"child seed {seed} ended with {child.returncode}: {child.stderr.read().decode()[-3000:]}")  # type: ignore[union-attr]
    child.stdout.close()  # type: ignore[union-attr]
    child.stderr.close()  # type: ignore[union-attr]


@pytest.mark.slow  # ~2 min: the full suite runs it, make test-fast does not
def test_a_hundred_kills_lose_nothing(tmp_path):
    seed = int(os.environ.get("LAMIN_TEST_CAMPAIGN_SEED") or random.SystemRandom().randrange(10**6))
    rng = random.Random(seed)
    root = tmp_path / "store"
    ln.setup.init(storage=root, name="campaign")
    for key, content in PLANTED.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(content)
    plan = [(n, seed * 1000 + n, rng.uniform(0.0, 1.2)) for n in range(KILLS)]
    problems: list[str] = []

    def worker(slot: int) -> None:
        for _n, child_seed, delay in plan[slot::PARALLEL]:
            _one_child(tmp_path / f"scratch{slot}", child_seed, delay, problems)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not problems, f"seed {seed}: {problems[0]}"

    from lamin_flows.registry import migrate

    migrate.forget()  # the children may have left the registry in any state: look again
    verify(fix=True, min_age=0)
    report = verify(min_age=0)
    assert report.ok, f"seed {seed}: {report.summary()}"
    assert report.records > 0, f"seed {seed}: the children saved nothing; the campaign tested nothing"
    files = ln.File.select(is_latest=True).all() + ln.File.select(is_latest=False).all()
    for file in files:
        path = Path(file.path())
        assert path.is_file(), f"seed {seed}: File {file.id} ({file.key}) has no data at {path}"
        stored = hash_file(path)
        assert (stored.size, stored.hash) == (file.size, file.hash), (
            f"seed {seed}: File {file.id} ({file.key}) describes other bytes"
        )
    for key, content in PLANTED.items():
        assert (root / key).read_bytes() == content, f"seed {seed}: the unregistered {key} was changed"
    assert temp_files(root) == [] and journals(root) == [], f"seed {seed}: left {temp_files(root)} {journals(root)}"
    done = [
        line.split()
        for slot in range(PARALLEL)
        for line in (tmp_path / f"scratch{slot}" / "done.log").read_text().splitlines()
    ]
    completed = {name for name, outcome in done if outcome == "ok"}
    expected = {"save", "replace", "new_versions", "delete", "check", "tracked_run"}
    assert completed == expected, (
        f"seed {seed}: no operation {expected - completed} ever completed; the campaign missed them"
    )
    assert (
        ln.Run.select(status="completed").count() > 0 and ln.Run.select(status="started").count() > 0
    )  # killed runs stay "started"
