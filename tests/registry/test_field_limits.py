"""Values longer than a column allows raise our ValidationError before the database, on SQLite and
PostgreSQL alike (PostgreSQL used to answer with a raw DataError, SQLite stored them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamin_flows.errors import ValidationError


def test_a_suffix_over_32_characters_is_refused(ln, tmp_path):
    suffix = "." + "s" * 40
    source = tmp_path / f"data{suffix}"
    source.write_text("x\n")
    file = ln.File(source, key=f"long/data{suffix}")
    with pytest.raises(ValidationError, match=r"File\.suffix is 41 characters long.*the limit is 32"):
        file.save()
    assert ln.File.select().count() == 0
    root = Path(ln.setup.settings.storage.root)
    assert not (root / "long").exists()  # nothing moved into place


def test_a_long_name_description_and_tag_are_checked(ln, tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("a\n")
    with pytest.raises(ValidationError, match=r"File\.name is 1100 characters long.*limit is 1024"):
        ln.File(source, key="a.txt", name="n" * 1100).save()
    file = ln.File(
        source, key="a.txt", name="n" * 1024, description="d" * 100_000
    ).save()  # at the limit; text unlimited
    assert ln.File.select(id=file.id).one().description == "d" * 100_000
    with pytest.raises(ValidationError, match=r"Tag\.name is 256 characters long.*limit is 255"):
        ln.Tag(name="t" * 256).save()
    with pytest.raises(ValidationError, match=r"Project\.name is 300"):
        ln.save([ln.Project(name="ok"), ln.Project(name="p" * 300)])
    assert ln.Project.select().count() == 0  # all or nothing
    with pytest.raises(ValidationError, match=r"Transform\.name is 256"):
        ln.Transform(name="f" * 256).save()


def test_a_changed_field_is_checked_on_update(ln, tmp_path):
    tag = ln.Tag(name="short").save()
    tag.name = "x" * 500
    with pytest.raises(ValidationError, match=r"Tag\.name is 500 characters long.*limit is 255"):
        tag.save()
    assert ln.Tag.select().one().name == "short"
