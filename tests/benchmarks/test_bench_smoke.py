"""The benchmark still runs, end to end, at tiny sizes (``python -m benchmarks --quick``).

No timing is asserted: the sizes say nothing about speed, and the machine running the tests may
be busy. What is checked is that every step runs against the current code and reports its
figures, so the benchmark never rots. (No ``__init__.py`` here: this folder must not shadow the
top-level ``benchmarks`` package.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# Every step, in the order of the table (and of --list).
STEPS = (
    "import",
    "cold_start",
    "register_outside",
    "register_inside",
    "large_file",
    "dataframe",
    "query",
    "tracked",
    "prefect_flow",
    "openlineage",
    "versions_small",
    "versions_large",
    "versions_query",
    "cache_hit",
    "cache_check",
    "prefect_events",
    "s3",
    "s3_lock",
    "postgres",
    "scale",
    "scale_pg",
    "scale_1m",
    "writers",
    "writers_pg",
    "peak_rss",
    "ui_pages",
)
# Prefect's temporary server and the S3 and PostgreSQL set-ups take the most time: a test of their own.
SLOW_STEPS = (
    "prefect_flow",
    "prefect_events",
    "s3",
    "s3_lock",
    "postgres",
    "scale_pg",
    "scale_1m",
    "writers_pg",
)


def run_benchmark(tmp_path: Path, *args: str) -> dict[str, Any]:
    """``python -m benchmarks --quick *args`` from the repository root; returns its JSON document."""
    out = tmp_path / "bench.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"the benchmark failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert str(out) in proc.stdout, "the benchmark says where its results went"
    return json.loads(out.read_text())


def assert_steps_ran(document: dict[str, Any], expected: set[str]) -> None:
    assert set(document["steps"]) == expected
    assert document["quick"] is True
    for name, result in document["steps"].items():
        assert result["status"] in ("ok", "skipped"), f"{name}: {result.get('reason')}"
        if result["status"] == "skipped":
            assert result["reason"], f"{name} was skipped without saying why"
            continue
        assert result["checks"], f"{name} reported no figures"
        for check in result["checks"]:
            assert check["status"] in ("quick", "report"), f"{name}: a quick run judged a target: {check}"
            assert isinstance(check["value"], (int, float)), check


def test_lists_every_step() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list"], cwd=REPO, capture_output=True, text=True, check=True
    )
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert names == list(STEPS)


def test_unknown_step_is_named() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nope"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode != 0 and "nope" in proc.stderr


def test_local_steps_run_at_tiny_sizes(tmp_path: Path) -> None:
    document = run_benchmark(tmp_path, "--skip", ",".join(SLOW_STEPS))
    assert_steps_ran(document, set(STEPS) - set(SLOW_STEPS))
    assert document["steps"]["large_file"]["checks"][0]["label"].endswith("copied in + hashed in full")


@pytest.mark.slow
def test_prefect_s3_and_postgres_steps_run_at_tiny_sizes(tmp_path: Path) -> None:
    document = run_benchmark(tmp_path, "--only", ",".join(SLOW_STEPS))
    assert_steps_ran(document, set(SLOW_STEPS))
    if os.environ.get("CI"):
        assert document["steps"]["postgres"]["status"] == "ok", "CI has PostgreSQL on 127.0.0.1:5432"


def test_summary_gives_ranges_over_runs(tmp_path: Path) -> None:
    from benchmarks.summary import rows

    paths = []
    for i, value in enumerate((12.0, 9.0, 15.0)):
        check = {"label": "by prefix", "value": value, "unit": "ms", "op": "<=", "target": 14.0}
        check["status"] = "pass" if value <= 14.0 else "miss"
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps({"steps": {"query": {"status": "ok", "checks": [check]}}}))
        paths.append(path)
    lines = rows(paths)
    assert lines[2] == "| query | by prefix | ≤ 14.0 ms | 12.0 ms | 9 ms – 15.0 ms | 2/3 |"
