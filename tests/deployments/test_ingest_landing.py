"""The ready-made `ingest_landing` flow, run in this process against the session's Prefect server."""

from __future__ import annotations

from pathlib import Path

import _s3
import pytest

from deployments.helpers import make_landing

pytestmark = pytest.mark.slow  # a real Prefect server (started once per session)


@pytest.fixture
def ingest_landing(prefect_api: str):  # noqa: ANN201
    from lamin_flows.tasks.flows import ingest_landing

    return ingest_landing


def test_ingests_tags_and_reports_then_adds_nothing_for_unchanged_data(ingest_landing, tmp_path: Path) -> None:
    import lamin_flows as ln

    landing = make_landing(tmp_path / "landing", n_files=9, n_folders=3)
    ln.setup.init(storage=tmp_path / "data", name="plain")
    report = ingest_landing(str(landing), key_prefix="raw/", tag="daily")
    run = ln.Run.select(transform__name="ingest_landing").one()
    assert run.status == "completed" and run.reference_type == "prefect-flow-run"
    assert run.params == {
        "landing": str(landing),
        "key_prefix": "raw/",
        "tag": "daily",
        "instance": None,
        "report_key": None,
        "batch_size": 1000,
    }
    files = ln.File.select(key__startswith="raw/").all()
    assert sorted(f.key for f in files) == sorted(
        f"raw/{p.relative_to(landing).as_posix()}" for p in landing.rglob("*.csv")
    )
    assert {f.run_id for f in files} == {run.id}
    assert len(ln.File.select(tags=ln.Tag.select(name="daily").one()).all()) == 9
    assert report.run_id == run.id and report.key.startswith("reports/ingest_landing/") and run.id in report.key
    summary = report.load()
    assert list(summary.columns) == ["key", "size", "hash"] and len(summary) == 9
    assert dict(zip(summary["key"], summary["hash"], strict=True)) == {f.key: f.hash for f in files}

    n_raw = ln.File.select(key__startswith="raw/", is_latest__in=[True, False]).count()
    again = ingest_landing(str(landing), key_prefix="raw/", tag="daily", report_key="reports/{tag}-{run_id}.parquet")
    assert ln.File.select(key__startswith="raw/", is_latest__in=[True, False]).count() == n_raw, (
        "unchanged data: no new File"
    )
    assert again.id != report.id and again.key.startswith("reports/daily-")  # the report under the key asked for
    assert again.load().equals(summary)
    assert ln.Run.select(transform__name="ingest_landing").count() == 2

    # the next night one landing file was edited: a new version of its key, the run succeeds
    edited = sorted(landing.rglob("*.csv"))[0]
    key = f"raw/{edited.relative_to(landing).as_posix()}"
    before, old_text = ln.File.select(key=key).one(), edited.read_text()
    edited.write_text(old_text + "edited,1\n")
    third = ingest_landing(str(landing), key_prefix="raw/", tag="daily")
    third_run = ln.Run.select(transform__name="ingest_landing").order_by("-started_at").first()
    assert third_run.status == "completed" and third.run_id == third_run.id
    latest = ln.File.select(key=key).one()
    assert latest.id != before.id and latest.version == "2" and latest.run_id == third_run.id
    assert Path(latest.path()).read_text() == edited.read_text()
    assert Path(ln.File.select(id=before.id).one().stage()).read_text() == old_text  # the older version is kept
    assert ln.File.select(key__startswith="raw/").count() == 9  # latest versions: one per landing file


def test_a_missing_landing_folder_fails_the_run(ingest_landing, tmp_path: Path) -> None:
    import lamin_flows as ln
    from lamin_flows.errors import StorageNotFoundError

    ln.setup.init(storage=tmp_path / "data", name="plain")
    with pytest.raises(StorageNotFoundError, match="landing"):
        ingest_landing(str(tmp_path / "nowhere"))
    run = ln.Run.select(transform__name="ingest_landing").one()
    assert run.status == "failed" and "nowhere" in run.error


def test_the_instance_parameter_names_a_block(ingest_landing, tmp_path: Path) -> None:
    import lamin_flows as ln
    from lamin_flows.registry import instance
    from lamin_flows.tasks.blocks import LaminInstance

    landing = make_landing(tmp_path / "landing", n_files=4)
    ln.setup.init(storage=tmp_path / "target", name="target")
    LaminInstance.from_instance("target").save("target-test", overwrite=True)
    ln.setup.init(storage=tmp_path / "default", name="default")  # the process default is another one

    ingest_landing(str(landing), instance="lamin-instance/target-test")
    assert instance.current().config.name == "target"
    assert ln.File.select(key__startswith="landing/").count() == 4
    ln.setup.load("default")
    assert ln.File.select().count() == 0 and ln.Run.select().count() == 0, "nothing went to the default instance"


def test_an_unknown_instance_fails_the_run_and_writes_nowhere(ingest_landing, tmp_path: Path) -> None:
    import lamin_flows as ln
    from lamin_flows.errors import InstanceNotFoundError

    landing = make_landing(tmp_path / "landing", n_files=2)
    ln.setup.init(storage=tmp_path / "default", name="default")
    for name, message in (
        ("lamin-instance/no-such-block", "no LaminInstance block"),
        ("no-such-instance", "no instance"),
    ):
        with pytest.raises(InstanceNotFoundError, match=message):
            ingest_landing(str(landing), instance=name)
    assert ln.Run.select().count() == 0 and ln.File.select().count() == 0, "no fallback to the default instance"


def test_calling_the_body_directly_with_another_instance_is_refused(ingest_landing, tmp_path: Path) -> None:
    import lamin_flows as ln
    from lamin_flows.errors import ValidationError

    ln.setup.init(storage=tmp_path / "other", name="other")
    ln.setup.init(storage=tmp_path / "default", name="default")
    with pytest.raises(ValidationError, match="without Prefect's flow engine"):
        ingest_landing.fn(str(tmp_path), instance="other")


@pytest.fixture
def s3(s3_endpoint: str) -> str:
    return s3_endpoint


def test_a_bucket_prefix_is_registered_in_place(ingest_landing, s3: str, tmp_path: Path) -> None:
    import lamin_flows as ln

    store = _s3.create_bucket(s3)
    landing_bucket = _s3.create_bucket(s3)
    client = _s3.s3_client(s3)
    for i in range(5):
        client.put_object(Bucket=landing_bucket, Key=f"today/plate_{i}.csv", Body=f"well,value\nA1,{i}\n".encode())
    client.put_object(Bucket=landing_bucket, Key="elsewhere/skip.csv", Body=b"x\n")
    ln.setup.init(storage=f"s3://{store}/lamin", name="cloud")

    ingest_landing(f"s3://{landing_bucket}/today", tag="plates", batch_size=2)  # 3 tasks on the thread pool
    run = ln.Run.select(transform__name="ingest_landing").one()
    files = ln.File.select(tags=ln.Tag.select(name="plates").one()).all()
    assert sorted(f.key for f in files) == [f"today/plate_{i}.csv" for i in range(5)]
    assert {f.storage.root for f in files} == {f"s3://{landing_bucket}"} and {f.run_id for f in files} == {run.id}
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=landing_bucket)["Contents"])
    assert keys == ["elsewhere/skip.csv", *[f"today/plate_{i}.csv" for i in range(5)]], "nothing copied or moved"
