"""Versions as a user meets them: stale handles, trees, lineage, in-place edits, bulk saves."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamin_flows.errors import ValidationError


@pytest.fixture
def root(ln) -> Path:
    return Path(str(ln.settings.storage))


def test_a_handle_loaded_before_a_new_version_still_reads_its_own_bytes(ln, tmp_path):
    import pandas as pd

    v1 = ln.File(pd.DataFrame({"a": [1]}), key="t/a.parquet").save()
    v2 = ln.File(pd.DataFrame({"a": [1, 2]}), key="t/a.parquet").save()
    assert v2.version == "2"
    assert len(v1.load()) == 1 and not v1.is_latest  # v1 was the latest when loaded: it asks again
    assert Path(v1.path()).name == f"{v1.id}.parquet"
    assert len(v2.load()) == 2


def test_tree_view_and_lineage_show_versions(ln, root, tmp_path, capsys):
    for i in range(3):
        (tmp_path / "x.txt").write_text(f"night {i}")
        ln.File(tmp_path / "x.txt", key="reports/x.txt").save()
    (tmp_path / "y.txt").write_text("once")
    ln.File(tmp_path / "y.txt", key="reports/y.txt").save()
    tree = ln.File.tree("reports")
    entries = {e.path: e for e in tree.entries}
    assert (entries["x.txt"].version, entries["x.txt"].versions) == ("3", 3)
    assert (entries["y.txt"].version, entries["y.txt"].versions) == ("1", 1)
    out = capsys.readouterr().out
    assert "version 3 of 3" in out and out.count("version") == 1 and tree.n_files == 2
    ln.view(registries=["File"], width=100)
    out = capsys.readouterr().out
    assert "File: 2 records" in out  # latest versions only

    @ln.tracked()
    def read_it() -> None:
        ln.File.select(key="reports/x.txt").one().load()
        (tmp_path / "z.txt").write_text("made from x")
        ln.File(tmp_path / "z.txt", key="reports/z.txt").save()

    read_it()
    graph = ln.File.select(key="reports/z.txt").one().view_lineage()
    assert any(n.label == "reports/x.txt" and "version 3" in n.detail for n in graph.files)


def test_one_save_with_two_new_versions_of_a_key_is_refused(ln, root, tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    first = ln.File(tmp_path / "a.txt", key="k.txt")
    second = ln.File(tmp_path / "b.txt", key="k.txt")
    with pytest.raises(ValidationError, match="two Files in one save"):
        ln.save([first, second])
    assert len(ln.File.select(is_latest__in=[True, False])) == 0 and not (root / "k.txt").exists()


def test_a_folder_edited_in_place_registers_new_versions_and_verify_says_so(ln, root):
    from lamin_flows.verify import verify

    folder = root / "sample"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.csv").write_text(f"x\n{i}\n")
    ln.save(ln.File.from_dir(folder))
    (folder / "1.csv").write_text("x\n1\nedited\n")  # a tool rewrote one file in the storage folder
    files = ln.File.from_dir(folder)
    new = [f for f in files if not f._lf.saved]
    assert [f.key for f in new] == ["sample/1.csv"]
    ln.save(files)
    latest = ln.File.select(key="sample/1.csv").one()
    assert latest.version == "2" and latest.load()["x"].tolist() == ["1", "edited"]
    report = verify(min_age=0)
    assert not report.ok and len(report.missing) == 1
    finding = report.missing[0]
    assert "changed in place" in finding.detail and "version 1 of 'sample/1.csv'" in finding.detail
    assert len(ln.File.select(key__startswith="sample/")) == 3


def test_run_inputs_keep_the_version_read(ln, tmp_path):
    @ln.tracked()
    def consume() -> None:
        ln.File.select(key="in.txt").one().load()

    (tmp_path / "in.txt").write_text("v1")
    v1 = ln.File(tmp_path / "in.txt", key="in.txt").save()
    consume()
    (tmp_path / "in.txt").write_text("v2")
    v2 = ln.File(tmp_path / "in.txt", key="in.txt").save()
    consume()
    runs = ln.Run.select(transform__name="consume").order_by("started_at").all()
    assert [[f.id for f in r.inputs.all()] for r in runs] == [[v1.id], [v2.id]]
    assert [f.load() for f in runs[0].inputs.all()] == ["v1"]


def test_deleting_a_file_runs_read_and_staging_an_edited_file_warn(ln, root, tmp_path, capsys):
    data = root / "in.csv"
    data.write_text("x\n1\n")
    file = ln.File(data).save()

    @ln.tracked()
    def reader() -> None:
        file.stage()

    reader()
    capsys.readouterr()
    data.write_text("x\n1\n2\n")  # edited outside lamin_flows
    file.stage()
    err = capsys.readouterr().err
    assert "changed since it was registered" in err and "new version" in err
    file.delete(storage=False)
    err = capsys.readouterr().err
    run = ln.Run.select(transform__name="reader").one()
    assert "was read by 1 run(s)" in err and run.id in err


def test_an_unregistered_file_at_the_key_is_never_overwritten(ln, root, tmp_path):
    from lamin_flows.errors import KeyConflictError

    (root / "results").mkdir()
    theirs = root / "results" / "summary.csv"
    theirs.write_text("a colleague's file\n")  # put there by hand, never registered
    (tmp_path / "mine.csv").write_text("my file\n")
    with pytest.raises(KeyConflictError, match="no record points to"):
        ln.File(tmp_path / "mine.csv", key="results/summary.csv").save()
    assert theirs.read_text() == "a colleague's file\n" and len(ln.File.select()) == 0
    ln.File(theirs).save()  # registered in place first: the save becomes its next version
    mine = ln.File(tmp_path / "mine.csv", key="results/summary.csv").save()
    assert mine.version == "2" and theirs.read_text() == "my file\n"
    assert Path(mine.versions[0].stage()).read_text() == "a colleague's file\n"
    mine.delete(storage=False)  # version 1 is the latest again, back at the key
    assert theirs.read_text() == "a colleague's file\n"


def test_replace_with_another_format_moves_the_line_to_the_new_suffix(ln, root, tmp_path):
    import pandas as pd

    from lamin_flows.verify import verify

    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    file = ln.File(tmp_path / "a.csv", key="tables/a.csv").save()
    first = file.id
    file.replace(pd.DataFrame({"a": [1, 2]}))
    assert (file.key, file.version, file.suffix) == ("tables/a.parquet", "2", ".parquet") and file.id != first
    assert not (root / "tables" / "a.csv").exists() and (root / "tables" / "a.parquet").exists()
    old = ln.File.select(id=first).one()
    assert not old.is_latest and old.load()["b"].tolist() == [2]
    assert [v.id for v in file.versions] == [first, file.id]
    assert ln.File.select(key="tables/a.csv").one_or_none() is None
    report = verify(min_age=0)
    assert report.ok and report.records == 2 and report.unregistered == [], report.summary()
    (tmp_path / "b.csv").write_text("x\n1\n")
    other = ln.File(tmp_path / "b.csv", key="tables/b.csv").save()
    (tmp_path / "b.parquet").write_bytes((root / "tables" / "a.parquet").read_bytes())
    ln.File(pd.DataFrame({"z": [0]}), key="tables/b.parquet").save()
    with pytest.raises(ValidationError, match="holds that key"):
        other.replace(pd.DataFrame({"x": [1]}))
    assert ln.File.select(key="tables/b.csv").one().id == other.id
