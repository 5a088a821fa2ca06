"""Run the steps (each in a fresh child process), print the table, write the JSON file.

``python -m benchmarks [--quick] [--only STEP ...] [--json PATH] [--list]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.harness import REPO, STEPS, Context, Skip

RESULTS = Path(__file__).resolve().parent / "results"
STEP_TIMEOUT_S = 1200
# Where child processes keep compiled bytecode when the environment forbids writing it next to the
# sources (PYTHONDONTWRITEBYTECODE, as in some sandboxes and containers): an installed package has
# its bytecode compiled (pip does it at install time), and without it every import of pandas alone
# compiles ~1,400 files (over 1 s here), which measures the environment, not lamin_flows.
PYCACHE = RESULTS / ".pycache"
# Imported once before the steps so that every step starts with warm bytecode.
_WARM_UP = (
    "import lamin_flows.registry.tables, lamin_flows.registry.files_io, lamin_flows.registry.file_commit, lamin_flows.setup, "
    "pandas, pyarrow.parquet, "
    "numpy, sqlalchemy.dialects.sqlite, sqlalchemy.dialects.postgresql, psycopg, alembic.command, blake3, rich.progress"
)


def _load_steps() -> None:
    import benchmarks.steps  # noqa: F401  (registers every step)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmark lamin_flows (see benchmarks/README.md)."
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks that every step runs, judges no target"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="STEP",
        default=[],
        help="run only this step (repeat, or separate with commas); see --list",
    )
    parser.add_argument("--skip", action="append", metavar="STEP", default=[], help="leave this step out (repeatable)")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the results (default benchmarks/results/latest.json, latest-quick.json with --quick)",
    )
    parser.add_argument("--list", action="store_true", help="list the steps and their targets, then exit")
    parser.add_argument("--keep", action="store_true", help="keep each step's temporary folder (for debugging)")
    parser.add_argument("--child", metavar="STEP", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser


def _names(values: list[str]) -> list[str]:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        raise SystemExit(f"unknown step(s) {', '.join(unknown)}; the steps are: {', '.join(STEPS)}")
    return names


# ---- the child: one step ------------------------------------------------------------------
def _child(name: str, quick: bool, work: Path, result: Path) -> int:
    ctx = Context(quick=quick, work=work)
    out: dict[str, Any] = {"status": "ok"}
    start = time.perf_counter()
    try:
        STEPS[name].run(ctx)
    except Skip as reason:
        out = {"status": "skipped", "reason": str(reason)}
    except BaseException:  # report it in the table; the parent decides the exit code  # noqa: BLE001
        out = {"status": "error", "reason": traceback.format_exc(limit=8)[-4000:]}
    out.update(ctx.to_json(), seconds=round(time.perf_counter() - start, 2))
    result.write_text(json.dumps(out, default=str))
    return 0


# ---- the parent ---------------------------------------------------------------------------
def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LAMIN_INSTANCE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def _warm_up() -> None:
    """Compile (or check) the bytecode of what the steps import, outside any measurement."""
    subprocess.run(
        [sys.executable, "-c", _WARM_UP],
        env=_base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=600,
    )


def _run_step(name: str, quick: bool, work: Path) -> dict[str, Any]:
    result = work / "result.json"
    log = work / "log.txt"
    env = _base_env()
    env.update(LAMIN_HOME=str(work / "lamin-home"), PREFECT_HOME=str(work / "prefect-home"))
    load = os.getloadavg()[0]
    args = [sys.executable, "-m", "benchmarks", "--child", name, "--work", str(work), "--result", str(result)]
    if quick:
        args.append("--quick")
    start = time.perf_counter()
    try:
        with open(log, "w") as log_file:
            proc = subprocess.run(
                args, env=env, cwd=work, stdout=log_file, stderr=subprocess.STDOUT, timeout=STEP_TIMEOUT_S
            )
        if result.exists():
            out = json.loads(result.read_text())
        else:
            out = {
                "status": "error",
                "reason": f"step process exited with {proc.returncode}:\n{log.read_text()[-3000:]}",
            }
    except subprocess.TimeoutExpired:
        out = {"status": "error", "reason": f"timed out after {STEP_TIMEOUT_S} s"}
    finally:
        _drop_leftover_databases(work)
    out["wall_seconds"] = round(time.perf_counter() - start, 2)
    out["load_before"] = round(load, 2)
    if load > 0.5 * (os.cpu_count() or 1):  # other work shares the cores: figures are noisier
        out.setdefault("notes", []).append(f"the machine was busy when this step started (load average {load:.1f})")
    out["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return out


def _drop_leftover_databases(work: Path) -> None:
    """Drop PostgreSQL databases a step created but could not drop (it was killed)."""
    listing = work / "pg-databases.txt"
    if not listing.exists():
        return
    from benchmarks.steps.postgres import drop_database

    for name in listing.read_text().split():
        try:
            drop_database(name)
        except Exception as error:  # noqa: BLE001 - cleanup after the run: report it, keep the figures
            print(f"could not drop PostgreSQL database {name}: {error}", file=sys.stderr)


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    try:
        info["commit"] = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or None
        )
        info["dirty"] = bool(
            subprocess.run(
                ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        pass
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        info["bytecode"] = f"PYTHONDONTWRITEBYTECODE is set: steps ran with bytecode cached in {PYCACHE}"
    return info


def _fmt(value: float, unit: str) -> str:
    if unit in ("files/s", "records/s"):
        return f"{value:,.0f} {unit}"
    if unit in ("MB", "MB RSS"):
        return f"{value:,.0f} {unit}"
    if unit == "×":
        return f"{value:.2f}×"
    if unit in ("", "modules"):
        return f"{value:g} {unit}".strip()
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    if abs(value) >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.3g} {unit}"


def _target(check: dict[str, Any]) -> str:
    if check.get("op") is None:
        return "report"
    return f"{check['op'].replace('<=', '≤').replace('>=', '≥')} {_fmt(check['target'], check['unit'])}"


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """The figures as a text table, then notes, skips and errors."""
    rows = [("step", "figure", "measured", "target", "")]
    for name, out in results.items():
        if out["status"] != "ok":
            rows.append((name, out["status"], "-", STEPS[name].target if name in STEPS else "", ""))
            continue
        for i, check in enumerate(out["checks"]):
            rows.append(
                (
                    name if i == 0 else "",
                    check["label"],
                    _fmt(check["value"], check["unit"]),
                    _target(check),
                    check["status"],
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    line = "  ".join("-" * w for w in widths)
    print(line)
    for j, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if j == 0:
            print(line)
    print(line)
    for name, out in results.items():
        for check in out.get("checks", []):
            if check.get("detail"):
                print(f"  {name} · {check['label']}: {check['detail']}")
        for note in out.get("notes", []):
            print(f"  {name}: {note}")
        if out["status"] in ("skipped", "error"):
            reason = out.get("reason", "").rstrip()
            print(f"  {name} {out['status']}: " + reason.replace("\n", "\n    "))


def _write_json(path: Path, results: dict[str, dict[str, Any]], quick: bool, partial: bool, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    steps = results
    if partial and path.exists():  # --only: update those steps in the last complete file
        try:
            previous = json.loads(path.read_text())
            if previous.get("quick") == quick:
                steps = {**previous.get("steps", {}), **results}
        except (OSError, ValueError):
            pass
    document = {
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "quick": quick,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "machine": _machine(),
        "steps": {name: steps[name] for name in [*STEPS, *steps] if name in steps},
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks``; exit status 1 if a step failed with an error."""
    args = _parser().parse_args(argv)
    _load_steps()
    if args.child:
        return _child(args.child, args.quick, args.work, args.result)
    if args.list:
        for s in STEPS.values():
            extra = "" if s.default else "  (only with --only: make bench-scale)"
            print(f"{s.name:18} {s.title}  [target: {s.target}]{extra}")
        return 0
    only, skip = _names(args.only), set(_names(args.skip))
    selected = [n for n in (only or [s.name for s in STEPS.values() if s.default]) if n not in skip]
    start = time.perf_counter()
    _warm_up()
    results: dict[str, dict[str, Any]] = {}
    # Each step's folder is removed at the end of the run, not after the step: on some filesystems
    # (ext4 without a journal, as here) creating files is slow for ~30 s after many were deleted
    # (new inodes skip recently freed ones), which would tax the next step's file creation.
    scratch = Path(tempfile.mkdtemp(prefix="lamin-bench-"))
    try:
        for name in selected:
            print(f"… {name}: {STEPS[name].title}", file=sys.stderr, flush=True)
            work = scratch / name
            work.mkdir()
            results[name] = _run_step(name, args.quick, work)
            print(f"  {results[name]['status']} in {results[name]['wall_seconds']:.1f} s", file=sys.stderr, flush=True)
    finally:
        if args.keep:
            print(f"kept the steps' folders in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - start
    print_table(results)
    path = args.json or RESULTS / ("latest-quick.json" if args.quick else "latest.json")
    _write_json(path, results, args.quick, partial=bool(only or skip), seconds=seconds)
    print(f"\n{len(selected)} steps in {seconds:.0f} s; results written to {path}")
    return 1 if any(r["status"] == "error" for r in results.values()) else 0
