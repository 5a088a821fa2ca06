"""Queries over 100,000 Files into a DataFrame: by key prefix and by tag."""

from __future__ import annotations

from typing import Any

from benchmarks.data import init_instance, populate
from benchmarks.harness import Context, fresh, median, step, timed


def measure_queries(ctx: Context, ln: Any, info: dict[str, Any], n: int, *, target: float | None) -> None:
    """Median times of the prefix and the tag query (warm process), as checks."""
    tag = ln.Tag.select(name=info["tag"]).one()
    queries = {
        "prefix": lambda: ln.File.select(key__startswith=info["prefix"]).df(),
        "tag": lambda: ln.File.select(tags=tag).df(),
        "tag_name": lambda: ln.File.select(tags__name=info["tag"]).df(),
    }
    first = {name: timed(q)[0] for name, q in queries.items()}  # the first pays for importing pandas
    runs: dict[str, list[float]] = {name: [] for name in queries}
    for _ in range(ctx.size(9, 1)):
        for name, query in queries.items():
            seconds, df = timed(query)
            runs[name].append(seconds)
            want = info["prefix_rows"] if name == "prefix" else info["tag_rows"]
            if len(df) != want:
                raise AssertionError(f"the {name} query gave {len(df)} rows, expected {want}")
    op = None if target is None else "<="
    ctx.check(
        f"by key prefix: {info['prefix_rows']:,} of {n:,} rows",
        median(runs["prefix"]) * 1000,
        "ms",
        op,
        target,
        detail=f'key__startswith="{info["prefix"]}"; first call {first["prefix"] * 1000:.0f} ms',
    )
    ctx.check(
        f"by tag: {info['tag_rows']:,} of {n:,} rows",
        median(runs["tag"]) * 1000,
        "ms",
        op,
        target,
        detail=f"tags=tag; tags__name=... {median(runs['tag_name']) * 1000:.0f} ms",
    )
    ctx.metric("query_s", runs)
    ctx.metric("first_query_s", first)


@step("query", "query 100,000 Files by key prefix, and by tag, into a DataFrame", "≤ 150 ms each")
def query(ctx: Context) -> None:
    """100,000 File records with 10 Tags (SQLite); medians in a warm process."""
    n = ctx.size(100_000, 1_000)
    ln = init_instance(ctx)
    seconds, info = timed(lambda: populate(n))
    ctx.metric("populate_records_per_s", n / seconds)
    measure_queries(ctx, ln, info, n, target=150)
    runs = [
        fresh(ctx, f"_out['rows'] = len(ln.File.select(tags__name={info['tag']!r}).df())")
        for _ in range(ctx.size(5, 1))
    ]
    if any(r["rows"] != info["tag_rows"] for r in runs):
        raise AssertionError("the fresh-process tag query gave another number of rows")
    ctx.check(
        f"by tag, fresh process → .df() of {info['tag_rows']:,}",
        median([r["wall"] for r in runs]),
        "s",
        detail=f"the query {median([r['step'] for r in runs]) * 1000:.0f} ms (incl. importing pandas);"
        f" import + first use {median([r['import'] for r in runs]):.2f} s; by prefix: see cold_start",
    )
    ctx.metric("fresh_tag_query", runs)
