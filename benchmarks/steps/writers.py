"""Many writers: 8 processes registering 10,000 Files each in place, at the same time, into one instance.

The files (1 KiB, on tmpfs so the disk does not decide) are made first, one folder per writer.
Then the 8 processes start together; each imports lamin_flows, waits at a barrier (a start time
a little in the future) and runs ``ln.save(ln.File.from_dir(its_folder))``, catching any error.
Reported: the aggregate rate (all Files over the time from the barrier to the last writer's end),
the slowest writer, and the errors (target 0), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from benchmarks.data import make_files
from benchmarks.harness import Context, step
from benchmarks.steps.scale import _postgres, tmpfs

_WRITER = """
import json, sys, time, traceback
import lamin_flows as ln
ln.File
start_at = float(sys.argv[2])
while time.time() < start_at:
    time.sleep(0.001)
begin = time.time()
out = {"begin": begin, "errors": []}
try:
    files = ln.File.from_dir(sys.argv[1])
    ln.save(files)
    out["n"] = len(files)
except Exception:
    out["errors"].append(traceback.format_exc(limit=4)[-1500:])
    out["n"] = 0
out["end"] = time.time()
print(json.dumps(out))
"""


def many_writers(ctx: Context, backend: str) -> None:
    """``writers`` processes × ``per_writer`` Files in place, into one new instance on ``backend``."""
    import lamin_flows as ln

    writers, per_writer = 8, ctx.size(10_000, 30)
    db, drop = _postgres(ctx, 0) if backend == "PostgreSQL" else (None, lambda: None)
    with tmpfs(ctx) as shm:
        try:
            ln.setup.init(storage=shm / "storage", db=db, name=f"writers-{backend.lower()}")
            folders = [shm / "storage" / f"writer_{w}" for w in range(writers)]
            for folder in folders:
                make_files(folder, per_writer)
            start_at = time.time() + 1.5 + 0.4 * writers  # all have imported by then on 2 busy cores
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", _WRITER, str(folder), str(start_at)],
                    env=ctx.child_env(),
                    cwd=ctx.work,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for folder in folders
            ]
            results: list[dict[str, Any]] = []
            for proc in procs:
                out, err = proc.communicate(timeout=1800)
                if proc.returncode != 0 or not out.strip():
                    results.append({"n": 0, "errors": [f"exit {proc.returncode}: {err[-1500:]}"]})
                else:
                    results.append(json.loads(out.strip().splitlines()[-1]))
            late = [r for r in results if r.get("begin", start_at) - start_at > 0.5]
            stored = ln.File.select(key__startswith="writer_").count()
        finally:
            drop()
    errors = [e for r in results for e in r["errors"]]
    total = writers * per_writer
    done = [r for r in results if "end" in r]
    span = max(r["end"] for r in done) - start_at if done else float("nan")
    slowest = max(r["end"] - r["begin"] for r in done) if done else float("nan")
    ctx.check(
        f"{backend}: {writers} writers × {per_writer:,} Files, aggregate",
        total / span,
        "files/s",
        detail=f"{total:,} Files in {span:.2f} s from the common start; {stored:,} stored"
        + (f"; {len(late)} writers started over 0.5 s late (still importing)" if late else ""),
    )
    ctx.check(
        f"{backend}: the slowest writer",
        slowest,
        "s",
        detail=f"{per_writer / slowest:,.0f} files/s for it; fastest {min(r['end'] - r['begin'] for r in done):.2f} s",
    )
    ctx.check(f"{backend}: errors", len(errors) + (total - stored if stored < total else 0), "", "==", 0)
    for error in errors[:3]:
        ctx.note(f"{backend} writer error: {error}")
    ctx.metric(f"{backend} writers", results)


@step("writers", "8 processes registering 10,000 Files each in place at once, SQLite", "0 errors; report files/s")
def writers_sqlite(ctx: Context) -> None:
    """One SQLite instance, 8 concurrent writers (quick: 30 Files each)."""
    many_writers(ctx, "SQLite")


@step("writers_pg", "8 processes registering 10,000 Files each in place at once, PostgreSQL", "0 errors")
def writers_pg(ctx: Context) -> None:
    """One PostgreSQL instance (a new database), 8 concurrent writers (quick: 30 Files each)."""
    many_writers(ctx, "PostgreSQL")
