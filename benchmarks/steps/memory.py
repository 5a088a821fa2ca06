"""Peak memory of a process that registers 100,000 files (``from_dir`` + ``save``, in place)."""

from __future__ import annotations

import json
import resource

from benchmarks.data import init_instance, make_files
from benchmarks.harness import Context, run_python, step

_REGISTER = """
import json, time

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024 / 1e6

t0 = time.perf_counter()
import lamin_flows as ln
ln.File
rss_start = status("VmRSS")
files = ln.File.from_dir({folder!r})
ln.save(files)
print(json.dumps({{"n": len(files), "seconds": time.perf_counter() - t0, "rss_start_mb": rss_start,
                  "hwm_mb": status("VmHWM")}}))
"""


@step("peak_rss", "peak memory while registering 100,000 files", "≤ 500 MB RSS")
def peak_rss(ctx: Context) -> None:
    """The registering process is a child: its peak RSS comes from ``getrusage(RUSAGE_CHILDREN)``."""
    n = ctx.size(100_000, 500)
    ln = init_instance(ctx)
    folder = ln.settings.storage / "many"
    make_files(folder, n, size=1024)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    _, out = run_python(_REGISTER.format(folder=str(folder)), ctx.child_env(), cwd=ctx.work, timeout=1200)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = json.loads(out)
    if result["n"] != n:
        raise AssertionError(f"expected {n} Files, got {result['n']}")
    if peak_kib <= before:
        ctx.note("an earlier child process had a higher peak; the figure is the child's own VmHWM")
    peak_mb = result["hwm_mb"] if peak_kib <= before else peak_kib * 1024 / 1e6
    ctx.check(
        f"registering {n:,} files in place",
        peak_mb,
        "MB RSS",
        "<=",
        500,
        detail=f"{result['rss_start_mb']:.0f} MB after import; {n / result['seconds']:,.0f} files/s "
        f"({result['seconds']:.1f} s, including interpreter start)",
    )
    ctx.metric("child", result)
    ctx.metric("ru_maxrss_kib", peak_kib)
