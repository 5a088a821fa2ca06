"""Registering many small files: copied in from outside storage, and already inside it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.data import init_instance, make_files, register_folder
from benchmarks.harness import Context, fresh, median, run_command, step, timed

# what a user's script runs, in a fresh process (see harness.fresh)
_FRESH_REGISTER = """
files = ln.File.from_dir(folder)
ln.save(files)
_out["n"] = len(files)
"""


@step(
    "register_outside",
    "register 10,000 files of 1 KiB from a folder outside storage (from_dir + save)",
    "≥ 3,000 files/s; on tmpfs ≥ 10,000 files/s (warm and fresh process)",
)
def register_outside(ctx: Context) -> None:
    """``ln.save(ln.File.from_dir(folder))`` copies every file in; ``cp -r`` of the folder is the reference."""
    n = ctx.size(10_000, 200)
    ln = init_instance(ctx)
    # folders kept until the end: deleting thousands of files slows creating new ones on some filesystems
    times, cps = _copy_in_rounds(ctx, ln, ctx.work, n)
    rate = n / median(times)
    ctx.check(
        f"{n:,} files × 1 KiB copied in",
        rate,
        "files/s",
        ">=",
        3000,
        detail=f"median {median(times):.2f} s; `cp -r` of the folder {median(cps):.2f} s "
        f"({median(times) / median(cps):.1f}× cp)",
    )
    ctx.metric("seconds", times)
    ctx.metric("cp_seconds", cps)
    _fresh_rounds(ctx, ctx.work / "outside", n, f"{n:,} files copied in", median(times), ">=", 3000, median(cps))
    _register_outside_on_tmpfs(ctx, ln, n)


def _fresh_rounds(
    ctx: Context, base: Path, n: int, label: str, warm: float, op: str, target: float, ref: float | None = None
) -> None:
    """Register new folders of ``n`` files under ``base``, each in a fresh process; a files/s check."""
    runs = []
    for rep in range(ctx.size(3, 1)):
        folder = base / f"fresh_{rep}"
        make_files(folder, n)
        result = fresh(ctx, _FRESH_REGISTER, pre=f"folder = {str(folder)!r}")
        if result["n"] != n:
            raise AssertionError(f"expected {n} Files, got {result['n']}")
        runs.append(result)
    wall = median([r["wall"] for r in runs])
    ctx.check(
        f"{label}, fresh process",
        n / wall,
        "files/s",
        op,
        target,
        detail=f"median {wall:.2f} s per process (import + first use {median([r['import'] for r in runs]):.2f} s,"
        f" from_dir + save {median([r['step'] for r in runs]):.2f} s); warmed {warm:.2f} s"
        + (f"; reference {ref:.2f} s" if ref is not None else ""),
    )
    ctx.metric(f"fresh: {label}", runs)


def _copy_in_rounds(ctx: Context, ln: Any, base: Path, n: int) -> tuple[list[float], list[float]]:
    """Seconds to register a new folder of ``n`` files under ``base`` per round, and of ``cp -r`` of it."""
    times, cps = [], []
    for rep in range(ctx.size(3, 1)):
        folder = base / "outside" / f"batch_{rep}"
        make_files(folder, n)
        seconds, files = timed(lambda: register_folder(ln, folder))
        if len(files) != n or not all(f.is_saved for f in files):
            raise AssertionError(f"expected {n} saved Files, got {len(files)}")
        times.append(seconds)
        cps.append(run_command(["cp", "-r", str(folder), str(base / f"cp_{rep}")]))
    return times, cps


def _register_outside_on_tmpfs(ctx: Context, ln: Any, n: int) -> None:
    """The same with folder and storage in memory (/dev/shm): what lamin_flows itself costs.

    Creating a file on this VM's disk costs 40-600 µs of kernel time depending on what was deleted
    lately (see the README's notes), which swamps everything else; on tmpfs it costs ~5 µs.
    """
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        ctx.note("no writable /dev/shm: the in-memory variant was skipped")
        return
    scratch = Path(tempfile.mkdtemp(prefix="lamin-bench-", dir=shm))
    try:
        ln.setup.init(storage=scratch / "storage", name="bench-tmpfs")
        times, cps = _copy_in_rounds(ctx, ln, scratch, n)
        ctx.check(
            f"{n:,} files × 1 KiB copied in, on tmpfs",
            n / median(times),
            "files/s",
            ">=",
            10000,
            detail=f"median {median(times):.2f} s; `cp -r` {median(cps):.2f} s; registry on disk",
        )
        _fresh_rounds(ctx, scratch / "outside", n, f"{n:,} copied in on tmpfs", median(times), ">=", 10000)
        ctx.metric("tmpfs_seconds", times)
        ctx.metric("tmpfs_cp_seconds", cps)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@step(
    "register_inside",
    "register 10,000 files of 1 KiB already inside storage (from_dir + save)",
    "≥ 25,000 files/s (warm and fresh process)",
)
def register_inside(ctx: Context) -> None:
    """Files under the storage root are registered in place: hashed, not copied."""
    n = ctx.size(10_000, 200)
    ln = init_instance(ctx)
    root = ln.settings.storage
    times, md5s = [], []
    for rep in range(ctx.size(3, 1)):
        folder = root / f"inside_{rep}"
        make_files(folder, n)
        seconds, files = timed(lambda: register_folder(ln, folder))
        if len(files) != n or not all(f.is_saved and f.key.startswith(f"inside_{rep}/") for f in files):
            raise AssertionError(f"expected {n} saved Files under inside_{rep}/")
        times.append(seconds)
        md5s.append(run_command(["sh", "-c", f"find {folder} -type f -print0 | xargs -0 md5sum > /dev/null"]))
    rate = n / median(times)
    folder = root / "inside_0"
    scan = [timed(lambda: _stat_read_hash(folder))[0] for _ in range(ctx.size(3, 1))]
    inserts = [_sqlite_inserts(ctx.work / f"plain_{i}.sqlite", n) for i in range(ctx.size(3, 1))]
    ctx.check(
        f"{n:,} files × 1 KiB in place",
        rate,
        "files/s",
        ">=",
        25000,
        detail=f"median {median(times):.2f} s; `find | xargs md5sum` of the folder {median(md5s):.2f} s",
    )
    ctx.check(
        "reference: stat + read + MD5 of the same files (Python)",
        n / median(scan),
        "files/s",
        detail=f"{median(scan):.2f} s for os.scandir, stat, read, hashlib.md5 of each file",
    )
    ctx.check(
        "reference: SQLite inserts of as many rows (sqlite3)",
        n / median(inserts),
        "files/s",
        detail=f"{median(inserts):.3f} s: executemany of {n:,} rows of 12 columns, two indexes, one transaction",
    )
    ctx.metric("seconds", times)
    ctx.metric("md5sum_seconds", md5s)
    ctx.metric("stat_read_hash_seconds", scan)
    ctx.metric("sqlite_insert_seconds", inserts)
    _fresh_rounds(ctx, root, n, f"{n:,} in place", median(times), ">=", 25000)


def _stat_read_hash(folder: Path) -> int:
    """What registering in place cannot avoid doing per file: walk, stat, read, hash."""
    import hashlib

    count = 0
    for sub in os.scandir(folder):
        for entry in os.scandir(sub.path):
            entry.stat()
            with open(entry.path, "rb") as fh:
                hashlib.md5(fh.read()).digest()
            count += 1
    return count


def _sqlite_inserts(path: Path, n: int) -> float:
    """Seconds to insert ``n`` rows shaped like File rows into a plain SQLite table (WAL, one transaction)."""
    import sqlite3
    import time
    import uuid

    rows = [
        (
            uuid.uuid4().hex[:16],
            f"inside/part_{i // 1000:03d}/file_{i:06d}.bin",
            f"file_{i:06d}.bin",
            ".bin",
            1024,
            f"{i:022d}",
            "md5",
            1,
            "1",
            1,
            "2026-12-03T00:00:00",
            "2026-12-03T00:00:00",
        )
        for i in range(n)
    ]
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(
            "CREATE TABLE file (uid TEXT UNIQUE, key TEXT, name TEXT, suffix TEXT, size INTEGER, hash TEXT,"
            " hash_type TEXT, storage_id INTEGER, version TEXT, is_latest INTEGER, created_at TEXT, updated_at TEXT)"
        )
        con.execute("CREATE INDEX ix_key ON file (key)")
        start = time.perf_counter()
        with con:
            con.executemany("INSERT INTO file VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        return time.perf_counter() - start
    finally:
        con.close()
