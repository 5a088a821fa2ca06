"""The classic API, strict: constructors take fields and relations, refuse what they do not know,
and write nothing until a save (issue 12)."""

from __future__ import annotations

import _s3  # tests/_s3.py
import pytest

from lamin_flows.errors import UnknownFieldError, ValidationError


def _rows(ln) -> dict[str, int]:
    return {
        name: ln.__getattr__(name).select().count() for name in ("Storage", "User", "Transform", "Run", "Tag", "File")
    }


# ---- construction -------------------------------------------------------------------------
def test_relations_by_record_are_kept(ln):
    transform = ln.Transform(name="pipeline").save()
    run = ln.Run(transform=transform)
    assert run.transform_id == transform.id and run.transform is transform
    run.save()
    assert ln.Run.select(id=run.id).one().transform == transform
    tag = ln.Tag(name="t").save()
    import pandas as pd

    file = ln.File(data=pd.DataFrame({"a": [1]}), key="x.parquet", run=run)
    assert file.run_id == run.id and file.transform_id == transform.id
    project_file = ln.File(key="y.txt", storage_id=file.storage_id, tags=[tag]).save()
    assert project_file.tags.list() == [tag]


def test_data_keyword_is_the_data(ln, tmp_path):
    import pandas as pd

    df = pd.DataFrame({"a": [1, 2]})
    file = ln.File(data=df, key="tables/df.parquet").save()
    assert file.suffix == ".parquet" and file.size and ln.File.select(key="tables/df.parquet").one().load().equals(df)
    with pytest.raises(ValidationError, match="twice"):
        ln.File(df, data=df)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda ln: ln.Tag(), r"Tag\(\) needs name="),
        (lambda ln: ln.Run(), r"Run\(\) needs transform=<record>"),
        (lambda ln: ln.Transform(version="1"), r"Transform\(\) needs name="),
        (lambda ln: ln.File(), r"File\(\) needs data"),
        (lambda ln: ln.File(key="a.txt"), r"File\(\) needs data"),
    ],
)
def test_missing_required_fields_raise_before_anything_is_written(ln, make, message):
    before = _rows(ln)
    with pytest.raises(ValidationError, match=message):
        make(ln)
    assert _rows(ln) == before


def test_unknown_keywords_are_named_with_the_valid_ones(ln, tmp_path):
    with pytest.raises(UnknownFieldError, match=r"unknown keyword 'typo'.*Valid keywords: .*name"):
        ln.Tag(name="x", typo=1)
    with pytest.raises(UnknownFieldError, match=r"'transfrom'. Did you mean 'transform'\?"):
        ln.Run(transfrom=None)
    path = tmp_path / "a.txt"
    path.write_text("a")
    with pytest.raises(
        UnknownFieldError, match=r"'keyy'. Did you mean 'key'\?.*data, key, name, description, version, revises, run"
    ):
        ln.File(path, keyy="x")
    assert ln.Tag.select().count() == 0 and ln.File.select().count() == 0


def test_relations_refuse_what_is_not_a_record(ln):
    transform = ln.Transform(name="p").save()
    with pytest.raises(ValidationError, match=r"Run\(transform=...\) takes a Transform record, got 'p'.*transform_id="):
        ln.Run(transform="p")
    with pytest.raises(ValidationError, match="takes a Run record"):
        ln.File({"a": 1}, run=transform)
    with pytest.raises(ValidationError, match="save .* before linking"):
        ln.File(key="k.txt", storage_id="x", tags=[ln.Tag(name="unsaved")])


def test_no_instance_needed_to_refuse(lamin_home):
    import lamin_flows as ln

    with pytest.raises(ValidationError, match="needs data"):
        ln.File()


def test_save_takes_one_record(ln):
    ln.save(ln.Tag(name="one"))
    assert ln.Tag.select(name="one").one().is_saved
    with pytest.raises(TypeError, match="takes records, got str"):
        ln.save(["not a record"])


# ---- nothing written by an unsaved or failed construction -----------------------------------
def test_unsaved_file_in_another_bucket_writes_no_storage(s3_endpoint, tmp_path):
    import lamin_flows as ln

    ln.setup.init(storage=tmp_path / "data")
    other = _s3.create_bucket(s3_endpoint)
    _s3.s3_client(s3_endpoint).put_object(Bucket=other, Key="x.csv", Body=b"a,b\n1,2\n")
    before = ln.Storage.select().count()
    file = ln.File(f"s3://{other}/x.csv")
    assert ln.Storage.select().count() == before and not file.storage.is_saved
    del file
    with pytest.raises(FileNotFoundError):
        ln.File("s3://missing-bucket-lamin-test/x.csv")
    assert ln.Storage.select().count() == before
    file = ln.File(f"s3://{other}/x.csv").save()  # the bucket is saved with its first File
    storage = ln.Storage.select(root=f"s3://{other}").one()
    assert file.storage_id == storage.id and file.storage == storage
    assert ln.File(f"s3://{other}/x.csv").id == file.id


def test_failed_save_leaves_no_row_behind(s3_endpoint, tmp_path):
    import lamin_flows as ln

    ln.setup.init(storage=tmp_path / "data")
    other = _s3.create_bucket(s3_endpoint)
    _s3.s3_client(s3_endpoint).put_object(Bucket=other, Key="x.csv", Body=b"a\n")
    existing = ln.File(key="taken.csv", storage_id=ln.Storage.select().one().id, hash="h", size=1).save()
    file = ln.File(f"s3://{other}/x.csv")
    clash = ln.File(key="taken.csv", storage_id=existing.storage_id, hash="other", size=2)
    clash.id = existing.id  # the same primary key: the insert fails inside the transaction
    before = _rows(ln)
    with pytest.raises(Exception):
        ln.save([file, clash])
    assert _rows(ln) == before and not file.storage.is_saved


def test_failed_first_save_of_a_new_user_leaves_no_user_behind(ln, monkeypatch):
    from lamin_flows.config import reset_settings
    from lamin_flows.registry import instance

    monkeypatch.setenv("LAMIN_USER", "bob")  # a second person on this instance, not registered yet
    reset_settings()
    instance.current()._user_id = None
    storage_id = ln.Storage.select().one().id
    assert ln.User.select(handle="bob").count() == 0
    good = ln.File(key="a.txt", storage_id=storage_id, hash="h", size=1)
    bad = ln.File(key="b.txt", storage_id=storage_id, hash="h2", size=1)
    bad.id = good.id  # the same primary key: the insert fails inside the transaction
    with pytest.raises(Exception):
        ln.save([good, bad])
    assert ln.User.select(handle="bob").count() == 0 and ln.File.select().count() == 0
    good.save()  # a retry creates the User with it
    assert ln.File.select().one().created_by == ln.User.select(handle="bob").one()


def test_unsaved_related_record_is_saved_with_the_record(ln):
    transform = ln.Transform(name="new pipeline")
    run = ln.Run(transform=transform)
    assert ln.Transform.select().count() == 0  # construction wrote nothing
    run.save()
    assert transform.is_saved and ln.Run.select(transform__name="new pipeline").one() == run


def test_run_of_existing_content_is_kept_and_said(ln, capsys):
    import pandas as pd

    transform = ln.Transform(name="p").save()
    first, second = ln.Run(transform=transform).save(), ln.Run(transform=transform).save()
    df = pd.DataFrame({"a": [1]})
    file = ln.File(df, key="a.parquet", run=first).save()
    again = ln.File(df, key="a.parquet", run=second)
    assert again.id == file.id and again.run_id == first.id
    assert f"keeps its run {first.id}" in capsys.readouterr().err
