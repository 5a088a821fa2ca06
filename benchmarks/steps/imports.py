"""Starting up: ``import lamin_flows`` in a fresh process, and a first query in a new process."""

from __future__ import annotations

import json

from benchmarks.data import init_instance, populate
from benchmarks.harness import Context, fresh, median, run_python, step

HEAVY = ("prefect", "pandas", "pyarrow", "anndata", "s3fs")

_IMPORT = """
import json, sys, time
t0 = time.perf_counter()
import lamin_flows
t1 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""

_FIRST_USE = """
import json, sys, time
t0 = time.perf_counter()
import lamin_flows as ln
ln.File
t1 = time.perf_counter()
layers = sorted(m for m in ("sqlalchemy", "sqlmodel", "pydantic", "pydantic_settings", "alembic", "rich", "pandas")
                if m in sys.modules)
print(json.dumps({{"seconds": t1 - t0, "layers": layers}}))
"""

_COLD = """
import json, time
t0 = time.perf_counter()
import lamin_flows as ln
t1 = time.perf_counter()
df = ln.File.select(key__startswith={prefix!r}).df()
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "query": t2 - t1, "rows": len(df)}}))
"""


@step(
    "import",
    "`import lamin_flows`, then the first use of ln.File, in a fresh process; setup.init of a new instance",
    "import + first use ≤ 0.45 s, no prefect/pandas/pyarrow/anndata/s3fs after the bare import",
)
def import_time(ctx: Context) -> None:
    """Median over fresh processes; also ``import`` + first access of ``ln.File`` (the registry layer)."""
    runs, walls, baseline, first_use = [], [], [], []
    for _ in range(ctx.size(9, 1)):
        baseline.append(run_python("pass", ctx.child_env())[0])
        wall, out = run_python(_IMPORT.format(heavy=HEAVY), ctx.child_env())
        walls.append(wall)
        runs.append(json.loads(out))
        first_use.append(json.loads(run_python(_FIRST_USE.format(), ctx.child_env())[1]))
    heavy = sorted({m for r in runs for m in r["heavy"]})
    ctx.check(
        "import lamin_flows",
        median([r["import"] for r in runs]),
        "s",
        "<=",
        0.45,
        detail=f"whole process {median(walls):.3f} s, of which {median(baseline):.3f} s is `python -c pass`",
    )
    ctx.check(
        "heavy modules imported",
        len(heavy),
        "modules",
        "==",
        0,
        detail=", ".join(heavy) or f"none of {', '.join(HEAVY)}",
    )
    ctx.check(
        "import + first use of ln.File",
        median([r["seconds"] for r in first_use]),
        "s",
        "<=",
        0.45,
        detail="loads the registry layer: " + ", ".join(first_use[0]["layers"]),
    )
    inits = [
        fresh(
            ctx,
            f"ln.setup.init(storage={str(ctx.work / f'init-{i}')!r}, name='init-{i}')",
            imports="import lamin_flows as ln",
        )
        for i in range(ctx.size(5, 1))
    ]
    ctx.check(
        "setup.init of a new instance, fresh process",
        median([r["wall"] for r in inits]),
        "s",
        detail=f"init itself {median([r['step'] for r in inits]):.2f} s (creates the SQLite database, runs the"
        f" migrations, writes the settings); median of {len(inits)} processes",
    )
    ctx.metric("init_fresh", inits)
    ctx.metric("import_s", [r["import"] for r in runs])
    ctx.metric("first_use_s", [r["seconds"] for r in first_use])
    ctx.metric("process_wall_s", walls)
    ctx.metric("python_pass_s", baseline)


@step(
    "cold_start",
    "new process: import, `ln.File.select(key__startswith=...).df()` on 100k Files",
    "≤ 0.8 s, and no slower than `import sqlmodel, pandas`",
)
def cold_start(ctx: Context) -> None:
    """Wall time of a whole new process that imports and queries (interpreter start included)."""
    n = ctx.size(100_000, 1_000)
    init_instance(ctx)
    info = populate(n)
    runs, floor = [], []
    for _ in range(ctx.size(7, 1)):
        wall, out = run_python(_COLD.format(prefix=info["prefix"]), ctx.child_env(), cwd=ctx.work)
        runs.append((wall, json.loads(out)))
        # the floor: a process that only imports what .df() cannot do without
        floor.append(run_python("import sqlmodel, pandas", ctx.child_env(), cwd=ctx.work)[0])
    rows = runs[0][1]["rows"]
    if rows != info["prefix_rows"]:
        raise AssertionError(f"the prefix query gave {rows} rows, expected {info['prefix_rows']}")
    wall = median([w for w, _ in runs])
    ctx.check(
        f"new process → .df() of {rows:,} of {n:,} Files",
        wall,
        "s",
        "<=",
        0.8,
        detail=f"import {median([r['import'] for _, r in runs]):.3f} s + first query "
        f"{median([r['query'] for _, r in runs]):.3f} s (incl. SQLAlchemy, pandas imports) + interpreter",
    )
    ctx.check(
        "above `python -c 'import sqlmodel, pandas'`",
        wall - median(floor),
        "s",
        "<=",
        0,
        detail=f"that process alone takes {median(floor):.3f} s",
    )
    ctx.metric("wall_s", [w for w, _ in runs])
    ctx.metric("floor_s", floor)
    ctx.metric("inside", [r for _, r in runs])
