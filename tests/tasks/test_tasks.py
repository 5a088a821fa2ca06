"""lamin_flows.tasks: the ready-made Prefect tasks, as plain calls (.fn) and inside a tracked flow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from prefect import Task, flow
from prefect.cache_policies import NONE

import lamin_flows.tasks as tasks
from lamin_flows.errors import NoResultError, ValidationError
from lamin_flows.tasks import ingest_directory, load_file, register_file, serialize_dataframe, tag_files


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """A landing folder outside storage: 5 CSVs in two batches."""
    folder = tmp_path / "landing"
    for i in range(5):
        path = folder / f"batch_{i % 2}" / f"reading_{i}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"sensor,value\nA,{i}\n")
    return folder


def test_the_public_tasks_are_documented_prefect_tasks_without_caching() -> None:
    file_tasks = ["ingest_directory", "load_file", "register_file", "serialize_dataframe", "tag_files"]
    assert set(file_tasks) <= set(tasks.__all__)
    for name in file_tasks:
        task = getattr(tasks, name)
        assert isinstance(task, Task) and task.cache_policy is NONE, name
        assert all(section in task.__doc__ for section in ("Args:", "Returns:", "Example:")), name


def test_ingest_directory_with_a_prefix_replaces_the_folder_name(ln, landing) -> None:
    files = ingest_directory.fn(landing, key_prefix="raw/", tags=["nightly", "sensor"])
    assert [f.key for f in files] == sorted(f"raw/batch_{i % 2}/reading_{i}.csv" for i in range(5))
    assert all(f.is_saved for f in files)
    assert ln.File.select(tags__name="nightly").count() == 5 and ln.File.select(tags__name="sensor").count() == 5
    again = ingest_directory.fn(landing, key_prefix="raw")  # unchanged content: the same records
    assert [f.id for f in again] == [f.id for f in files] and ln.File.select().count() == 5


def test_ingest_directory_without_a_prefix_keys_by_folder_name(ln_sqlite, landing) -> None:
    files = ingest_directory.fn(str(landing))
    assert files[0].key == "landing/batch_0/reading_0.csv" and len(files) == 5


def test_tag_files_takes_files_or_ids_and_a_tag_or_a_name(ln_sqlite, landing) -> None:
    ln = ln_sqlite
    files = ingest_directory.fn(landing, key_prefix="raw/")
    tag = tag_files.fn(files[:2], "qc")
    assert isinstance(tag, ln.Tag) and tag.name == "qc"
    assert tag_files.fn([f.id for f in files[2:]], ln.Tag(name="qc")).id == tag.id  # an existing name converges
    tag_files.fn(files[0].id, tag)  # one id; tagging twice is harmless
    assert ln.File.select(tags=tag).count() == 5
    with pytest.raises(NoResultError, match="no File with id 'missing"):
        tag_files.fn(["missing_id_000000000"], "qc")
    with pytest.raises(ValidationError, match="Tag or a tag name"):
        tag_files.fn(files, 42)


def test_serialize_dataframe_in_each_format(ln_sqlite) -> None:
    ln = ln_sqlite
    df = pd.DataFrame({"key": ["a", "b"], "size": [1, 2]})
    parquet = serialize_dataframe.fn(df, key="reports/r.parquet")
    assert parquet.is_saved and parquet.suffix == ".parquet" and parquet.load().equals(df)
    assert serialize_dataframe.fn(df, key="reports/r.parquet").id == parquet.id  # same content: same File
    csv = serialize_dataframe.fn(df, key="reports/r.csv", format="csv")
    assert csv.load().equals(df)
    tsv = serialize_dataframe.fn(df, name="summary", format="tsv")
    assert tsv.key is None and tsv.name == "summary" and tsv.suffix == ".tsv" and tsv.load().equals(df)
    unnamed = serialize_dataframe.fn(df.assign(x=1))
    assert unnamed.suffix == ".parquet" and ln.File.select().count() == 4
    with pytest.raises(ValidationError, match="format 'xlsx'"):
        serialize_dataframe.fn(df, format="xlsx")


def test_register_and_load_file(ln_sqlite, tmp_path) -> None:
    source = tmp_path / "plate.csv"
    source.write_text("well,od\nA1,0.5\n")
    file = register_file.fn(source, key="plates/plate.csv")
    assert file.is_saved and file.key == "plates/plate.csv"
    assert load_file.fn("plates/plate.csv")["od"].tolist() == [0.5]
    assert load_file.fn(file.id).shape == (1, 2) and load_file.fn(file).shape == (1, 2)
    with pytest.raises(NoResultError, match="no File with key or id 'plates/none.csv'"):
        load_file.fn("plates/none.csv")


@pytest.mark.usefixtures("prefect_server")
def test_the_tasks_in_a_tracked_flow_link_outputs_and_inputs_to_its_run(ln_sqlite, landing, capsys) -> None:
    ln = ln_sqlite
    reference = serialize_dataframe.fn(pd.DataFrame({"sensor": ["A"], "limit": [3]}), key="ref/limits.parquet")

    @flow
    @ln.tracked
    def nightly(landing: str) -> ln.File:
        files = ingest_directory(landing, key_prefix="raw/")
        tag_files(files, "nightly")
        limits = load_file(reference.key)
        summary = pd.DataFrame({"key": [f.key for f in files], "limit": int(limits["limit"][0])})
        return serialize_dataframe(summary, key="reports/nightly.parquet")

    report = nightly(str(landing))
    run = ln.Run.select(transform__name="nightly").one()
    assert report.run_id == run.id and report.load()["limit"].tolist() == [3] * 5
    assert ln.File.select(run=run).count() == 6
    assert [f.key for f in run.inputs.all()] == ["ref/limits.parquet"]
    assert ln.File.select(tags__name="nightly", run=run).count() == 5
    assert "cache" not in capsys.readouterr().err.lower()  # no failed attempts to hash arguments
