"""Registering many small files: copied in from outside storage, and already inside it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.data import init_instance, make_files, register_folder
from benchmarks.harness import Context, median, run_command, step, timed


@step(
    "register_outside",
    "register 10,000 files of 1 KiB from a folder outside storage (from_dir + save)",
    "≥ 3,000 files/s",
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
    _register_outside_on_tmpfs(ctx, ln, n)


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
            detail=f"median {median(times):.2f} s; `cp -r` {median(cps):.2f} s; registry on disk",
        )
        ctx.metric("tmpfs_seconds", times)
        ctx.metric("tmpfs_cp_seconds", cps)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@step("register_inside", "register 10,000 files of 1 KiB already inside storage (from_dir + save)", "≥ 10,000 files/s")
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
    ctx.check(
        f"{n:,} files × 1 KiB in place",
        rate,
        "files/s",
        ">=",
        10000,
        detail=f"median {median(times):.2f} s; `find | xargs md5sum` of the folder {median(md5s):.2f} s",
    )
    ctx.metric("seconds", times)
    ctx.metric("md5sum_seconds", md5s)
