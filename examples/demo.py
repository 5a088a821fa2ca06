"""`make demo`: the main job on the embedded default (SQLite + a local folder).

1. sets up an instance in ./.demo (a SQLite registry and a storage folder),
2. drops a Cell Ranger run and some sensor CSVs into a landing folder,
3. runs the ready-made nightly flow `ingest_landing` (Prefect, temporary local server):
   every file is copied into storage, registered, tagged, and a report File is written,
4. runs a tracked function that reads the report (an input) and writes a QC table (an output),
5. shows what was registered: the storage tree, the registries, the runs, and the lineage.

Run it again with ``--keep`` (``.venv/bin/python examples/demo.py --keep``): the second night
registers no new data Files (same content), only a new Run and its report.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

demo = Path(__file__).resolve().parent.parent / ".demo"
if "--keep" not in sys.argv:
    shutil.rmtree(demo, ignore_errors=True)
demo.mkdir(exist_ok=True)
os.environ["LAMIN_HOME"] = str(demo / "lamin-home")
os.environ["PREFECT_HOME"] = str(demo / "prefect-home")
os.environ.pop("PREFECT_API_URL", None)  # Prefect's own temporary server
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import pandas as pd  # noqa: E402

import lamin_flows as ln  # noqa: E402

pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 60)


def heading(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m")


heading("Set up an instance: SQLite registry + a local storage folder")
ln.setup.init(storage=demo / "mydata", name="demo")
print(ln.setup.info())

heading("A landing folder: one Cell Ranger run and a few sensor CSVs")
landing = demo / "landing"
ln.dev.datasets.generate_cell_ranger_files("sample_001", landing)
for i in range(5):
    (landing / "sensors").mkdir(parents=True, exist_ok=True)
    (landing / "sensors" / f"reading_{i:02d}.csv").write_text(f"sensor,value\nA,{i}\nB,{i * 2}\n")
print(f"{sum(1 for p in landing.rglob('*') if p.is_file())} files in {landing}")

heading("Run the nightly flow: ingest, tag, report (Prefect, temporary local server)")
from lamin_flows.config import temporary_prefect_server_notice  # noqa: E402

notice = temporary_prefect_server_notice()  # before Prefect is imported: it reads its settings then
if notice:
    print(notice, flush=True)
from lamin_flows.tasks.flows import ingest_landing  # noqa: E402

report = ingest_landing(str(landing), key_prefix="landing/", tag="nightly")
print(f"report: {report.key} ({report.size} bytes)")


@ln.tracked
def quality_check(report_key: str, min_size: int = 100):
    """Keep the files large enough to be real data; a tracked function, no Prefect needed."""
    table = ln.File.select(key=report_key).one().load()  # loading makes the report an input
    passed = table[table["size"] >= min_size]
    return ln.File(passed, key="qc/passed.parquet").save()


qc = quality_check(report.key)
print(f"qc: {qc.key}: {len(qc.load())} of {len(report.load())} files passed")

heading("File.tree(): what is in storage")
ln.File.tree()

heading("Query like a table")
print(ln.File.select(key__startswith="landing/sample_001/", suffix=".tsv.gz").df()[["key", "size", "hash"]])
print(ln.Run.select().df()[["status", "transform_id", "reference", "started_at", "finished_at"]])

heading("ln.view(): the latest records of every registry")
ln.view(3)

heading("Lineage of qc/passed.parquet")
print(qc.view_lineage())
print(f"\nEverything is in {demo} (storage: {demo / 'mydata'}); `make demo` starts it afresh.")
