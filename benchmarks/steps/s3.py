"""S3 on a moto server: upload 1,000 files of 64 KiB, then stage them twice (the second time from cache)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.data import make_files, register_folder
from benchmarks.harness import REPO, Context, Skip, fresh, fresh_check, median, step, timed

# The server runs in its own process: moto is Python, and in the benchmark's process it would
# compete with the client for the GIL and count its own work as ours.
_SERVER = """
import sys
sys.path.insert(0, {tests!r})
from _s3 import start_moto_server
server, endpoint = start_moto_server()
print(endpoint, flush=True)
sys.stdin.read()
server.stop()
"""


def _s3_helpers() -> Any:
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    try:
        return importlib.import_module("_s3")
    except ImportError as error:
        raise Skip(f"tests/_s3.py (the moto helper) is not importable: {error}") from error


@contextmanager
def moto_server(ctx: Context) -> Iterator[str]:
    """A moto S3 server in a child process; yields its endpoint URL and stops it afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER.format(tests=str(REPO / "tests"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=ctx.child_env(),
    )
    try:
        endpoint = proc.stdout.readline().strip() if proc.stdout else ""
        if not endpoint.startswith("http"):
            raise Skip("the moto server did not start (is moto[server] installed?)")
        yield endpoint
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@step(
    "s3",
    "upload 1,000 files of 64 KiB to S3 (moto server), then stage them twice",
    "upload ≤ 1.5 × s3fs put; second stage ≤ 5 ms per file",
)
def s3(ctx: Context) -> None:
    """``from_dir`` + ``save`` into an ``s3://`` instance, then ``file.stage()`` for each File, twice."""
    helpers = _s3_helpers()
    try:
        import s3fs
    except ImportError as error:
        raise Skip(f"s3fs is not installed ({error})") from error
    n = ctx.size(1_000, 20)
    folder = ctx.work / "upload"
    make_files(folder, n, size=64 * 1024)
    with moto_server(ctx) as endpoint, helpers.aws_test_env(endpoint):
        bucket = helpers.create_bucket(endpoint, f"bench-{uuid.uuid4().hex[:10]}")
        import lamin_flows as ln

        ln.setup.init(storage=f"s3://{bucket}", name="bench")
        upload, files = timed(lambda: register_folder(ln, folder))
        if len(files) != n or not all(f.is_saved for f in files):
            raise AssertionError(f"expected {n} saved Files")
        first, paths = timed(lambda: [f.stage() for f in files])
        second, again = timed(lambda: [f.stage() for f in files])
        if paths != again or any(p.stat().st_size != 64 * 1024 for p in paths):
            raise AssertionError("staging twice gave different or incomplete local files")
        # the reference: the same folder uploaded with s3fs alone (concurrent PUTs, nothing else)
        fs = s3fs.S3FileSystem()
        raw, _ = timed(lambda: fs.put(str(folder), f"{bucket}/raw", recursive=True))
        procs = []
        for rep in range(ctx.size(2, 1)):
            again_folder = ctx.work / f"upload_fresh_{rep}"
            make_files(again_folder, n, size=64 * 1024)
            body = "files = ln.File.from_dir(folder)\nln.save(files)\n_out['n'] = len(files)"
            procs.append(fresh(ctx, body, pre=f"folder = {str(again_folder)!r}", env=ctx.child_env()))
            if procs[-1]["n"] != n:
                raise AssertionError(f"the fresh-process upload registered {procs[-1]['n']} Files, expected {n}")
    mib = n * 64 / 1024
    ctx.check(
        f"upload {n:,} × 64 KiB (from_dir + save)",
        n / upload,
        "files/s",
        detail=f"{upload:.2f} s, {mib / upload:.1f} MiB/s; s3fs put of the folder alone {raw:.2f} s",
    )
    ctx.check("upload vs s3fs put", upload / raw, "×", "<=", 1.5, detail="warm process; same folder, same server")
    ctx.check("first stage (download)", first / n * 1000, "ms/file")
    ctx.check("second stage (cached)", second / n * 1000, "ms/file", "<=", 5)
    fresh_check(
        ctx,
        f"upload {n:,} × 64 KiB, fresh process, over s3fs put",
        [dict(p, wall=p["wall"] / raw) for p in procs],
        unit="×",
        detail=f"whole scripts {median([p['wall'] for p in procs]):.2f} s; s3fs put {raw:.2f} s",
    )
    ctx.metric("upload_s", upload)
    ctx.metric("s3fs_put_s", raw)
    ctx.metric("stage_s", [first, second])
