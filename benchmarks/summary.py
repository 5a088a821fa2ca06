"""Ranges over several benchmark runs: ``python -m benchmarks.summary run1.json run2.json ...``.

Prints one Markdown row per figure (step, figure, target, first run, range over all runs, how
many runs met the target), in the order of the first file. This is how the README's
Performance table is made from three runs of ``make bench``.

Example:
    >>> main(["benchmarks/results/run1.json", "benchmarks/results/run2.json"])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.cli import _fmt, _target


def _figures(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    document = json.loads(path.read_text())
    out = {}
    for name, result in document["steps"].items():
        for check in result.get("checks", []):
            out[(name, check["label"])] = check
    return out


def rows(paths: list[Path]) -> list[str]:
    """The Markdown rows: ``| step | figure | target | first run | range | met |``."""
    runs = [_figures(p) for p in paths]
    lines = ["| step | figure | target | run 1 | range over runs | met |", "|---|---|---|---|---|---|"]
    for key, first in runs[0].items():
        values = [r[key] for r in runs if key in r]
        low, high = min(v["value"] for v in values), max(v["value"] for v in values)
        judged = [v["status"] for v in values if v["status"] in ("pass", "miss")]
        met = f"{judged.count('pass')}/{len(judged)}" if judged else ""
        span = _fmt(low, first["unit"]) if low == high else f"{_fmt(low, first['unit'])} – {_fmt(high, first['unit'])}"
        lines.append(
            f"| {key[0]} | {key[1]} | {_target(first)} | {_fmt(first['value'], first['unit'])} | {span} | {met} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the rows for the JSON files named on the command line."""
    paths = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("usage: python -m benchmarks.summary RUN.json [RUN.json ...]", file=sys.stderr)
        return 2
    print("\n".join(rows(paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
