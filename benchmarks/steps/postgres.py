"""The ingest and query steps on PostgreSQL (127.0.0.1:5432), in a database made for the run and dropped after."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from benchmarks.data import init_instance, make_files, populate, register_folder
from benchmarks.harness import Context, Skip, fresh, median, run_python, step, timed
from benchmarks.steps.imports import _COLD
from benchmarks.steps.queries import measure_queries
from benchmarks.steps.registering import _FRESH_REGISTER

SERVER = os.environ.get("LAMIN_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _admin() -> Any:
    import sqlalchemy as sa

    return sa.create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")


def create_database(ctx: Context) -> str:
    """A new, empty database ``lamin_flows_bench_<random>``; listed for the parent to drop if we die."""
    import sqlalchemy as sa

    name = f"lamin_flows_bench_{uuid.uuid4().hex[:10]}"
    engine = _admin()
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar()
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        raise Skip(f"PostgreSQL is not reachable at {SERVER} ({type(error).__name__}: {error})") from error
    finally:
        engine.dispose()
    with open(ctx.work / "pg-databases.txt", "a") as fh:
        fh.write(name + "\n")
    ctx.metric("server_version", version)
    return name


def drop_database(name: str) -> None:
    """Drop a benchmark database (closing other connections to it)."""
    import sqlalchemy as sa

    engine = _admin()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@step("postgres", "register and query steps on PostgreSQL", "report")
def postgres(ctx: Context) -> None:
    """10,000 files registered in place, 100,000 records saved, queried warm and from a new process."""
    name = create_database(ctx)
    try:
        _measure(ctx, f"{SERVER}/{name}")
    finally:
        from lamin_flows.registry.db import dispose_all

        dispose_all()
        drop_database(name)


def _measure(ctx: Context, url: str) -> None:
    ln = init_instance(ctx, db=url)
    n_files = ctx.size(10_000, 200)
    folder = ln.settings.storage / "inside"
    make_files(folder, n_files)
    seconds, files = timed(lambda: register_folder(ln, folder))
    if len(files) != n_files:
        raise AssertionError(f"expected {n_files} Files, got {len(files)}")
    ctx.check(f"register {n_files:,} files × 1 KiB in place", n_files / seconds, "files/s", detail=f"{seconds:.2f} s")
    fresh_runs: list[dict[str, Any]] = []
    for rep in range(ctx.size(3, 1)):
        other = ln.settings.storage / f"fresh_{rep}"
        make_files(other, n_files)
        result = fresh(ctx, _FRESH_REGISTER, pre=f"folder = {str(other)!r}")
        if result["n"] != n_files:
            raise AssertionError(f"expected {n_files} Files, got {result['n']}")
        fresh_runs.append(result)
    ctx.check(
        f"register {n_files:,} in place, fresh process",
        n_files / median([r["wall"] for r in fresh_runs]),
        "files/s",
        detail=f"median {median([r['wall'] for r in fresh_runs]):.2f} s per process (import + first use"
        f" {median([r['import'] for r in fresh_runs]):.2f} s, from_dir + save {median([r['step'] for r in fresh_runs]):.2f} s)",
    )
    ctx.metric("fresh_register", fresh_runs)
    n = ctx.size(100_000, 1_000)
    seconds, info = timed(lambda: populate(n))
    ctx.check(f"save {n:,} File records (+ tag links)", n / seconds, "records/s", detail=f"{seconds:.2f} s")
    measure_queries(ctx, ln, info, n + n_files, target=None)
    walls = []
    for _ in range(ctx.size(5, 1)):
        wall, out = run_python(_COLD.format(prefix=info["prefix"]), ctx.child_env(), cwd=ctx.work)
        walls.append(wall)
        if json.loads(out)["rows"] != info["prefix_rows"]:
            raise AssertionError("the cold-start query gave another number of rows")
    ctx.check("new process → .df() by key prefix", median(walls), "s", detail="import + connect + query + pandas")
    ctx.metric("cold_start_s", walls)
