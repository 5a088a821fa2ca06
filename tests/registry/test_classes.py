"""Registry classes by name (lamin_flows.registry.classes): how code below the table modules reaches them.

A fresh process may import one table module only (a Dask worker unpickling a Run imports
``registry.models``, where File is not defined): the first lookup of a class not defined yet
loads every table, so relations to it resolve all the same.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter (this test's LAMIN_HOME and current instance)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_every_registry_is_known_by_name_in_the_order_the_schema_defines_them() -> None:
    from lamin_flows.registry.classes import registry_class
    from lamin_flows.registry.tables import REGISTRIES

    for name, cls in REGISTRIES.items():
        assert registry_class(name) is cls


def test_an_unknown_name_is_refused_with_the_names_that_exist() -> None:
    from lamin_flows.registry.classes import registry_class

    with pytest.raises(LookupError, match=r"no registry called 'Sample'; registries: .*File"):
        registry_class("Sample")


def test_a_process_that_imported_one_table_module_resolves_the_others() -> None:
    code = (
        "import sys; import lamin_flows.registry.models; "
        "assert 'lamin_flows.registry.file' not in sys.modules, 'File came with models'; "
        "from lamin_flows.registry.classes import registry_class, table; "
        "print(registry_class('File').__module__, table('file_tag').name)"
    )
    proc = _fresh(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["lamin_flows.registry.file", "file_tag"]


def test_a_record_unpickled_in_a_fresh_process_follows_its_relations(ln_sqlite, tmp_path: Path) -> None:
    ln = ln_sqlite
    source = tmp_path / "a.csv"
    source.write_text("x\n1\n")
    run = ln.Run(transform=ln.Transform(name="ingest").save()).save()
    file = ln.File(source, key="raw/a.csv", run=run).save()
    blob = tmp_path / "run.pickle"
    blob.write_bytes(pickle.dumps(run))
    # a worker that imports nothing itself: unpickling brings lamin_flows.registry.record only
    code = (
        "import pickle, sys; "
        f"run = pickle.loads(open({str(blob)!r}, 'rb').read()); "
        "print(type(run).__name__, run.id); "
        "print([f.key for f in run.outputs.all()], run.transform.name)"
    )
    proc = _fresh(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines() == [f"Run {run.id}", f"[{file.key!r}] ingest"]
