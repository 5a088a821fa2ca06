"""A 1,000,000 × 10 DataFrame saved and loaded, against plain ``to_parquet`` / ``read_parquet``."""

from __future__ import annotations

from benchmarks.data import init_instance
from benchmarks.harness import Context, fresh, median, step, timed


@step("dataframe", "save and load a 1,000,000 × 10 DataFrame", "≤ 1.15 × plain to_parquet / read_parquet")
def dataframe(ctx: Context) -> None:
    """``ln.File(df, key=...).save()`` and ``file.load()``, interleaved with the plain pandas calls.

    Each save gets new content (one cell changes), so no run is answered by the duplicate check.
    """
    import numpy as np
    import pandas as pd

    rows = ctx.size(1_000_000, 10_000)
    ln = init_instance(ctx)
    df = pd.DataFrame(np.random.default_rng(0).random((rows, 10)), columns=[f"c{i}" for i in range(10)])
    plain = ctx.work / "plain"
    plain.mkdir()
    runs: dict[str, list[float]] = {"save": [], "load": [], "to_parquet": [], "read_parquet": []}
    reps = ctx.size(13, 1)  # a write varies by ±20% here: many rounds for a steady median
    warm_up = ctx.size(2, 1)
    # The first rounds warm up: the first writes and reads of 80 MB arrays in a process pay for
    # page faults (and malloc's growing thresholds) that later rounds do not. Then the two
    # contestants take turns going first.
    file, path = None, None
    for rep in range(-warm_up, reps):
        df.iat[0, 0] = float(rep)
        path = plain / f"df_{rep}.parquet"
        key = f"frames/df_{rep}.parquet"
        pair = [("to_parquet", lambda: df.to_parquet(path)), ("save", lambda: ln.File(df, key=key).save())]
        for name, call in pair if rep % 2 else pair[::-1]:
            seconds, result = timed(call)
            if name == "save":
                file = result
            if rep >= 0:
                runs[name].append(seconds)
    assert file is not None and path is not None
    # Loads read the last pair of files again and again (both written the same way, both in the
    # page cache): the figure is what load() adds to the read itself.
    for rep in range(-warm_up, reps):
        pair = [("read_parquet", lambda: pd.read_parquet(path)), ("load", file.load)]
        for name, call in pair if rep % 2 else pair[::-1]:
            seconds, loaded = timed(call)
            if rep >= 0:
                runs[name].append(seconds)
    pd.testing.assert_frame_equal(loaded, df)
    ctx.metric("file", {"size": file.size, "hash_type": file.hash_type})
    m = {k: median(v) for k, v in runs.items()}
    shape = f"{rows:,} × 10"
    ctx.check(
        f"save {shape} vs to_parquet",
        m["save"] / m["to_parquet"],
        "×",
        "<=",
        1.15,
        detail=f"save {m['save']:.3f} s, to_parquet {m['to_parquet']:.3f} s",
    )
    ctx.check(
        f"load {shape} vs read_parquet",
        m["load"] / m["read_parquet"],
        "×",
        "<=",
        1.15,
        detail=f"load {m['load']:.3f} s, read_parquet {m['read_parquet']:.3f} s",
    )
    for name, values in runs.items():
        ctx.metric(f"{name}_s", values)
    _fresh(ctx, rows, shape)


_MAKE_DF = """
import numpy as np, pandas as pd
df = pd.DataFrame(np.random.default_rng({seed}).random(({rows}, 10)), columns=[f"c{{i}}" for i in range(10)])
"""


def _fresh(ctx: Context, rows: int, shape: str) -> None:
    """Each in a new process that has built the DataFrame (untimed): ``ln.File(df, key).save()`` vs ``to_parquet``."""
    runs: dict[str, list[dict]] = {"save": [], "to_parquet": []}
    for rep in range(ctx.size(5, 1)):
        pre = _MAKE_DF.format(seed=rep + 1, rows=rows)
        order = ("save", "to_parquet") if rep % 2 == 0 else ("to_parquet", "save")
        for name in order:
            if name == "save":
                runs[name].append(fresh(ctx, f"ln.File(df, key='fresh/df_{rep}.parquet').save()", pre=pre))
            else:
                path = ctx.work / f"fresh_{rep}.parquet"
                runs[name].append(fresh(ctx, f"df.to_parquet({str(path)!r})", pre=pre, imports=""))
    m = {k: median([r["wall"] for r in v]) for k, v in runs.items()}
    ctx.check(
        f"save {shape} in a fresh process vs to_parquet in one",
        m["save"] / m["to_parquet"],
        "×",
        "<=",
        1.15,
        detail=f"process (after building the DataFrame) {m['save']:.2f} s with ln.File(df).save(), "
        f"{m['to_parquet']:.2f} s with df.to_parquet; import + first use of ln.File "
        f"{median([r['import'] for r in runs['save']]):.2f} s",
    )
    ctx.metric("fresh", runs)
