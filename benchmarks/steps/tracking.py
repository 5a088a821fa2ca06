"""What ``@ln.tracked`` costs: on a plain function, and on a Prefect flow (each against its untracked twin)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from benchmarks.data import init_instance
from benchmarks.harness import Context, Skip, median, step, timed


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


@step("tracked", "`@ln.tracked` overhead on a plain function (vs the same function untracked)", "≤ 3 ms per call")
def tracked_function(ctx: Context) -> None:
    """Loops of calls, tracked and untracked interleaved; overhead = median per-call difference."""
    tracked = _tracked_decorator()
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
        3,
        detail=f"{calls} calls × {len(runs['tracked'])} loops, each a Run ({n_runs} written); "
        f"untracked call {median(runs['plain']) * 1e6:.2f} µs; first call {first * 1000:.1f} ms",
    )
    ctx.metric("per_call_s", runs)
    ctx.metric("first_call_s", first)


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
