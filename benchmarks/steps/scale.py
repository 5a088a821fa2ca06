"""The scale curve: registering 10,000 / 100,000 / 1,000,000 Files in place, and queries at the largest size.

Each size gets a new instance (SQLite under ``LAMIN_HOME`` on disk, or a new PostgreSQL database)
whose storage root is on tmpfs (``/dev/shm``): creating a million files on this VM's disk costs
more than registering them, and that cost is the kernel's, not ours. The files (1 KiB each, 1,000
per folder) are made there, then registered in place (``ln.File.from_dir`` + ``ln.save``) by a
fresh process, which reports its time and its peak RSS (``VmHWM``). At the largest size, 1,000
more Files are registered in a tracked Run with a Tag, and the step's own (warm) process queries
by key prefix (1,000 rows), by tag and by run (1,000 rows each), counts, and serves a File page
of the web UI.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.data import make_files
from benchmarks.harness import Context, Skip, fresh, median, step, timed

_REGISTER = """
files = ln.File.from_dir(folder)
ln.save(files)
_out["n"] = len(files)
with open("/proc/self/status") as fh:
    for line in fh:
        if line.startswith(("VmHWM", "VmRSS")):
            _out[line.split(":")[0]] = int(line.split()[1]) * 1024
"""
_RSS_AFTER_IMPORT = 'with open("/proc/self/status") as fh:\n    _out["rss_import"] = ' + (
    '[int(l.split()[1]) * 1024 for l in fh if l.startswith("VmRSS")][0]'
)


@contextmanager
def tmpfs(ctx: Context) -> Iterator[Path]:
    """A fresh folder on /dev/shm (removed afterwards); Skip where there is none."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        raise Skip("no writable /dev/shm: the scale steps need tmpfs for their files")
    folder = Path(tempfile.mkdtemp(prefix="lamin-bench-scale-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sqlite(ctx: Context, size: int) -> tuple[str | None, Callable[[], None]]:
    return None, lambda: None


def _postgres(ctx: Context, size: int) -> tuple[str | None, Callable[[], None]]:
    from benchmarks.steps.postgres import SERVER, create_database, drop_database

    name = create_database(ctx)

    def drop() -> None:
        from lamin_flows.registry.db import dispose_all

        dispose_all()
        drop_database(name)

    return f"{SERVER}/{name}", drop


def curve(ctx: Context, sizes: list[int], backend: str, judge_at: int | None) -> None:
    """Register each size in a fresh process on a new instance; queries on the largest; checks."""
    import lamin_flows as ln

    make_db = _postgres if backend == "PostgreSQL" else _sqlite
    points: dict[int, dict[str, Any]] = {}
    for size in sizes:
        db, drop = make_db(ctx, size)
        with tmpfs(ctx) as shm:
            try:
                ln.setup.init(storage=shm / "storage", db=db, name=f"scale-{backend.lower()}-{size}")
                folder = shm / "storage" / "scale"
                made, _ = timed(lambda: make_files(folder, size))  # noqa: B023
                result = fresh(
                    ctx,
                    _REGISTER,
                    pre=f"folder = {str(folder)!r}",
                    imports="import lamin_flows as ln\nln.File\n" + _RSS_AFTER_IMPORT,
                    timeout=3600,
                )
                if result["n"] != size:
                    raise AssertionError(f"expected {size} Files, got {result['n']}")
                result["make_files_s"] = made
                points[size] = result
                if size == sizes[-1]:
                    _queries(ctx, ln, shm, size, backend, judge_at == size)
            finally:
                drop()
    base = points[sizes[0]]["step"] / sizes[0]
    for size, p in points.items():
        per_file = p["step"] / size
        judged = size == judge_at
        ctx.check(
            f"{backend}: {size:,} Files in place, time per file",
            per_file * 1e6,
            "µs",
            detail=f"{size / p['step']:,.0f} files/s (from_dir + save {p['step']:.2f} s in a fresh process;"
            f" the whole process {p['wall']:.2f} s; making the files {p['make_files_s']:.1f} s)",
        )
        if size != sizes[0]:
            ctx.check(
                f"{backend}: time per file at {size:,} / at {sizes[0]:,}",
                per_file / base,
                "×",
                "<=" if judged else None,
                1.25 if judged else None,
            )
        ctx.check(
            f"{backend}: peak RSS per file at {size:,}",
            p["VmHWM"] / size / 1000,
            "KB/file",
            "<=" if judged else None,
            4 if judged else None,
            detail=f"peak {p['VmHWM'] / 1e6:,.0f} MB, of which {p['rss_import'] / 1e6:.0f} MB after import;"
            f" {(p['VmHWM'] - p['rss_import']) / size / 1000:.2f} KB/file above it",
        )
    ctx.metric(f"{backend} points", points)


def _queries(ctx: Context, ln: Any, shm: Path, size: int, backend: str, judged: bool) -> None:
    """1,000 more Files in a tracked Run with a Tag; then the queries and a File page (warm process)."""
    from starlette.testclient import TestClient

    from benchmarks.steps.ui import _server_ms
    from lamin_flows.ui import create_app

    extra = ctx.size(1000, 100)
    folder = shm / "storage" / "tagged"
    make_files(folder, extra)
    tag = ln.Tag(name="scale-tag").save()

    @ln.tracked(name="scale_batch", version="1")
    def register_tagged(path: str) -> int:
        files = ln.File.from_dir(path)
        for file in files:
            file.tags.add(tag)
        ln.save(files)
        return len(files)

    register_tagged(str(folder))
    run = ln.Run.select(transform__name="scale_batch").one()
    prefix = "scale/part_042/" if size > 42_000 else "scale/part_000/"
    want_prefix = min(1000, size)
    total = size + extra
    queries: dict[str, tuple[Callable[[], Any], int]] = {
        f"by key prefix ({want_prefix:,} rows)": (lambda: ln.File.select(key__startswith=prefix).df(), want_prefix),
        f"by tag ({extra:,} rows)": (lambda: ln.File.select(tags=tag).df(), extra),
        f"by run ({extra:,} rows)": (lambda: ln.File.select(run=run).df(), extra),
        ".count()": (lambda: ln.File.select().count(), total),
    }
    for label, (query, want) in queries.items():
        first, got = timed(query)
        times = []
        for _ in range(ctx.size(7, 1)):
            seconds, got = timed(query)
            times.append(seconds)
        rows = got if isinstance(got, int) else len(got)
        if rows != want:
            raise AssertionError(f"{backend}: the query {label} gave {rows}, expected {want}")
        is_prefix = label.startswith("by key prefix")
        ctx.check(
            f"{backend}: query {label} at {total:,} Files",
            median(times) * 1000,
            "ms",
            "<=" if judged and is_prefix else None,
            20 if judged and is_prefix else None,
            detail=f"warm process, median of {len(times)}; first call {first * 1000:.0f} ms",
        )
        ctx.metric(f"{backend} query {label}", times)
    client = TestClient(create_app())
    some = ln.File.select(key__startswith=prefix).first()
    for label, url in (("a File page", f"/files/{some.id}"), ("Files list, first page", "/files")):
        begin = time.perf_counter()
        client.get(url)
        cold = time.perf_counter() - begin
        server, total_ms = _server_ms(client, url, ctx.size(7, 2))
        ctx.check(
            f"{backend}: UI {label} at {total:,} Files, server time",
            server,
            "ms",
            detail=f"TestClient(create_app()); round trip {total_ms:.0f} ms; first request {cold * 1000:.0f} ms",
        )


@step(
    "scale",
    "scale curve on SQLite: register 10,000 / 100,000 Files × 1 KiB in place (tmpfs), queries at 100,000",
    "report (the 1,000,000 point: make bench-scale)",
)
def scale(ctx: Context) -> None:
    """10,000 and 100,000 (quick: 100, 300) on SQLite."""
    curve(ctx, [ctx.size(10_000, 100), ctx.size(100_000, 300)], "SQLite", judge_at=None)


@step(
    "scale_pg",
    "scale curve on PostgreSQL: register 10,000 / 100,000 Files × 1 KiB in place (tmpfs), queries at 100,000",
    "report (the 1,000,000 point: make bench-scale)",
)
def scale_pg(ctx: Context) -> None:
    """10,000 and 100,000 (quick: 100, 300) on PostgreSQL (127.0.0.1:5432), a new database per size."""
    curve(ctx, [ctx.size(10_000, 100), ctx.size(100_000, 300)], "PostgreSQL", judge_at=None)


@step(
    "scale_1m",
    "scale curve to 1,000,000 Files on SQLite and PostgreSQL, queries and a UI page at 1,000,000",
    "per file ≤ 1.25 × at 10,000; < 4 KB/file peak RSS; prefix query (1,000 rows) < 20 ms",
    default=False,
)
def scale_1m(ctx: Context) -> None:
    """10,000 and 1,000,000 (quick: 100, 1,000) on SQLite, then on PostgreSQL (skipped if unreachable)."""
    small, large = ctx.size(10_000, 100), ctx.size(1_000_000, 1_000)
    curve(ctx, [small, large], "SQLite", judge_at=large)
    try:
        curve(ctx, [small, large], "PostgreSQL", judge_at=large)
    except Skip as reason:
        ctx.note(f"PostgreSQL part skipped: {reason}")
