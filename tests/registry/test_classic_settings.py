"""ln.settings refuses what it does not know; stage/load(is_run_input=...) (issue 12)."""

from __future__ import annotations

import pandas as pd
import pytest

from lamin_flows.errors import ValidationError


def test_settings_refuse_unknown_names(ln_sqlite):
    ln = ln_sqlite
    with pytest.raises(ValidationError, match=r"no setting 'verbosty'. Did you mean 'verbosity'\?"):
        ln.settings.verbosty = 3
    with pytest.raises(ValidationError, match="no setting 'no_such_setting'"):
        ln.settings.no_such_setting = 1
    assert not hasattr(ln.settings, "no_such_setting")


@pytest.mark.parametrize("value", [7, -1, "loud"])
def test_bad_verbosity_is_our_error_and_changes_nothing(ln_sqlite, value):
    ln = ln_sqlite
    ln.settings.verbosity = 3
    with pytest.raises(ValidationError, match=rf"verbosity = {value!r}: it takes 0 .* or 3"):
        ln.settings.verbosity = value
    assert ln.settings.verbosity == 3


def test_storage_is_cloud(ln_sqlite):
    assert ln_sqlite.setup.settings.storage.is_cloud is False
    assert ln_sqlite.Storage.select().one().is_cloud is False


def test_is_run_input(ln_sqlite):
    ln = ln_sqlite
    ln.File(pd.DataFrame({"a": [1]}), key="in/a.parquet").save()
    ln.File(pd.DataFrame({"b": [1]}), key="in/b.parquet").save()
    ln.File(pd.DataFrame({"c": [1]}), key="in/c.parquet").save()

    @ln.tracked
    def peek() -> None:
        ln.File.select(key="in/a.parquet").one().load(is_run_input=False)
        ln.File.select(key="in/b.parquet").one().stage(is_run_input=True)
        ln.File.select(key="in/c.parquet").one().stage()

    peek()
    run = ln.Run.select(transform__name="peek").one()
    assert sorted(f.key for f in run.inputs.all()) == ["in/b.parquet", "in/c.parquet"]
    file = ln.File.select(key="in/a.parquet").one()
    with pytest.raises(ValidationError, match="no run is being tracked"):
        file.stage(is_run_input=True)
    with pytest.raises(ValidationError, match="True, False or None"):
        file.load(is_run_input="yes")
    assert file.load(is_run_input=False).equals(pd.DataFrame({"a": [1]}))


def test_paths_are_path_objects_locally(ln_sqlite, tmp_path):
    from pathlib import Path

    ln = ln_sqlite
    file = ln.File(pd.DataFrame({"a": [1]}), key="t/a.parquet").save()
    path = file.path()
    assert isinstance(path, Path) and path == tmp_path / "data" / "t" / "a.parquet" and path.exists()
    root = ln.settings.storage
    assert root == tmp_path / "data" and (root / "t" / "a.parquet") == path
    assert [p.name for p in (root / "t").iterdir()] == ["a.parquet"]
    assert root.fs.exists(str(path))


def test_paths_are_path_objects_in_the_cloud(s3_bucket, moto_server):
    import _s3

    import lamin_flows as ln

    ln.setup.init(storage=f"s3://{s3_bucket}/project")
    file = ln.File(pd.DataFrame({"a": [1]}), key="t/a.parquet").save()
    path = file.path()
    assert str(path) == f"s3://{s3_bucket}/project/t/a.parquet" and path.exists()
    root = ln.settings.storage
    assert ln.setup.settings.storage.is_cloud and str(root) == f"s3://{s3_bucket}/project"
    assert str(root / "t" / "a.parquet") == str(path) and (root / "t" / "a.parquet").exists()
    assert [p.name for p in (root / "t").iterdir()] == ["a.parquet"]
    assert path.fs.exists(str(path)) and not (root / "missing.csv").exists()
    listing = _s3.s3_client(moto_server).list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert sorted(o["Key"] for o in listing) == ["project/.lamindb/_owner.json", "project/t/a.parquet"]
