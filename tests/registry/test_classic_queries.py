"""The query calls around the guide: Q objects, get/list/values/exclude/delete, search, lookup,
df include/exclude, link managers and reverse relations (issue 12)."""

from __future__ import annotations

import pytest

from lamin_flows.errors import MultipleResultsError, NoResultError, UnknownFieldError, ValidationError


@pytest.fixture
def filled(ln, tmp_path):
    import pandas as pd

    transform = ln.Transform(name="ingest").save()
    run = ln.Run(transform=transform).save()
    tags = [ln.Tag(name=n).save() for n in ("Sample 0001", "Sample 0002", "qc failed")]
    files = []
    for i, key in enumerate(["raw/a.csv", "raw/b.tsv", "out/c.parquet"]):
        path = tmp_path / key.replace("/", "_")
        path.write_text("x" * (10 ** (i + 1)))
        files.append(
            ln.File(path, key=key, run=run, description=f"file {i}").save()
            if i < 2
            else ln.File(pd.DataFrame({"a": [1]}), key=key, run=run).save()
        )
    files[0].tags.add(tags[0])
    files[1].tags.add(tags[1], tags[2])
    return ln, transform, run, tags, files


# ---- lookups and their errors ------------------------------------------------------------
def test_unknown_lookup_names_the_suffix_and_suggests(ln):
    with pytest.raises(UnknownFieldError, match=r"File.key has no lookup __startwith. Did you mean '__startswith'\?"):
        ln.File.select(key__startwith="x")
    with pytest.raises(UnknownFieldError, match=r"has no lookup __regex\. Valid lookups: __exact"):
        ln.File.select(name__regex="x")
    with pytest.raises(UnknownFieldError, match=r"no field 'kee'.*Did you mean 'key'\?"):
        ln.File.select(kee="x")


def test_relation_given_text_says_what_to_write(filled):
    ln = filled[0]
    with pytest.raises(ValidationError, match=r"tags__name='Sample 0001'"):
        ln.File.select(tags="Sample 0001")
    with pytest.raises(ValidationError, match=r"transform__name='ingest'.*transform_id="):
        ln.Run.select(transform="ingest")
    assert len(ln.File.select(tags__name="Sample 0001")) == 1


def test_integral_floats_for_whole_numbers(filled):
    ln = filled[0]
    assert ln.File.select(size__lt=1e2).list("key") == ["raw/a.csv"]
    with pytest.raises(ValidationError, match=r"size=1.5: size holds whole numbers"):
        ln.File.select(size=1.5)


# ---- Q, select, get, list, values, exclude, count ----------------------------------------
def test_q_or_and_not(filled):
    ln, *_ = filled
    Q = ln.Q
    assert set(ln.File.select(Q(suffix=".csv") | Q(suffix=".tsv")).list("key")) == {"raw/a.csv", "raw/b.tsv"}
    assert ln.File.select(Q(key__startswith="raw/") & ~Q(suffix=".csv")).list("key") == ["raw/b.tsv"]
    # ~Q keeps records where the field is empty (NULL), like exclude()
    assert set(ln.File.select(~Q(description="file 0")).list("key")) == {"raw/b.tsv", "out/c.parquet"}
    assert ln.File.select(~Q(tags__name="qc failed")).count() == 2
    with pytest.raises(ValidationError, match="takes ln.Q"):
        ln.File.select("suffix=.csv")


def test_module_select_get_list_values_exclude(filled):
    ln, transform, run, tags, files = filled
    assert ln.select(ln.Tag, name__startswith="Sample").list("name") == ["Sample 0001", "Sample 0002"]
    with pytest.raises(ValidationError, match="registry class first"):
        ln.select("Tag")
    assert ln.Tag.select().get(name="qc failed") == tags[2]
    assert ln.File.select().get(files[1].id) == files[1]
    with pytest.raises(NoResultError):
        ln.Tag.select().get(name="none")
    with pytest.raises(MultipleResultsError):
        ln.Tag.select().get(name__startswith="Sample")
    assert ln.Tag.select().list() == tags
    assert ln.File.select(suffix=".csv").values("key", "size") == [{"key": "raw/a.csv", "size": 10}]
    with pytest.raises(UnknownFieldError, match="no column 'sise'"):
        ln.File.select().values("sise")
    assert ln.Tag.select().exclude(name__startswith="Sample").list("name") == ["qc failed"]
    assert ln.File.select().exclude(key__startswith="raw/").count() == 1


def test_delete_in_bulk_keeps_storage_unless_asked(filled):
    ln, transform, run, tags, files = filled
    paths = [f.path() for f in files]
    assert ln.File.select(key__startswith="raw/").delete() == 2
    assert ln.File.select().count() == 1 and all(p.exists() for p in paths)
    assert ln.File.select().delete(storage=True) == 1
    assert not paths[2].exists() and paths[0].exists()
    assert ln.Tag.select(name__startswith="Sample").delete() == 2 and ln.Tag.select().list("name") == ["qc failed"]


def test_df_include_and_exclude(filled):
    ln, *_ = filled
    df = ln.File.select().df(include=["tags__name", "transform__name"], exclude=["hash", "hash_type"])
    assert "hash" not in df.columns and "hash_type" not in df.columns
    assert df.set_index("key")["tags__name"].to_dict() == {
        "raw/a.csv": ["Sample 0001"],
        "raw/b.tsv": ["Sample 0002", "qc failed"],
        "out/c.parquet": [],
    }
    assert set(df["transform__name"]) == {"ingest"}
    narrow = ln.File.select().df(columns=["key"], include=["run__status"])
    assert list(narrow.columns) == ["key", "run__status"]
    with pytest.raises(UnknownFieldError, match="no relation 'tag'"):
        ln.File.select().df(include=["tag__name"])
    with pytest.raises(UnknownFieldError, match="no column 'sise'"):
        ln.File.select().df(exclude=["sise"])


# ---- search and lookup -------------------------------------------------------------------
def test_search_ranks_exact_then_prefix_then_contains(filled):
    ln, *_ = filled
    ln.Tag(name="my sample").save()
    ln.Tag(name="Sample").save()
    assert [t.name for t in ln.Tag.search("sample")] == ["Sample", "Sample 0001", "Sample 0002", "my sample"]
    assert [f.key for f in ln.File.search("b.tsv")] == ["raw/b.tsv"]
    assert [f.key for f in ln.File.search("file 1")] == ["raw/b.tsv"]  # description
    assert ln.Transform.search("ing")[0].name == "ingest"
    assert ln.User.search(ln.User.select().one().handle[:2])
    with pytest.raises(ValidationError, match="non-empty string"):
        ln.Tag.search("")


def test_lookup_gives_records_as_attributes(filled):
    ln, transform, run, tags, files = filled
    found = ln.Tag.lookup()
    assert found.sample_0001 == tags[0] and found["qc failed"] == tags[2]
    assert "sample_0002" in dir(found)
    with pytest.raises(AttributeError, match="Did you mean 'sample_0001'"):
        found.sample_001
    assert ln.File.lookup().raw_a_csv == files[0]
    assert ln.Transform.lookup().ingest == transform
    handle = ln.User.select().one().handle
    assert ln.User.lookup()[handle].handle == handle
    ln.Project(name="P-1").save()
    assert ln.Project.lookup().p_1.name == "P-1"


# ---- link managers and reverse relations -------------------------------------------------
def test_link_manager_list_count_set_clear(filled):
    ln, transform, run, tags, files = filled
    file = files[1]
    assert file.tags.count() == 2 and file.tags.list("name") == ["Sample 0002", "qc failed"]
    file.tags.set([tags[0]])
    assert ln.File.select(id=file.id).one().tags.list() == [tags[0]]
    file.tags.clear()
    assert file.tags.count() == 0 and ln.Tag.select().count() == 3
    unsaved = ln.File(key="k.txt", storage_id=file.storage_id, size=1, hash="h")
    unsaved.tags.set(tags[:2])
    unsaved.tags.clear()
    unsaved.tags.add(tags[2])
    unsaved.save()
    assert unsaved.tags.list() == [tags[2]]
    with pytest.raises(ValidationError, match="takes Tag records"):
        file.tags.set(["Sample 0001"])


def test_reverse_relations(filled):
    ln, transform, run, tags, files = filled
    assert set(run.outputs.list()) == set(files)
    assert transform.runs.list() == [run] and transform.files.count() == 3
    storage = files[0].storage
    assert storage.files.count() == 3 and not storage.is_cloud
    assert ln.User.select().one().files.count() == 3
    assert tags[1].files.list() == [files[1]]
    assert run.children.count() == 0


def test_df_timestamps_are_the_records_own_in_utc(filled):
    import pandas as pd

    ln, _, run, _, _ = filled
    run.started_at = run.created_at
    run.save()
    for model in (ln.File, ln.Run):
        df = model.select().df()
        for record in model.select():
            for column in ("created_at", "updated_at", "started_at", "finished_at"):
                if column not in df.columns:
                    continue
                value, want = df.loc[record.id, column], getattr(record, column)
                if want is None:
                    assert value is pd.NaT
                else:
                    assert str(value.tz) == "UTC" and value.to_pydatetime() == want


def test_tags_and_projects_meet_through_their_files(filled):
    ln, _, _, tags, files = filled
    project = ln.Project(name="atlas").save()
    files[1].projects.add(project)
    assert [p.name for p in ln.Project.select(files__tags=tags[1])] == ["atlas"]
    assert sorted(t.name for t in ln.Tag.select(files__projects=project)) == ["Sample 0002", "qc failed"]
    assert ln.Project.select(files__tags=tags[0]).count() == 0
