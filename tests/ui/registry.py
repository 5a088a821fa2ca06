"""Builds the registry the UI tests browse: a tracked pipeline and 10,000 Files.

Run as a script in its own process (``LAMIN_HOME=... python registry.py STORAGE N``) so the module-scoped
server and browser share one registry without the per-test LAMIN_HOME of tests/conftest.py.
It prints one JSON line: the ids the tests look for.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

# a 2x2 red PNG: an image File to preview
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="
)
N_READ = 300  # bulk Files one run reads: a fan-in the lineage page collapses into one node


def build(storage: Path, n_files: int) -> dict[str, str]:
    import pandas as pd

    import lamin_flows as ln

    ln.setup.init(storage=storage, name="uitest")
    tag, project = ln.Tag(name="nightly").save(), ln.Project(name="Atlas").save()

    @ln.tracked
    def ingest() -> None:
        landing = storage.parent / "landing"
        landing.mkdir(exist_ok=True)
        (landing / "plot.png").write_bytes(PNG)
        (landing / "a.csv").write_text("sample,reads\ns1,10\ns2,20\ns3,30\n")
        (landing / "b.csv").write_text("sample,reads\ns4,40\n")
        a = ln.File(landing / "a.csv", key="raw/a.csv", description="sequencing reads per sample, lane A").save()
        b = ln.File(landing / "b.csv", key="raw/b.csv").save()
        ln.File(landing / "plot.png", key="raw/plot.png").save()
        for f in (a, b):
            f.tags.add(tag)
            f.projects.add(project)

    @ln.tracked
    def clean(min_reads: int = 0) -> None:
        a = ln.File.select(key="raw/a.csv").one().load()
        b = ln.File.select(key="raw/b.csv").one().load()
        both = pd.concat([a, b])
        ln.File(both[both.reads >= min_reads], key="clean/ab.parquet").save()

    @ln.tracked
    def report(title: str) -> None:
        df = ln.File.select(key="clean/ab.parquet").one().load()
        out = storage.parent / "landing" / "summary.csv"
        out.write_text(f"title,total\n{title},{int(df.reads.sum())}\n")
        ln.File(out, key="reports/summary.csv").save()

    @ln.tracked
    def bulk_register(n: int) -> None:
        storage_id = ln.Storage.select().one().id
        ln.save(
            [
                ln.File(
                    key=f"bulk/part_{i // 1000:02d}/record_{i:05d}.txt",
                    storage_id=storage_id,
                    suffix=".txt",
                    size=1000 + i,
                    hash=f"h{i:021d}",
                    hash_type="md5",
                )
                for i in range(n)
            ]
        )

    @ln.tracked
    def aggregate() -> None:
        read = ln.File.select(key__startswith="bulk/part_00/").order_by("key").limit(N_READ).all()
        ln.context.run.inputs.add(*read)
        out = storage.parent / "landing" / "stats.csv"
        out.write_text(f"n\n{len(read)}\n")
        ln.File(out, key="aggregate/stats.csv").save()

    @ln.tracked
    def broken() -> None:
        ln.File.select(key="raw/b.csv").one().load()
        raise RuntimeError("the QC threshold file is missing")

    ingest()
    clean(min_reads=5)
    report("first")
    report("second")  # a new version of reports/summary.csv
    bulk_register(n_files)
    aggregate()
    try:
        broken()
    except RuntimeError:
        pass
    summary = ln.File.select(key="reports/summary.csv").one()
    return {
        "summary": summary.id,
        "summary_v1": summary.versions.all()[0].id,
        "clean": ln.File.select(key="clean/ab.parquet").one().id,
        "raw_a": ln.File.select(key="raw/a.csv").one().id,
        "plot": ln.File.select(key="raw/plot.png").one().id,
        "stats": ln.File.select(key="aggregate/stats.csv").one().id,
        "clean_run": ln.Run.select(transform__name="clean").one().id,
        "failed_run": ln.Run.select(status="failed").one().id,
        "n_files": str(ln.File.select().count()),
    }


if __name__ == "__main__":
    print(json.dumps(build(Path(sys.argv[1]), int(sys.argv[2]))))
