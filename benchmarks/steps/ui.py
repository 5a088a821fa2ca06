"""Server time of `lamin ui` pages: the Files list at 100,000 Files, a File page, a lineage page of 1,000 nodes."""

from __future__ import annotations

from typing import Any

from benchmarks.data import fake_hash, init_instance, populate
from benchmarks.harness import Context, fresh, median, step


def _fan_in(ln: Any, producers: int) -> Any:
    """``producers`` Runs that each wrote one File, all read by one Run that wrote a report: a lineage
    graph of 2 x producers + 2 nodes in which no two Files share producer and readers (nothing collapses)."""
    storage_id = ln.Storage.select().one().id
    make = ln.Transform(name="make_part", version="1").save()
    combine = ln.Transform(name="combine", version="1").save()
    runs = [ln.Run(transform=make, status="completed") for _ in range(producers)]
    ln.save(runs)
    parts = [
        ln.File(
            key=f"parts/part_{i:04d}.txt",
            storage_id=storage_id,
            suffix=".txt",
            size=100,
            hash=fake_hash(-i - 1),
            hash_type="md5",
            run_id=run.id,
        )
        for i, run in enumerate(runs)
    ]
    ln.save(parts)
    final = ln.Run(transform=combine, status="completed").save()
    final.inputs.add(*parts)
    return ln.File(
        key="reports/combined.txt",
        storage_id=storage_id,
        suffix=".txt",
        size=10,
        hash=fake_hash(-(10**7)),
        hash_type="md5",
        run_id=final.id,
    ).save()


def _server_ms(client: Any, url: str, repeats: int) -> tuple[float, float]:
    """Median server time (Server-Timing) and median round trip of ``url``, in ms, after one warm-up call."""
    import time

    client.get(url)
    server, total = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(url)
        total.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise AssertionError(f"{url}: HTTP {response.status_code}: {response.text[:500]}")
        server.append(float(response.headers["server-timing"].split("dur=")[1]))
    return median(server), median(total)


@step(
    "ui_pages",
    "lamin ui: Files list at 100,000 Files, a File page, a lineage page of 1,000 nodes (server time)",
    "≤ 200 ms each",
)
def ui_pages(ctx: Context) -> None:
    """100,000 File records (SQLite) and a fan-in of 499 runs; pages served in-process by the app."""
    from starlette.testclient import TestClient

    n = ctx.size(100_000, 1_000)
    producers = ctx.size(499, 20)
    ln = init_instance(ctx)
    populate(n)
    report = _fan_in(ln, producers)
    from lamin_flows.ui import create_app

    client = TestClient(create_app())
    repeats = ctx.size(7, 2)
    middle = client.get("/api/files", params={"limit": 500}).json()["next"]
    some = ln.File.select(key="folder_042/file_000042.txt").one()
    pages = {
        f"Files list, first page of {n:,}": "/files",
        "Files list, sorted by size": "/files?sort=-size",
        "Files list, search": "/files?q=file_00004",
        "Files list, tag filter": "/files?tag=tag_3",
        "Files list, a later page (key set)": f"/files?after={middle}",
        "File page": f"/files/{some.id}",
        f"lineage page, {2 * producers + 2:,} nodes": f"/lineage/file/{report.id}",
    }
    figures: dict[str, Any] = {}
    for label, url in pages.items():
        server, total = _server_ms(client, url, repeats)
        figures[label] = {"server_ms": server, "round_trip_ms": total}
        ctx.check(label, server, "ms", "<=", 200, detail=f"{url.split('?')[0]}; round trip {total:.0f} ms")
    nodes = client.get(f"/api/lineage/file/{report.id}").json()["nodes"]
    if len(nodes) != 2 * producers + 2:
        raise AssertionError(f"the lineage graph has {len(nodes)} nodes, expected {2 * producers + 2}")
    ctx.metric("pages", figures)
    code = (
        "from starlette.testclient import TestClient\nfrom lamin_flows.ui import create_app\n"
        "_b = _time.perf_counter()\nclient = TestClient(create_app())\n"
        f"response = client.get({pages['File page']!r})\n"
        "_out['status'] = response.status_code\n_out['request'] = _time.perf_counter() - _b\n"
        "_out['server_ms'] = float(response.headers['server-timing'].split('dur=')[1])"
    )
    runs = [fresh(ctx, code) for _ in range(ctx.size(5, 1))]
    if any(r["status"] != 200 for r in runs):
        raise AssertionError(f"a fresh process got {[r['status'] for r in runs]} for the File page")
    ctx.check(
        "File page, fresh process (app made, first request)",
        median([r["wall"] for r in runs]),
        "s",
        detail=f"create_app + first request {median([r['request'] for r in runs]) * 1000:.0f} ms"
        f" (server time {median([r['server_ms'] for r in runs]):.0f} ms); import + first use of ln.File"
        f" {median([r['import'] for r in runs]):.2f} s; what `lamin ui` adds at start-up",
    )
    ctx.metric("fresh_file_page", runs)
