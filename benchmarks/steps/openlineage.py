"""What OpenLineage emission costs per tracked call, with the client's file transport."""

from __future__ import annotations

import os
import time

from benchmarks.data import init_instance
from benchmarks.harness import Context, Skip, fresh, fresh_check, median, step


@step(
    "openlineage",
    "OpenLineage emission per tracked call (file transport), over the same call without it",
    "≤ 2 ms per call",
)
def openlineage_emission(ctx: Context) -> None:
    """Tracked calls that save one small File, emission on and off interleaved.

    The cost checked is the time spent in the emission hooks (START at the call's start, the terminal
    event with its datasets at its end), timed around them per call: the difference of the medians
    of whole calls (reported too) drowns a 1-2 ms cost in the noise of a 5-15 ms call on a busy machine.
    """
    try:
        import openlineage.client  # noqa: F401
    except ImportError as error:
        raise Skip(f"openlineage-python is not installed ({error}): pip install 'lamin-flows[openlineage]'") from error
    from lamin_flows.config import reset_settings

    events = ctx.work / "openlineage.jsonl"
    os.environ.update(
        OPENLINEAGE__TRANSPORT__TYPE="file",
        OPENLINEAGE__TRANSPORT__LOG_FILE_PATH=str(events),
        OPENLINEAGE__TRANSPORT__APPEND="true",
    )
    ln = init_instance(ctx)
    from lamin_flows.tracking import openlineage as emission

    hook_seconds: list[float] = []
    for name in ("run_started", "run_ended"):
        hook = getattr(emission, name)

        def timed_hook(frame: object, hook: object = hook) -> None:
            begin = time.perf_counter()
            hook(frame)  # type: ignore[operator]
            if os.environ["LAMIN_OPENLINEAGE"] == "true":
                hook_seconds.append(time.perf_counter() - begin)

        setattr(emission, name, timed_hook)
    source = ctx.work / "small.txt"
    source.write_text("x" * 100)

    @ln.tracked
    def save_one(i: int) -> None:
        ln.File(source, key=f"ol/{i}.txt").save()  # one output: the end event carries a dataset

    def loop(mode: str, start: int, calls: int) -> float:
        os.environ["LAMIN_OPENLINEAGE"] = mode
        reset_settings()
        save_one(start)  # builds the client (or not) outside the timing
        begin = time.perf_counter()
        for i in range(start + 1, start + 1 + calls):
            save_one(i)
        return (time.perf_counter() - begin) / calls

    calls = ctx.size(100, 5)
    runs: dict[str, list[float]] = {"on": [], "off": []}
    counter = 0
    for _ in range(ctx.size(5, 1)):
        for mode in ("true", "false"):
            runs["on" if mode == "true" else "off"].append(loop(mode, counter, calls))
            counter += calls + 1
    n_events = sum(1 for _ in events.open())
    if n_events != 2 * len(runs["on"]) * (calls + 1):
        raise AssertionError(f"expected {2 * len(runs['on']) * (calls + 1)} events in {events}, found {n_events}")
    per_call = [hook_seconds[i] + hook_seconds[i + 1] for i in range(0, len(hook_seconds) - 1, 2)]
    cost = median(per_call)
    difference = median(runs["on"]) - median(runs["off"])
    ctx.check(
        "emission per tracked call",
        cost * 1000,
        "ms",
        "<=",
        2,
        detail=f"{calls} calls × {len(runs['on'])} loops, each saving one File; START + COMPLETE per call"
        f" ({n_events} events written), timed in the hooks; whole calls with and without emission"
        f" differ by {difference * 1000:.2f} ms (call without emission {median(runs['off']) * 1000:.2f} ms)",
    )
    ctx.metric("per_call_s", runs)
    ctx.metric("emission_s", per_call)
    script = (
        "import time\n@ln.tracked\ndef save_one(i):\n    ln.File(source, key=f'ol_fresh/{{i}}_{tag}.txt').save()\n"
        "times = []\nfor i in range(10):\n    t = time.perf_counter(); save_one(i); times.append(time.perf_counter() - t)\n"
        "_out['median_call'] = sorted(times)[5]"
    )
    procs: dict[str, list[dict]] = {"on": [], "off": []}
    for rep in range(ctx.size(3, 1)):
        for mode in ("true", "false") if rep % 2 == 0 else ("false", "true"):
            env = ctx.child_env(LAMIN_OPENLINEAGE=mode)
            body = script.format(tag=f"{mode}{rep}")
            procs["on" if mode == "true" else "off"].append(
                fresh(ctx, body, pre=f"import pathlib\nsource = pathlib.Path({str(source)!r})", env=env)
            )
    on_call = median([p["median_call"] for p in procs["on"]])
    off_call = median([p["median_call"] for p in procs["off"]])
    fresh_check(
        ctx,
        "a script of 10 tracked calls with emission on",
        procs["on"],
        detail=f"median call {on_call * 1000:.2f} ms with emission, {off_call * 1000:.2f} ms without;"
        f" the script without emission {median([p['wall'] for p in procs['off']]):.2f} s",
    )
    ctx.metric("fresh", procs)
