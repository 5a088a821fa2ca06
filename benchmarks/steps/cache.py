"""What a cache hit of ``@ln.tracked(cache=True)`` costs next to running, and the check per input File."""

from __future__ import annotations

from typing import Any

from benchmarks.data import init_instance
from benchmarks.harness import Context, fresh, fresh_check, median, step, timed


def _inputs(ctx: Context, ln: Any, n: int) -> str:
    """``n`` small files registered in place under ``inputs/``; returns the key prefix."""
    folder = ctx.work / "bench-storage" / "inputs"
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{i:06d}.txt").write_text(f"{i}\n")
    ln.save(ln.File.from_dir(folder))
    return "inputs/"


def _reader(ln: Any, cache: bool) -> Any:
    def read_inputs(prefix: str) -> int:
        """Reads every File under ``prefix`` through the registry (so each is a run input)."""
        return sum(int(f.open().read()) for f in ln.File.select(key__startswith=prefix).all())

    return ln.tracked(cache=cache, name=f"read_inputs_{'cached' if cache else 'plain'}")(read_inputs)


def _hits(ln: Any, fn: Any, prefix: str, expected: int, reps: int) -> tuple[float, list[float]]:
    """(seconds of the first hit, which hashes every input once; seconds of the warm hits)."""
    before = ln.Run.select(status="cached").count()
    first, value = timed(lambda: fn(prefix))
    warm = [timed(lambda: fn(prefix))[0] for _ in range(reps)]
    if ln.Run.select(status="cached").count() != before + 1 + reps or value != expected:
        raise AssertionError("a call expected to hit the cache ran its body")
    return first, warm


@step(
    "cache_hit",
    "@ln.tracked(cache=True) hit on 1,000 input Files, next to a cold run that reads them",
    "≤ 5 % of the cold run",
)
def cache_hit(ctx: Context) -> None:
    """One function reading 1,000 small local Files: cold runs (cache=False) and warm cache hits, taking turns."""
    ln = init_instance(ctx)
    n = ctx.size(1000, 50)
    prefix = _inputs(ctx, ln, n)
    expected = sum(range(n))
    plain, cached = _reader(ln, False), _reader(ln, True)
    if cached(prefix) != expected:  # the run a hit reuses
        raise AssertionError("wrong sum")
    first_hit, _ = _hits(ln, cached, prefix, expected, 0)
    cold, warm = [], []
    for _ in range(ctx.size(5, 2)):
        cold.append(timed(lambda: plain(prefix))[0])
        warm.append(timed(lambda: cached(prefix))[0])
    if ln.Run.select(status="cached").count() != 1 + len(warm):
        raise AssertionError("a call expected to hit the cache ran its body")
    ratio = median(warm) / median(cold)
    ctx.check(
        f"cache hit / cold run, {n} input Files",
        ratio * 100,
        "%",
        "<=",
        5,
        detail=f"median cold run {median(cold) * 1000:.1f} ms, warm hit {median(warm) * 1000:.1f} ms,"
        f" first hit (hashes every input once) {first_hit * 1000:.1f} ms",
    )
    ctx.metric("cold_s", cold)
    ctx.metric("hit_s", warm)
    ctx.metric("first_hit_s", first_hit)
    _fresh_hit(ctx, prefix, expected)


_FRESH_READER = """
@ln.tracked(cache={cache}, name="read_inputs_{name}", version="1")
def read_inputs(prefix):
    return sum(int(f.open().read()) for f in ln.File.select(key__startswith=prefix).all())

_out["value"] = read_inputs({prefix!r})
"""


def _fresh_hit(ctx: Context, prefix: str, expected: int) -> None:
    """A script that calls the function once: a cache hit in a fresh process, vs running it (cache off)."""
    runs: dict[str, list[dict]] = {"hit": [], "cold": []}
    fresh(ctx, _FRESH_READER.format(cache=True, name="fresh", prefix=prefix))  # the Run later hits reuse
    for i in range(ctx.size(3, 1)):
        for kind in ("hit", "cold") if i % 2 == 0 else ("cold", "hit"):
            code = _FRESH_READER.format(
                cache=kind == "hit", name="fresh" if kind == "hit" else "fresh_plain", prefix=prefix
            )
            result = fresh(ctx, code)
            if result["value"] != expected:
                raise AssertionError(f"the fresh {kind} call returned {result['value']}, expected {expected}")
            runs[kind].append(result)
    m = {k: median([r["wall"] for r in v]) for k, v in runs.items()}
    s = {k: median([r["step"] for r in v]) for k, v in runs.items()}
    ctx.check(
        "cache hit / cold run, fresh process (the call only)",
        s["hit"] / s["cold"] * 100,
        "%",
        detail=f"the call {s['hit'] * 1000:.0f} ms as a hit, {s['cold'] * 1000:.0f} ms run; whole processes"
        f" {m['hit']:.2f} s and {m['cold']:.2f} s ({m['hit'] / m['cold'] * 100:.0f} %)",
    )
    ctx.metric("fresh", runs)


@step("cache_check", "per input File cost of a cache check with 10,000 input Files (warm stat cache)", "≤ 1 ms")
def cache_check(ctx: Context) -> None:
    """A cache hit of a function that read 10,000 local Files: lookup, latest versions, stat of each file."""
    ln = init_instance(ctx)
    n = ctx.size(10_000, 100)
    prefix = _inputs(ctx, ln, n)
    cached = _reader(ln, True)
    expected = sum(range(n))
    cold = timed(lambda: cached(prefix))[0]
    first_hit, warm = _hits(ln, cached, prefix, expected, ctx.size(5, 2))
    per_file = median(warm) / n * 1000
    ctx.check(
        f"cache check per input File, {n} Files",
        per_file,
        "ms",
        "<=",
        1,
        detail=f"warm hit {median(warm) * 1000:.0f} ms in all; first hit (rehash, fills the stat cache)"
        f" {first_hit * 1000:.0f} ms; the run itself {cold:.2f} s",
    )
    ctx.metric("hit_s", warm)
    ctx.metric("first_hit_s", first_hit)
    ctx.metric("cold_run_s", cold)
    fresh(ctx, _FRESH_READER.format(cache=True, name="check", prefix=prefix))  # the Run later hits reuse
    runs = [fresh(ctx, _FRESH_READER.format(cache=True, name="check", prefix=prefix)) for _ in range(ctx.size(3, 1))]
    if any(r["value"] != expected for r in runs):
        raise AssertionError("a fresh-process cache hit returned another value")
    fresh_check(
        ctx,
        f"cache check per input File, {n} Files, fresh process",
        [dict(r, wall=r["step"] / n * 1000) for r in runs],
        unit="ms",
        detail=f"the hit {median([r['step'] for r in runs]):.2f} s of a {median([r['wall'] for r in runs]):.2f} s script"
        " (the stat cache is in the registry: a new process finds it filled)",
    )
