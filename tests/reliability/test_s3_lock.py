"""SQLite registry + S3 storage (moto server): a large save holds the write lock for its SQL only.

The server-side copies into final keys run before the write transaction (journaled), so a second
process writing to the registry meanwhile never waits long and never fails; a failed save removes
what it copied; ``lamin verify`` leaves a save that is still copying alone, and rolls it back once
its process is dead; a writer that waits too long gets our RegistryBusyError.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _s3  # tests/_s3.py
import pytest
import sqlalchemy as sa

import lamin_flows as ln
from lamin_flows.errors import RegistryBusyError, ValidationError
from lamin_flows.registry import instance
from lamin_flows.verify import verify

N_FILES = 300

_WRITER = """
import json, sys, time
from pathlib import Path
import lamin_flows as ln
stop, ready = Path(sys.argv[1]), Path(sys.argv[2])
ln.Tag(name="warm-up").save()
ready.touch()
waits, errors, i = [], [], 0
while not stop.exists():
    i += 1
    start = time.perf_counter()
    try:
        ln.Tag(name=f"second-writer-{i}").save()
    except Exception as error:
        errors.append(f"{type(error).__name__}: {error}")
    waits.append(time.perf_counter() - start)
    time.sleep(0.01)
print(json.dumps({"waits": waits, "errors": errors}))
"""

# A save stopped half-way: its data copied into place before the lock, the transaction not yet run.
_HALF_SAVE = """
import sys, time
import lamin_flows as ln
from lamin_flows.registry.file_precommit import commit_before_lock
file = ln.File(sys.argv[1], key="half/saved.txt")
commit_before_lock([file], [])
print("copied", flush=True)
time.sleep(600)
"""


@pytest.fixture
def bucket(s3_bucket: str) -> str:
    """S3 storage with a SQLite registry: the case whose write lock blocks every other writer."""
    ln.setup.init(storage=f"s3://{s3_bucket}/project", name="lock")
    return s3_bucket


@pytest.fixture
def any_bucket(s3_bucket: str, db_url: str | None) -> str:
    """S3 storage with a SQLite or a PostgreSQL registry."""
    ln.setup.init(storage=f"s3://{s3_bucket}/project", db=db_url, name="lock")
    return s3_bucket


def keys_in(endpoint: str, bucket: str) -> list[str]:
    client = _s3.s3_client(endpoint)
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def _folder(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(n):
        (folder / f"f{i:04d}.txt").write_text(f"file {i}\n" * 20)
    return folder


def _lock_meter(engine: Any) -> list[float]:
    """Seconds each write transaction of ``engine`` held SQLite's write lock (BEGIN IMMEDIATE .. COMMIT)."""
    held: list[float] = []

    def begin(conn: Any) -> None:
        if conn.get_execution_options().get("lamin_write"):
            conn.info["t0"] = time.perf_counter()

    def end(conn: Any) -> None:
        t0 = conn.info.pop("t0", None)
        if t0 is not None:
            held.append(time.perf_counter() - t0)

    sa.event.listen(engine, "begin", begin)
    sa.event.listen(engine, "commit", end)
    sa.event.listen(engine, "rollback", end)
    return held


def _child_env() -> dict[str, str]:
    return {**os.environ, "LAMIN_INSTANCE": "lock", "LAMIN_VERBOSITY": "1"}


def test_a_large_save_holds_the_lock_for_its_sql_only_while_another_process_writes(bucket, s3_endpoint, tmp_path):
    files = ln.File.from_dir(_folder(tmp_path, N_FILES))  # uploaded to staging here, before the save
    stop, ready = tmp_path / "stop", tmp_path / "ready"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(stop), str(ready)],
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert writer.poll() is None and time.monotonic() < deadline, writer.stderr.read() if writer.stderr else ""
            time.sleep(0.05)
        held = _lock_meter(instance.current().engine)
        start = time.perf_counter()
        ln.save(files)
        save = time.perf_counter() - start
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    second = json.loads(out.strip().splitlines()[-1])
    assert second["errors"] == []
    assert len(held) == 1  # one write transaction for the whole save
    # the copies (one request per File) ran outside it: the lock is a small part of the save
    assert held[0] < max(save / 3, 0.05), (held, save)
    assert held[0] < 2.0 and max(second["waits"]) < 2.0, (held, max(second["waits"]))
    stored = keys_in(s3_endpoint, bucket)
    assert [k for k in stored if k.startswith("project/many/")] == [
        f"project/many/f{i:04d}.txt" for i in range(N_FILES)
    ]
    assert not [k for k in stored if "/_tmp/" in k]  # staged copies and the journal are gone
    assert ln.File.select(is_latest=True).count() == N_FILES
    assert verify().ok


def test_a_save_that_fails_after_its_copies_removes_them(any_bucket, s3_endpoint, tmp_path):
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "b.txt").write_text("two")
    first, second = ln.File(tmp_path / "a.txt", key="same/key.txt"), ln.File(tmp_path / "b.txt", key="same/key.txt")
    with pytest.raises(ValidationError, match="two Files in one save"):  # found under the lock, after the copies
        ln.save([first, second])
    assert "project/same/key.txt" not in keys_in(s3_endpoint, any_bucket)
    assert not [k for k in keys_in(s3_endpoint, any_bucket) if k.endswith(".lamin-journal")]
    assert ln.File.select().count() == 0
    first.save()  # nothing left in the way
    assert ln.File.select(key="same/key.txt").one().hash == first.hash


def test_a_save_that_uses_content_another_save_put_at_the_key_keeps_it(any_bucket, s3_endpoint, tmp_path):
    (tmp_path / "a.txt").write_text("same")
    one = ln.File(tmp_path / "a.txt", key="shared/a.txt")
    two = ln.File(tmp_path / "a.txt", key="shared/a.txt")
    one.save()
    two.save()  # the same content at the same key: the existing record
    assert two.id == one.id
    assert "project/shared/a.txt" in keys_in(s3_endpoint, any_bucket)
    assert verify().ok


def test_verify_leaves_a_save_that_is_still_copying_alone_then_rolls_it_back(any_bucket, s3_endpoint, tmp_path):
    source = tmp_path / "half.txt"
    source.write_text("half-saved content")
    child = subprocess.Popen(
        [sys.executable, "-c", _HALF_SAVE, str(source)],
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "copied", child.stderr.read()
        assert "project/half/saved.txt" in keys_in(s3_endpoint, any_bucket)
        report = verify(fix=True, min_age=0)
        assert [f.kind for f in report.findings] == ["in_progress"]
        assert "may still be running" in report.findings[0].detail
        assert "project/half/saved.txt" in keys_in(s3_endpoint, any_bucket)  # not rolled back under its feet
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
    fixed = verify(fix=True, min_age=0)
    assert any(f.kind == "interrupted" and "rolled back" in f.detail for f in fixed.fixed)
    assert "project/half/saved.txt" not in keys_in(s3_endpoint, any_bucket)
    assert verify(min_age=0).ok


def test_a_writer_that_waits_too_long_gets_our_error(ln_sqlite, tmp_path, monkeypatch):
    database = instance.current().engine.url.database
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(5)\n"
            "c.execute('COMMIT')\n",
            database,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        from lamin_flows.config import reset_settings
        from lamin_flows.registry.db import dispose_all

        monkeypatch.setenv("LAMIN_SQLITE_BUSY_TIMEOUT", "0.5")
        reset_settings()
        dispose_all()  # new connections take the new timeout
        start = time.monotonic()
        with pytest.raises(RegistryBusyError, match="written by another process") as info:
            ln_sqlite.Tag(name="blocked").save()
        assert time.monotonic() - start < 4
        assert "0.5 s" in str(info.value) and "Run it again" in str(info.value)
        assert isinstance(info.value, TimeoutError)
    finally:
        holder.wait(timeout=30)
    ln_sqlite.Tag(name="after").save()  # the lock is free again
    assert [t.name for t in ln_sqlite.Tag.select(name="blocked").all()] == []
