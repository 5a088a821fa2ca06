"""What a new version costs next to a first save (1 KiB and 1 GiB), and queries over 100,000 keys x 3 versions."""

from __future__ import annotations

import os

from benchmarks.data import init_instance, populate
from benchmarks.harness import Context, fresh, fresh_check, median, run_command, step, timed
from benchmarks.steps.large_file import write_random
from benchmarks.steps.queries import measure_queries


@step(
    "versions_small",
    "save a new version of a 1 KiB file under a known key, next to a first save",
    "≤ 1.2 × the first save",
)
def versions_small(ctx: Context) -> None:
    """Saves of 1 KiB files copied in: under fresh keys (first versions) and as new versions of one key, interleaved."""
    ln = init_instance(ctx)
    src = ctx.work / "small.txt"
    calls = ctx.size(200, 10)
    runs: dict[str, list[float]] = {"first": [], "new_version": []}
    for i in range(calls):
        src.write_text(f"{i:08d}" + "x" * 1016)  # 1 KiB, new content every time
        for kind in ("first", "new_version") if i % 2 == 0 else ("new_version", "first"):
            key = f"first/{i}.txt" if kind == "first" else "versions/one.txt"
            if kind == "new_version":
                src.write_text(f"v{i:07d}" + "x" * 1016)
            seconds, file = timed(lambda: ln.File(src, key=key).save())
            runs[kind].append(seconds)
    latest = ln.File.select(key="versions/one.txt").one()
    if latest.version != str(calls) or len(latest.versions) != calls:
        raise AssertionError(f"expected {calls} versions of versions/one.txt, got {latest.version!r}")
    first, new = median(runs["first"]), median(runs["new_version"])
    ctx.check(
        "new version / first save, 1 KiB",
        new / first,
        "x",
        "<=",
        1.2,
        detail=f"median first save {first * 1000:.2f} ms, new version {new * 1000:.2f} ms ({calls} each)",
    )
    ctx.metric("save_s", runs)
    # fresh processes, taking turns: a first save under a new key, and a new version of the same key
    procs: dict[str, list[dict]] = {"first": [], "new_version": []}
    for i in range(ctx.size(5, 1)):
        for kind in ("first", "new_version") if i % 2 == 0 else ("new_version", "first"):
            key = f"fresh/{i}.txt" if kind == "first" else "versions/one.txt"
            body = f"src.write_text({f'{kind[0]}{i:07d}' + 'x' * 1016!r})\nln.File(src, key={key!r}).save()"
            procs[kind].append(fresh(ctx, body, pre=f"import pathlib\nsrc = pathlib.Path({str(src)!r})"))
    m = {k: median([r["wall"] for r in v]) for k, v in procs.items()}
    s = {k: median([r["step"] for r in v]) for k, v in procs.items()}
    ctx.check(
        "new version / first save, 1 KiB, fresh process",
        m["new_version"] / m["first"],
        "x",
        "<=",
        1.2,
        detail=f"process {m['first']:.3f} s (save {s['first'] * 1000:.1f} ms) for a first save,"
        f" {m['new_version']:.3f} s (save {s['new_version'] * 1000:.1f} ms) for a new version",
    )
    ctx.metric("fresh", procs)


@step(
    "versions_large",
    "save a new version of a 1 GiB file under a known key, next to its first save",
    "≤ 1.2 × the first save",
)
def versions_large(ctx: Context) -> None:
    """First save of a 1 GiB file under a fresh key, then a new version (other content) of that key.

    As in the large_file step, each save runs right after an untimed copy of the same size, and
    dirty pages are flushed first. The older version's bytes are kept by a hard link: no copy.
    """
    size = ctx.size(1 << 30, 32 << 20)
    ln = init_instance(ctx)
    a, b = ctx.work / "a.bin", ctx.work / "b.bin"
    write_random(a, size)
    write_random(b, size)
    copy = ctx.work / "copy.bin"
    runs: dict[str, list[float]] = {"first": [], "new_version": []}

    def warm() -> None:
        run_command(["cp", str(a), str(copy)])
        copy.unlink()
        os.sync()

    for rep in range(ctx.size(3, 1)):
        key = f"big/{rep}.bin"
        warm()
        runs["first"].append(timed(lambda: ln.File(a, key=key).save())[0])
        warm()
        seconds, file = timed(lambda: ln.File(b, key=key).save())
        runs["new_version"].append(seconds)
        if file.version != "2" or ln.File.select(id=file.versions[0].id).one().size != size:
            raise AssertionError(f"expected version 2 of {key}, got {file!r}")
        for version in file.versions.all()[::-1]:
            version.delete(storage=True)
    procs: dict[str, list[dict]] = {"first": [], "new_version": []}
    for rep in range(ctx.size(2, 1)):
        key = f"big/fresh_{rep}.bin"
        for kind, src in (("first", a), ("new_version", b)):
            warm()
            body = f"_out['version'] = ln.File(src, key={key!r}).save().version"
            procs[kind].append(fresh(ctx, body, pre=f"import pathlib\nsrc = pathlib.Path({str(src)!r})"))
        if [p["version"] for p in (procs["first"][-1], procs["new_version"][-1])] != ["1", "2"]:
            raise AssertionError("the fresh-process saves did not give versions 1 and 2")
    fresh_first = median([p["wall"] for p in procs["first"]])
    fresh_new = median([p["wall"] for p in procs["new_version"]])
    ctx.check(
        "new version / first save, 1 GiB, fresh process",
        fresh_new / fresh_first,
        "x",
        detail=f"whole scripts: first save {fresh_first:.2f} s, new version {fresh_new:.2f} s"
        f" (import + first use {median([p['import'] for p in procs['first']]):.2f} s)",
    )
    ctx.metric("fresh", procs)
    first, new = median(runs["first"]), median(runs["new_version"])
    ctx.check(
        "new version / first save, 1 GiB",
        new / first,
        "x",
        "<=",
        1.2,
        detail=f"median first save {first:.2f} s, new version {new:.2f} s",
    )
    ctx.metric("save_s", runs)


@step("versions_query", "query 100,000 keys x 3 versions by key prefix, and by tag (latest versions)", "≤ 150 ms each")
def versions_query(ctx: Context) -> None:
    """300,000 File records: 3 versions of 100,000 keys (SQLite); the queries see latest versions only."""
    n = ctx.size(100_000, 1_000)
    ln = init_instance(ctx)
    seconds, info = timed(lambda: populate(n, versions=3))
    ctx.metric("populate_records_per_s", 3 * n / seconds)
    measure_queries(ctx, ln, info, n, target=150)
    runs = [
        fresh(ctx, f"_out['rows'] = len(ln.File.select(key__startswith={info['prefix']!r}).df())")
        for _ in range(ctx.size(5, 1))
    ]
    if any(r["rows"] != info["prefix_rows"] for r in runs):
        raise AssertionError("the fresh-process prefix query gave another number of rows")
    fresh_check(
        ctx,
        f"by key prefix, fresh process → .df() of {info['prefix_rows']:,} (latest of 3 versions)",
        runs,
        detail=f"the query {median([r['step'] for r in runs]) * 1000:.0f} ms of it (incl. importing pandas)",
    )
