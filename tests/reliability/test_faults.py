"""Faults injected for real: a full disk, a PostgreSQL connection killed mid-save or cut at
COMMIT, an S3 connection cut mid-upload and mid-save. After each: no record without data, no
partial object under a final key, and the same save completes once the fault is gone.

* Disk full: the storage root is a real 2 MB tmpfs (``mount -t tmpfs``, needs root), filled by
  the copy itself; a second tmpfs runs out of inodes while ``ln.save`` creates the final folders.
* PostgreSQL: ``pg_terminate_backend`` from another connection while a child process moves
  files into place, and while it waits just before COMMIT; and a loopback proxy that passes the
  COMMIT to the server and resets the connection before the reply (committed, but the client
  sees an error), or resets it without passing the COMMIT on.
* S3: the same proxy in front of the moto server, resetting every connection after 256 kB of a
  1 MB upload, and cutting the link for good at the 9th of a save's 20 server-side copies.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import lamin_flows as ln
from lamin_flows.verify import verify
from reliability.helpers import (
    count_files,
    count_rows,
    journals,
    make_source,
    start_save_child,
    temp_files,
)
from reliability.proxy import CuttingProxy


# ---- a full disk -----------------------------------------------------------------------------
def _errno_in_chain(error: BaseException) -> set[int]:
    found = set()
    while error is not None:
        if isinstance(error, OSError) and error.errno:
            found.add(error.errno)
        error = error.__cause__ or error.__context__
    return found


def test_disk_full_while_copying(small_disk, tmp_path):
    disk = small_disk("size=2m")
    ln.setup.init(storage=disk, name="full")
    source = tmp_path / "many"
    source.mkdir()
    for i in range(30):  # 3 MB in 100 kB files, for a 2 MB disk
        (source / f"part{i:02d}.bin").write_bytes(os.urandom(100_000))
    with pytest.raises(OSError) as caught:
        ln.File.from_dir(source)
    assert errno.ENOSPC in _errno_in_chain(caught.value)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3_000_000))
    with pytest.raises(OSError) as caught:
        ln.File(big, key="big.bin")
    assert errno.ENOSPC in _errno_in_chain(caught.value)
    # nothing registered, not a byte left behind, not even in the temporary area
    assert len(ln.File.select()) == 0 and count_files(disk) == 1  # the owner marker (.lamindb/_owner.json) only
    assert verify(min_age=0).ok
    # with room again, the same kind of save works
    for part in sorted(source.iterdir())[10:]:
        part.unlink()
    ln.save(ln.File.from_dir(source))
    assert len(ln.File.select()) == 10 and verify(min_age=0).ok


def test_disk_full_while_moving_into_place(small_disk, tmp_path):
    disk = small_disk("size=16m,nr_inodes=400")
    ln.setup.init(storage=disk, name="inodes")
    source = make_source(tmp_path / "src", n_dirs=10, per_dir=10)
    files = ln.File.from_dir(source)  # staged: the data is on the disk
    fillers = disk / "fillers"
    fillers.mkdir()
    n = 0
    with pytest.raises(OSError):
        while True:  # use up every inode
            (fillers / str(n)).touch()
            n += 1
    for i in range(4):  # room for the save journal, the key folder "src" and two of its 10 sub-folders
        (fillers / str(n - 1 - i)).unlink()
    with pytest.raises(OSError) as caught:
        ln.save(files)
    assert errno.ENOSPC in _errno_in_chain(caught.value)
    assert len(ln.File.select()) == 0
    assert count_files(disk / "src") == 0 and journals(disk) == []  # moved files were taken out again
    assert len(temp_files(disk)) == 100  # the staged copies stay, so the same save can be retried
    for filler in fillers.iterdir():
        filler.unlink()
    ln.save(files)
    assert len(ln.File.select()) == 100 and count_files(disk / "src") == 100
    report = verify(min_age=0)
    assert report.ok and report.in_progress == [] and report.unregistered == [], report.summary()


# ---- PostgreSQL --------------------------------------------------------------------------------
def _terminate(url: str, application: str) -> int:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return len(
                conn.execute(
                    sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a"),
                    {"a": application},
                ).all()
            )
    finally:
        engine.dispose()


def _child(source: Path, moment: str, application: str, signals: Path) -> subprocess.Popen:
    # PGAPPNAME: libpq names the child's connections, so they can be found
    return start_save_child(source, "pgfault", moment, LAMIN_TEST_SIGNALS=str(signals), PGAPPNAME=application)


@pytest.mark.postgres
@pytest.mark.parametrize("moment", ["moving", "before_commit"])
def test_postgres_connection_terminated_mid_save(moment, pg_db, tmp_path, source):
    config = ln.setup.init(storage=tmp_path / "data", db=pg_db, name="pgfault")
    root = Path(config.storage_root)
    application = f"lamin-fault-{uuid.uuid4().hex[:8]}"
    child = _child(source, "pause_before_commit" if moment == "before_commit" else "", application, tmp_path)
    deadline = time.monotonic() + 120
    if moment == "moving":
        while count_files(root / source.name) == 0:  # files are being moved into place, inside the transaction
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()[1].decode()
            time.sleep(0.001)
    else:
        while not (tmp_path / "at-commit").exists():
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()[1].decode()
            time.sleep(0.01)
    assert _terminate(pg_db, application) >= 1
    (tmp_path / "resume").touch()
    _, err = child.communicate(timeout=120)
    assert child.returncode == 1 and "terminat" in err.decode(), err.decode()
    # the save failed as a whole: no row, and the files it had moved in were taken out again
    assert count_rows(config.url) == 0
    assert count_files(root / source.name) == 0 and journals(root) == []
    report = verify(fix=True, min_age=0)  # removes the dead process's staged copies
    assert report.ok and report.missing == [] and report.unregistered == [], report.summary()
    ln.save(ln.File.from_dir(source))
    assert count_rows(config.url) == 2000 and verify(min_age=0).ok


@pytest.mark.postgres
@pytest.mark.parametrize("server_got_commit", [True, False], ids=["committed", "not-committed"])
def test_postgres_connection_cut_at_commit(server_got_commit, pg_db, tmp_path):
    server = sa.engine.make_url(pg_db)
    proxy = CuttingProxy(server.host or "127.0.0.1", server.port or 5432)
    try:
        via_proxy = server.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        config = ln.setup.init(storage=tmp_path / "data", db=via_proxy, name="cut")
        root = Path(config.storage_root)
        source = make_source(tmp_path / "src", n_dirs=4, per_dir=50)
        files = ln.File.from_dir(source)
        proxy.forward_pattern = server_got_commit
        proxy.cut_after_pattern = b"COMMIT"
        if server_got_commit:
            ln.save(files)  # the reply to COMMIT was lost, but the save committed: no error, data kept
            assert all(f.is_saved for f in files)
        else:
            with pytest.raises(sa.exc.OperationalError):
                ln.save(files)
        assert proxy.cuts == 1
        rows = count_rows(pg_db)
        assert rows == (200 if server_got_commit else 0)
        assert count_files(root / "src") == rows  # data exactly where there are records
        report = verify(fix=True, min_age=0)
        assert report.ok and report.records == rows and report.unregistered == [], report.summary()
    finally:
        proxy.stop()


# ---- S3 ----------------------------------------------------------------------------------------
@pytest.fixture
def s3_via_proxy(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CuttingProxy, str]]:
    """An instance on a fresh bucket whose every S3 request goes through a CuttingProxy."""
    import _s3
    import s3fs

    # fewer retries than the defaults (s3fs 5 rounds of botocore 5 attempts), so a dead link fails in seconds
    monkeypatch.setattr(s3fs.S3FileSystem, "retries", 1)
    options = {
        "config_kwargs": {"retries": {"max_attempts": 2, "mode": "standard"}, "connect_timeout": 2, "read_timeout": 3}
    }
    host, port = moto_server.rsplit("//", 1)[1].split(":")
    proxy = CuttingProxy(host, int(port))
    bucket = _s3.create_bucket(moto_server)
    with _s3.aws_test_env(proxy.url):
        _s3.clear_s3fs_instances()
        ln.setup.init(storage=f"s3://{bucket}/root", name="s3fault", storage_options=options)
        ln.settings.verbosity = 1
        yield proxy, bucket
        _s3.clear_s3fs_instances()
    proxy.stop()


def _objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    import _s3

    client = _s3.s3_client(endpoint)
    listing = [
        o for o in client.list_objects_v2(Bucket=bucket).get("Contents", []) if not o["Key"].endswith("_owner.json")
    ]
    return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


def test_s3_connection_cut_mid_upload(s3_via_proxy, moto_server, tmp_path):
    proxy, bucket = s3_via_proxy
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1_000_000))
    proxy.cut_after_bytes = 256_000  # every connection dies a quarter into the upload, retries too
    with pytest.raises(OSError):
        ln.File(big, key="data/big.bin")
    assert proxy.cuts >= 2  # the first cut was retried, and cut again
    proxy.cut_after_bytes = None
    assert len(ln.File.select()) == 0
    assert _objects(moto_server, bucket) == {}  # no partial object, under a final key or anywhere
    assert verify(min_age=0).ok
    file = ln.File(big, key="data/big.bin").save()  # the link is back: the same upload works
    assert _objects(moto_server, bucket) == {"root/data/big.bin": big.read_bytes()} and file.is_saved


def test_s3_link_lost_mid_save(s3_via_proxy, moto_server, tmp_path):
    proxy, bucket = s3_via_proxy
    source = make_source(tmp_path / "src", n_dirs=2, per_dir=10)
    files = ln.File.from_dir(source)  # uploaded to the temporary area
    proxy.link_down_after = (b"x-amz-copy-source", 8)  # the link dies for good at the 9th server-side copy
    with pytest.raises(OSError):
        ln.save(files)
    assert proxy.cuts >= 1
    proxy.link_down_after, proxy.refuse = None, False  # the link is back
    assert len(ln.File.select()) == 0
    expected = {f"root/src/{p.relative_to(source).as_posix()}": p.read_bytes() for p in source.rglob("*.txt")}
    finals = {k: v for k, v in _objects(moto_server, bucket).items() if not k.startswith("root/.lamindb/")}
    assert 0 < len(finals) < 20, len(finals)  # the link died half-way through the copies
    assert all(expected[k] == v for k, v in finals.items())  # whatever reached a final key is complete
    report = verify(min_age=0)
    assert report.missing == [] and report.corrupt == [], report.summary()
    assert len(report.interrupted) == 1  # the undo could not reach S3: the journal says what to roll back
    fixed = verify(fix=True)  # rolls the save back; the staged copies are recent, so they stay
    assert fixed.ok and len(fixed.in_progress) == 20, fixed.summary()
    assert all(k.startswith("root/.lamindb/_tmp/") for k in _objects(moto_server, bucket))
    ln.save(files)  # the same Files, saved again once S3 is reachable
    assert len(ln.File.select()) == 20
    finals = {k: v for k, v in _objects(moto_server, bucket).items() if not k.startswith("root/.lamindb/")}
    assert finals == expected
    assert verify(fix=True, min_age=0).ok
