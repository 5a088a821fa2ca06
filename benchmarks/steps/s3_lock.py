"""SQLite registry + S3 storage (moto server): how long one large save holds the write lock,
measured in the saving process and felt by a second process that writes all along."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from typing import Any

from benchmarks.data import make_files
from benchmarks.harness import Context, Skip, step, timed
from benchmarks.steps.s3 import _s3_helpers, moto_server

# The second writer: saves a Tag every 20 ms until the stop file appears; reports each write's
# latency (its wait for the lock included) and every error, as JSON on stdout.
_WRITER = """
import json, sys, time, traceback
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
        errors.append(f"{type(error).__name__}: {error}"[:300])
    waits.append(time.perf_counter() - start)
    time.sleep(0.02)
print(json.dumps({"waits": waits, "errors": errors}))
"""


def _lock_meter(engine: Any) -> dict[str, list[float]]:
    """Record how long each write transaction of ``engine`` holds SQLite's write lock (BEGIN IMMEDIATE .. COMMIT)."""
    import sqlalchemy as sa

    held: dict[str, list[float]] = {"held": []}

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:  # after lamin_flows' own listener: BEGIN IMMEDIATE has the lock
        if conn.get_execution_options().get("lamin_write"):
            conn.info["lock_t0"] = time.perf_counter()

    def _end(conn: Any) -> None:
        t0 = conn.info.pop("lock_t0", None)
        if t0 is not None:
            held["held"].append(time.perf_counter() - t0)

    sa.event.listen(engine, "commit", _end)
    sa.event.listen(engine, "rollback", _end)
    return held


@step(
    "s3_lock",
    "save 6,000 files into S3 (moto server) with a SQLite registry while a second process writes",
    "write lock held < 2 s; the second writer never fails",
)
def s3_lock(ctx: Context) -> None:
    """``from_dir`` (uploads to staging) then one ``ln.save`` of all Files, with a Tag writer in another process."""
    helpers = _s3_helpers()
    try:
        import s3fs  # noqa: F401
    except ImportError as error:
        raise Skip(f"s3fs is not installed ({error})") from error
    n = ctx.size(6_000, 20)
    folder = ctx.work / "lock-upload"
    make_files(folder, n, size=1024)
    with moto_server(ctx) as endpoint, helpers.aws_test_env(endpoint):
        bucket = helpers.create_bucket(endpoint, f"bench-{uuid.uuid4().hex[:10]}")
        import lamin_flows as ln
        from lamin_flows.registry import instance

        ln.setup.init(storage=f"s3://{bucket}", name="bench-lock")
        stage, files = timed(lambda: ln.File.from_dir(folder))
        stop, ready = ctx.work / "lock-stop", ctx.work / "lock-ready"
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(stop), str(ready)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ctx.child_env(LAMIN_INSTANCE="bench-lock"),
        )
        try:
            deadline = time.monotonic() + 120
            while not ready.exists():
                if writer.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the second writer did not start: {writer.stderr.read()[-2000:] if writer.stderr else ''}"
                    )
                time.sleep(0.05)
            time.sleep(0.5)  # a few writes before the save
            meter = _lock_meter(instance.current().engine)
            save, _ = timed(lambda: ln.save(files))
            time.sleep(0.5)  # and a few after
        finally:
            stop.touch()
            out, err = writer.communicate(timeout=120)
        if writer.returncode != 0:
            raise AssertionError(f"the second writer failed: {err[-2000:]}")
        second = json.loads(out.strip().splitlines()[-1])
        saved = ln.File.select(is_latest=True).count()
    if saved != n or not all(f.is_saved for f in files):
        raise AssertionError(f"expected {n} saved Files, the registry holds {saved}")
    held = max(meter["held"], default=0.0)
    waits = second["waits"]
    ctx.check(
        f"write lock held, save of {n:,} files",
        held,
        "s",
        "<=",
        2,
        detail=f"{len(meter['held'])} write transaction(s); the whole save {save:.1f} s, staging {stage:.1f} s",
    )
    ctx.check(
        "second writer's longest write",
        max(waits, default=0.0),
        "s",
        detail=f"{len(waits)} writes from 0.5 s before to 0.5 s after the save, median {sorted(waits)[len(waits) // 2] * 1000:.0f} ms"
        if waits
        else "no writes",
    )
    ctx.check(
        "second writer's errors", len(second["errors"]), "errors", "<=", 0, detail="; ".join(second["errors"][:2])
    )
    ctx.metric("lock_held_s", meter["held"])
    ctx.metric("save_s", save)
    ctx.metric("stage_s", stage)
    ctx.metric("second_writer_waits_s", waits)
