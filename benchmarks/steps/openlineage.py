"""What OpenLineage emission costs per tracked call, with the client's file transport."""

from __future__ import annotations

import os
import time

from benchmarks.data import init_instance
from benchmarks.harness import Context, Skip, median, step


@step("openlineage", "OpenLineage emission per tracked call (file transport), over the same call without it",
      "≤ 2 ms per call")
def openlineage_emission(ctx: Context) -> None:
    """Tracked calls that save one small File, emission on and off interleaved; cost = difference of medians."""
    try:
        import openlineage.client  # noqa: F401
    except ImportError as error:
        raise Skip(f"openlineage-python is not installed ({error}): pip install 'lamin-flows[openlineage]'") from error
    from lamin_flows.config import reset_settings

    events = ctx.work / "openlineage.jsonl"
    os.environ.update(OPENLINEAGE__TRANSPORT__TYPE="file", OPENLINEAGE__TRANSPORT__LOG_FILE_PATH=str(events),
                      OPENLINEAGE__TRANSPORT__APPEND="true")
    ln = init_instance(ctx)
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
    cost = median(runs["on"]) - median(runs["off"])
    ctx.check("emission per tracked call", cost * 1000, "ms", "<=", 2,
              detail=f"{calls} calls × {len(runs['on'])} loops, each saving one File; START + COMPLETE per call"
                     f" ({n_events} events written); call without emission {median(runs['off']) * 1000:.2f} ms")
    ctx.metric("per_call_s", runs)
