"""Records: ids, save/update/delete, bulk save, links, convergence — on SQLite and PostgreSQL."""

from __future__ import annotations

import pickle
from datetime import UTC

import pytest

from lamin_flows.errors import MultipleResultsError, NoResultError, UnknownFieldError, ValidationError


def test_ids_are_base62_and_assigned_at_construction(ln):
    tag = ln.Tag(name="a")
    assert len(tag.id) == 12 and tag.id.isalnum() and not tag.is_saved
    transform = ln.Transform(name="t").save()
    run = ln.Run(transform_id=transform.id)
    assert len(run.id) == 20 and run.id.isalnum()
    assert ln.Tag(name="b").id != tag.id


def test_save_update_delete(ln):
    project = ln.Project(name="Project A").save()
    assert ln.Project.select(name="Project A").one().id == project.id
    created = project.updated_at
    project.name = "Project 1"
    project.save()
    again = ln.Project.select(id=project.id).one()
    assert again.name == "Project 1" and again.updated_at >= created
    project.delete()
    assert ln.Project.select(id=project.id).one_or_none() is None


def test_resaving_unchanged_record_is_a_noop(ln):
    project = ln.Project(name="x").save()
    stamp = ln.Project.select(id=project.id).one().updated_at
    project.save()
    assert ln.Project.select(id=project.id).one().updated_at == stamp


def test_bulk_save_one_transaction(ln):
    projects = [ln.Project(name=f"P{i}") for i in range(50)]
    ln.save(projects)
    assert len(ln.Project.select(name__startswith="P")) == 50
    # a bad record in the batch writes nothing
    with pytest.raises(TypeError, match="takes records"):
        ln.save([ln.Project(name="Q1"), "not a record"])
    assert ln.Project.select(name="Q1").one_or_none() is None


def test_same_natural_key_converges(ln):
    first = ln.Tag(name="nightly").save()
    second = ln.Tag(name="nightly").save()
    assert second.id == first.id
    assert len(ln.Tag.select(name="nightly")) == 1


def test_created_by_is_current_user(ln):
    tag = ln.Tag(name="t").save()
    assert tag.created_by.handle == ln.setup.settings.user.handle


def test_many_to_many_saved_and_unsaved(ln, tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("hello")
    tag1, tag2 = ln.Tag(name="one").save(), ln.Tag(name="two").save()
    file = ln.File(source, key="a.txt")
    file.tags.add(tag1, tag2)  # unsaved: applied at save
    assert {t.name for t in file.tags.all()} == {"one", "two"}
    file.save()
    assert {t.name for t in ln.File.select(id=file.id).one().tags.all()} == {"one", "two"}
    file.tags.remove(tag2)  # saved: written at once
    assert [t.name for t in file.tags.all()] == ["one"]
    assert len(ln.File.select(tags=tag1)) == 1 and len(ln.File.select(tags=tag2)) == 0
    assert len(tag1.files.all()) == 1
    with pytest.raises(ValidationError, match="save"):
        file.tags.add(ln.Tag(name="unsaved"))


def test_records_survive_pickling_and_resolve_relations(ln, tmp_path):
    source = tmp_path / "b.txt"
    source.write_text("b")
    file = ln.File(source, key="b.txt").save()
    clone = pickle.loads(pickle.dumps(file))
    assert clone.id == file.id and clone.is_saved
    assert clone.created_by.handle and clone.storage.root == str((tmp_path / "data").resolve())


def test_query_lookups(ln):
    ln.save([ln.Project(name=n) for n in ["alpha", "beta", "Gamma", "50%_off"]])
    names = lambda qs: sorted(p.name for p in qs)  # noqa: E731
    assert names(ln.Project.select(name__startswith="a")) == ["alpha"]
    assert names(ln.Project.select(name__endswith="ta")) == ["beta"]
    assert names(ln.Project.select(name__contains="mm")) == ["Gamma"]
    assert names(ln.Project.select(name__icontains="GAM")) == ["Gamma"]
    assert names(ln.Project.select(name__in=["alpha", "beta"])) == ["alpha", "beta"]
    assert names(ln.Project.select(name__startswith="50%_")) == ["50%_off"]
    assert names(ln.Project.select(name__startswith="5_")) == []  # wildcards are literal
    assert len(ln.Project.select(name__isnull=False)) == 4
    assert ln.Project.select(name="alpha").order_by("-created_at").first().name == "alpha"
    df = ln.Project.select().df()
    assert list(df.index.names) == ["id"] and "name" in df.columns and len(df) == 4


def test_query_errors(ln):
    ln.save([ln.Project(name="a"), ln.Project(name="b")])
    with pytest.raises(UnknownFieldError, match="nme.*Valid fields: .*name"):
        ln.Project.select(nme="a")
    with pytest.raises(MultipleResultsError):
        ln.Project.select().one()
    with pytest.raises(NoResultError):
        ln.Project.select(name="zzz").one()
    with pytest.raises(ValidationError, match="takes a list"):
        ln.Project.select(name__in="a")
    with pytest.raises(UnknownFieldError):
        ln.Project.select().order_by("nope")


def test_query_by_related_field(ln, tmp_path):
    transform = ln.Transform(name="pipe", version="1").save()
    run = ln.Run(transform_id=transform.id).save()
    assert ln.Run.select(transform__name="pipe").one().id == run.id
    assert ln.Run.select(transform=transform).one().id == run.id
    assert run.transform.name == "pipe"
    assert ln.Run.select(transform__name__startswith="pi").one().id == run.id


def test_filter_values_are_checked_against_the_field_type(ln):
    from datetime import datetime, timedelta

    from lamin_flows.errors import ValidationError

    tag = ln.Tag(name="typed")
    tag.save()
    for field, value, words in [
        ("created_at", "abc", "holds date-times"),
        ("created_at__gt", 5, "holds date-times"),
        ("name", 5, "holds text"),
        ("created_at__startswith", "2026", "works on text fields"),
    ]:
        with pytest.raises(ValidationError, match=words):
            ln.Tag.select(**{field: value}).all()
    yesterday = datetime.now(UTC) - timedelta(days=1)
    assert ln.Tag.select(created_at__gt=yesterday).one().name == "typed"
    assert ln.Tag.select(created_at__gt=yesterday.date().isoformat()).one().name == "typed"
    assert ln.Tag.select(created_at__gt=yesterday.replace(tzinfo=None)).one().name == "typed"  # naive = UTC
    assert ln.Tag.select(created_at__lt=yesterday).all() == []
    with pytest.raises(ValidationError, match="whole numbers"):
        ln.File.select(size__gt="big").all()
    assert ln.File.select(size__gt="0").all() == []
