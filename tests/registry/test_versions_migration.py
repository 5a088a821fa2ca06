"""An instance made before versions existed (schema 0003) upgrades on first use, records and data intact.

The registry is brought to revision 0003 with Alembic, which is exactly the schema the code before
versions created, and filled the way that code filled it: one row per key, data at the key. The
next use upgrades it (migration 0004) and every File is version "1" of its key, the latest, with
its data where it was; new content under a key then becomes version "2".
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from lamin_flows.registry import instance, migrate


@pytest.fixture
def root(ln) -> Path:
    return Path(str(ln.settings.storage))


def test_an_instance_from_before_versions_upgrades(ln, root, tmp_path):
    sources = []
    for i in range(3):
        path = tmp_path / f"s{i}.csv"
        path.write_text(f"a,b\n{i},{i}\n")
        sources.append(path)
    files = [ln.File(p, key=f"old/{p.name}").save() for p in sources]
    ln.File(tmp_path / "s0.csv").id  # same content, no key: nothing new
    engine = instance.current().engine
    migrate.downgrade(engine, "0003")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("file")}
    assert not {"version", "is_latest", "stem_id"} & columns  # the schema before versions
    migrate.forget()

    assert migrate.current_revision(engine) == "0003"
    upgraded = ln.File.select(key__startswith="old/").order_by("key").all()  # first use upgrades
    assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
    assert [f.id for f in upgraded] == [f.id for f in files]
    assert all(f.version == "1" and f.is_latest and f.stem_id == f.id for f in upgraded)
    assert [f.load()["a"].tolist() for f in upgraded] == [[0], [1], [2]]

    newer = tmp_path / "new.csv"
    newer.write_text("a,b\n9,9\n")
    v2 = ln.File(newer, key="old/s0.csv").save()
    assert v2.version == "2" and [f.id for f in v2.versions] == [files[0].id, v2.id]
    assert (root / "old" / "s0.csv").read_text() == "a,b\n9,9\n"
    assert ln.File.select(id=files[0].id).one().load()["a"].tolist() == [0]
    from lamin_flows.verify import verify

    report = verify(min_age=0)
    assert report.ok and report.records == 4 and report.unregistered == [], report.summary()


def test_the_unique_key_rule_holds_for_latest_versions_only(ln, tmp_path):
    from lamin_flows.registry import db
    from lamin_flows.registry.file import File

    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    v1 = ln.File(tmp_path / "a.txt", key="u.txt").save()
    ln.File(tmp_path / "b.txt", key="u.txt").save()
    table = File.__table__
    with pytest.raises(sa.exc.IntegrityError):  # two latest versions of one key: the database refuses
        with db.write(instance.current().engine) as conn:
            conn.execute(table.update().where(table.c.id == v1.id).values(is_latest=True))
