"""The wheel holds what an installed package needs beyond its modules: templates, migrations, the deployments."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_carries_the_data_an_installed_package_reads(tmp_path: Path) -> None:
    uv = Path(sys.executable).with_name("uv")
    out = subprocess.run(
        [str(uv), "build", "--wheel", "-o", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (wheel,) = tmp_path.glob("lamin_flows-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = sorted(p.name for p in (REPO / "lamin_flows/registry/migrations/versions").glob("0*.py"))
    expected = {
        "lamin_flows/tasks/serve.py",
        "lamin_flows/tasks/prefect.yaml",  # `lamin deploy serve`
        "lamin_flows/ui/templates/base.html",
        "lamin_flows/ui/static/panzoom.js",  # `lamin ui`
        "lamin_flows/tracking/openlineage_facets.json",
        "lamin_flows/registry/migrations/env.py",
        *(f"lamin_flows/registry/migrations/versions/{m}" for m in migrations),
    }
    assert expected <= names, sorted(expected - names)
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
