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
        setattr(ln.settings, "no_such_setting", 1)
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
