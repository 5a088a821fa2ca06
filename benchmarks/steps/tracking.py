"""What ``@ln.tracked`` costs: on a plain function, and on a Prefect flow (each against its untracked twin)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from benchmarks.data import init_instance
from benchmarks.harness import Context, Skip, fresh, fresh_check, median, step, timed

# the tracked call of the target: versions on (the default), caching off, Prefect events and OpenLineage off
_PLAIN_ENV = {"LAMIN_PREFECT_EVENTS": "false", "LAMIN_OPENLINEAGE": "false"}

_FRESH_CALLS = """
@ln.tracked(name="noop", version="1"{cache})
def noop(x):
    return x

times = []
for i in range(11):
    begin = _time.perf_counter()
    noop({arg})
    times.append(_time.perf_counter() - begin)
_out["first"] = times[0]
_out["median"] = sorted(times[1:])[5]
"""


def _tracked_decorator() -> Callable[..., Any]:
    try:
        from lamin_flows.tracking import tracked
    except ImportError as error:
        raise Skip(
            f"lamin_flows.tracking is not importable yet ({error}); this step runs once issue 4 lands"
        ) from error
    return tracked


def _per_call(func: Callable[[int], int], calls: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        func(i)
    return (time.perf_counter() - start) / calls


@step(
    "tracked",
    "`@ln.tracked` overhead on a plain function (vs the same function untracked), and with each feature on",
    "≤ 1 ms per call (fresh process: median of 10 calls)",
)
def tracked_function(ctx: Context) -> None:
    """Loops of calls, tracked and untracked interleaved; overhead = median per-call difference."""
    tracked = _tracked_decorator()
    os.environ.update(_PLAIN_ENV)
    ln = init_instance(ctx)

    def plain(x: int) -> int:
        return x + 1

    traced = tracked()(plain)
    first, _ = timed(lambda: traced(0))  # makes the Transform
    calls = ctx.size(200, 10)
    runs: dict[str, list[float]] = {"tracked": [], "plain": []}
    for _ in range(ctx.size(5, 1)):
        runs["tracked"].append(_per_call(traced, calls))
        runs["plain"].append(_per_call(plain, calls))
    overhead = median(runs["tracked"]) - median(runs["plain"])
    n_runs = len(ln.Run.select().df())
    ctx.check(
        "overhead per call",
        overhead * 1000,
        "ms",
        "<=",
        1,
        detail=f"{calls} calls × {len(runs['tracked'])} loops, each a Run ({n_runs} written); "
        f"untracked call {median(runs['plain']) * 1e6:.2f} µs; first call {first * 1000:.1f} ms; "
        "versions on, caching, Prefect events and OpenLineage off",
    )
    ctx.metric("per_call_s", runs)
    ctx.metric("first_call_s", first)
    _features(ctx, ln, tracked, plain, calls, median(runs["tracked"]))
    _fresh_calls(ctx)


def _features(ctx: Context, ln: Any, tracked: Any, plain: Callable[[int], int], calls: int, base: float) -> None:
    """Per-call time with one feature on: cache=True (a miss with new arguments, a hit with the same), OpenLineage."""
    cached = tracked(cache=True, name="plain_cached")(plain)
    cached(-1)  # the Run every later call with -1 reuses
    per: dict[str, list[float]] = {"cache miss": [], "cache hit": [], "OpenLineage (file transport)": []}
    for rep in range(ctx.size(5, 1)):
        offset = (rep + 1) * 10 * calls
        per["cache miss"].append(_per_call(lambda i: cached(offset + i), calls))  # noqa: B023
        per["cache hit"].append(_per_call(lambda i: cached(-1), calls))
    try:
        import openlineage.client  # noqa: F401
    except ImportError:
        per.pop("OpenLineage (file transport)")
        ctx.note("openlineage-python is not installed: no OpenLineage figure")
    else:
        from lamin_flows.config import reset_settings

        os.environ.update(
            LAMIN_OPENLINEAGE="true",
            OPENLINEAGE__TRANSPORT__TYPE="file",
            OPENLINEAGE__TRANSPORT__LOG_FILE_PATH=str(ctx.work / "ol.jsonl"),
            OPENLINEAGE__TRANSPORT__APPEND="true",
        )
        reset_settings()
        emitting = tracked(name="plain_ol")(plain)
        emitting(0)  # builds the client
        for _ in range(ctx.size(5, 1)):
            per["OpenLineage (file transport)"].append(_per_call(emitting, calls))
        os.environ.update(_PLAIN_ENV)
        reset_settings()
    for name, values in per.items():
        ctx.check(
            f"per call with {name}",
            median(values) * 1000,
            "ms",
            detail=f"+{(median(values) - base) * 1000:.2f} ms over the plain tracked call;"
            " Prefect events: see the prefect_events step (they need a server)",
        )
    ctx.metric("feature_per_call_s", per)


def _fresh_calls(ctx: Context) -> None:
    """A new process that defines a tracked no-op and calls it 11 times: first call, median of the other 10."""
    env = ctx.child_env(**_PLAIN_ENV)
    figures = {}
    for label, cache, arg in (("", "", "i"), (", cache=True, a hit", ", cache=True", "0")):
        runs = [fresh(ctx, _FRESH_CALLS.format(cache=cache, arg=arg), env=env) for _ in range(ctx.size(5, 1))]
        figures[label or "plain"] = runs
        ctx.check(
            f"tracked no-op{label}, fresh process: median of 10 calls",
            median([r["median"] for r in runs]) * 1000,
            "ms",
            "<=" if not cache else None,
            1 if not cache else None,
            detail=f"first call {median([r['first'] for r in runs]) * 1000:.1f} ms; import + first use"
            f" {median([r['import'] for r in runs]):.2f} s; process {median([r['wall'] for r in runs]):.2f} s"
            f" (median of {len(runs)} processes)",
        )
    ctx.metric("fresh", figures)


@step("prefect_flow", "`@ln.tracked` on a Prefect flow, over the same flow untracked", "≤ 30 ms per flow run")
def tracked_flow(ctx: Context) -> None:
    """Flow runs on a temporary Prefect server (``prefect_test_harness``), heartbeats off, interleaved."""
    tracked = _tracked_decorator()
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", PREFECT_LOGGING_LEVEL="WARNING")
    try:
        from prefect import flow
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
        from prefect.testing.utilities import prefect_test_harness
    except ImportError as error:
        raise Skip(f"Prefect is not installed ({error})") from error
    ln = init_instance(ctx)

    @flow
    def plain_flow(x: int) -> int:
        return x + 1

    @flow
    @tracked()
    def tracked_flow(x: int) -> int:
        return x + 1

    start = time.perf_counter()
    # the harness turns heartbeats on: each flow run would then wait ~1 s for its heartbeat thread
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        ctx.metric("harness_start_s", time.perf_counter() - start)
        first = {"plain": timed(lambda: plain_flow(0))[0], "tracked": timed(lambda: tracked_flow(0))[0]}
        runs: dict[str, list[float]] = {"plain": [], "tracked": []}
        for i in range(ctx.size(40, 1)):  # pairs, in alternating order
            for name, flow_ in (("plain", plain_flow), ("tracked", tracked_flow))[:: 1 if i % 2 else -1]:
                runs[name].append(timed(lambda: flow_(i))[0])
    run = ln.Run.select(transform__name="tracked_flow").first()
    if run is None or run.reference is None or run.status != "completed":
        raise AssertionError(f"the tracked flow left no completed Run with a flow run reference: {run!r}")
    # a flow run takes ~100-150 ms and varies by ±20 ms here: the median of the differences within
    # pairs of runs made back to back is steadier than the difference of the two medians
    diffs = sorted(t - p for t, p in zip(runs["tracked"], runs["plain"], strict=True))
    quartiles = (diffs[len(diffs) // 4] * 1000, diffs[(3 * len(diffs)) // 4] * 1000)
    ctx.check(
        "overhead per flow run",
        median(diffs) * 1000,
        "ms",
        "<=",
        30,
        detail=f"flow run {median(runs['plain']) * 1000:.0f} ms untracked, "
        f"{median(runs['tracked']) * 1000:.0f} ms tracked; median of {len(diffs)} paired differences,"
        f" quartiles {quartiles[0]:.0f} / {quartiles[1]:.0f} ms",
    )
    ctx.metric("flow_run_s", runs)
    ctx.metric("first_run_s", first)
    procs: dict[str, list[dict]] = {"plain": [], "tracked": []}
    env = ctx.child_env(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120")
    for rep in range(ctx.size(2, 1)):
        for kind in ("plain", "tracked") if rep % 2 == 0 else ("tracked", "plain"):
            decorator = "@ln.tracked()\n" if kind == "tracked" else ""
            body = f"from prefect import flow\n@flow\n{decorator}def one_flow(x):\n    return x + 1\n_out['r'] = one_flow(1)"
            procs[kind].append(fresh(ctx, body, env=env))
    if any(p["r"] != 2 for p in procs["plain"] + procs["tracked"]):
        raise AssertionError("a fresh-process flow returned another value")
    fresh_check(
        ctx,
        "a script that runs one tracked flow (its own temporary Prefect server)",
        procs["tracked"],
        detail=f"the same script untracked {median([p['wall'] for p in procs['plain']]):.2f} s; the server's"
        " start dominates both",
    )
    ctx.metric("fresh", procs)
