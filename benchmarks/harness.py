"""What every step shares: the step registry, the context a step measures in, and timing helpers.

A step is a function ``run(ctx) -> None`` registered with :func:`step`. It runs in a child
process whose ``LAMIN_HOME`` points into ``ctx.work`` (a fresh folder), records its figures with
``ctx.check`` (a figure with a target) and ``ctx.metric`` (a figure to report), and may skip
itself with :class:`Skip` when what it needs is not there (PostgreSQL, the tracking layer).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


class Skip(Exception):
    """Raised by a step that cannot run here; the message says why and what would enable it."""


@dataclass
class Check:
    """One figure of a step, with its target (``op`` "<=", ">=" or "==") or none (report only).

    ``status`` is "pass" or "miss" for a full run with a target, "report" without a target,
    and "quick" in a ``--quick`` run (tiny sizes say nothing about the targets).
    """

    label: str
    value: float
    unit: str
    op: str | None = None
    target: float | None = None
    detail: str = ""
    status: str = "report"

    def judge(self, quick: bool) -> None:
        """Set ``status`` from value, op and target."""
        if self.op is None or self.target is None:
            self.status = "report"
        elif quick:
            self.status = "quick"
        else:
            ok = {"<=": self.value <= self.target, ">=": self.value >= self.target, "==": self.value == self.target}
            self.status = "pass" if ok[self.op] else "miss"


@dataclass
class Context:
    """Where a step runs and what it records.

    Attributes:
        quick: tiny sizes (the smoke test); targets are not judged.
        work: a fresh folder for this step's data, storage and LAMIN_HOME; removed afterwards.
    """

    quick: bool
    work: Path
    checks: list[Check] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def size(self, full: int, quick: int) -> int:
        """``full`` in a full run, ``quick`` in a quick one."""
        return quick if self.quick else full

    def check(
        self, label: str, value: float, unit: str, op: str | None = None, target: float | None = None, detail: str = ""
    ) -> None:
        """Record a figure that has a target (or none: report only)."""
        item = Check(label, value, unit, op, target, detail)
        item.judge(self.quick)
        self.checks.append(item)

    def metric(self, name: str, value: Any) -> None:
        """Record a supporting figure (JSON only)."""
        self.metrics[name] = value

    def note(self, text: str) -> None:
        """Say something about how the step ran (printed under the table)."""
        self.notes.append(text)

    def child_env(self, **extra: str) -> dict[str, str]:
        """The environment for a process the step starts: same LAMIN_HOME, repo importable."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env.update(extra)
        return env

    def to_json(self) -> dict[str, Any]:
        """What the parent process reads back."""
        return {"checks": [asdict(c) for c in self.checks], "metrics": self.metrics, "notes": self.notes}


@dataclass(frozen=True)
class Step:
    """A registered step: its name (for ``--only``), what it measures, and its function."""

    name: str
    title: str
    target: str
    run: Callable[[Context], None]
    default: bool = True  # False: only run when named (``--only``), e.g. the 1,000,000-File scale step


STEPS: dict[str, Step] = {}


def step(
    name: str, title: str, target: str, default: bool = True
) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Register a step function under ``name`` (steps run in registration order; with ``default``
    False only when named with ``--only``)."""

    def register(func: Callable[[Context], None]) -> Callable[[Context], None]:
        STEPS[name] = Step(name, title, target, func, default)
        return func

    return register


# ---- timing -------------------------------------------------------------------------------
def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def median(values: list[float]) -> float:
    """The median (the figure every repeated step reports)."""
    return float(statistics.median(values))


def run_python(code: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 600) -> tuple[float, str]:
    """Run ``python -c code`` in a new process; return (wall seconds from spawn to exit, stdout).

    Raises:
        RuntimeError: the process failed; the message holds the end of its stderr.
    """
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"child process failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def run_command(args: list[str], timeout: float = 600) -> float:
    """Wall seconds of an external command (``md5sum``, ``cp``); raises if it fails."""
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, timeout=timeout)
    return time.perf_counter() - start


# ---- fresh processes ----------------------------------------------------------------------
_FRESH = """
import json as _json, time as _time
_out = {{}}
{pre}
_t0 = _time.perf_counter()
{imports}
_t1 = _time.perf_counter()
{body}
_t2 = _time.perf_counter()
print("\\n@@fresh@@" + _json.dumps({{"pre": _t0 - _start, "import": _t1 - _t0, "step": _t2 - _t1, **_out}}))
"""


def fresh(
    ctx: Context,
    body: str,
    pre: str = "",
    imports: str = "import lamin_flows as ln\nln.File",
    timeout: float = 1200,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run one step's body as users run it: in a new ``python -c`` process, import and first use included.

    The child runs ``pre`` (untimed set-up the user's script would have anyway, e.g. building a
    DataFrame), then ``imports`` (default: ``import lamin_flows as ln`` and the first use of
    ``ln.File``), then ``body``, which may put figures in the dict ``_out``. Same ``LAMIN_HOME``
    (so the same instance) as the step.

    Returns:
        ``wall``: seconds from spawning the process to its exit, minus ``pre`` (interpreter start,
        imports, the body and the exit: what a script costs); ``import``, ``step``: the parts
        measured inside; and what the body put in ``_out``.

    Example:
        >>> fresh(ctx, "ln.save(ln.File.from_dir(folder))", pre=f"folder = {str(folder)!r}")["wall"]
    """
    code = _FRESH.format(pre="_start = _time.perf_counter()\n" + pre, imports=imports or "pass", body=body or "pass")
    wall, out = run_python(code, env or ctx.child_env(), cwd=ctx.work, timeout=timeout)
    marker = out.rsplit("@@fresh@@", 1)
    if len(marker) != 2:
        raise RuntimeError(f"the fresh process printed no figures:\n{out[-2000:]}")
    result: dict[str, Any] = json.loads(marker[1])
    result["wall"] = wall - result["pre"]
    return result


def fresh_check(
    ctx: Context,
    label: str,
    runs: list[dict[str, Any]],
    warm: float | None = None,
    unit: str = "s",
    op: str | None = None,
    target: float | None = None,
    detail: str = "",
) -> float:
    """Record the median whole-process time of ``runs`` (from :func:`fresh`) next to the warmed figure."""
    wall = median([r["wall"] for r in runs])
    parts = (
        f"fresh process (median of {len(runs)}): import + first use {median([r['import'] for r in runs]):.3f} s,"
        f" the step {median([r['step'] for r in runs]):.3f} s, the rest is interpreter start and exit"
    )
    if warm is not None:
        parts += f"; warmed in the step's process {warm:.3f} s"
    ctx.check(label, wall, unit, op, target, detail=f"{parts}; {detail}" if detail else parts)
    ctx.metric(f"fresh: {label}", runs)
    return wall
