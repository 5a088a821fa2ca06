"""Keys that differ only in case are accepted, with a warning naming both (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path


def _src(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_case_twin_of_a_registered_key_warns(ln, tmp_path: Path, capsys) -> None:
    ln.File(_src(tmp_path, "a.txt", "one"), key="Results/Report.txt").save()
    capsys.readouterr()
    twin = ln.File(_src(tmp_path, "b.txt", "two"), key="results/report.txt").save()
    err = capsys.readouterr().err
    assert "'results/report.txt' differs from 'Results/Report.txt' only in case" in err
    assert "case-insensitive filesystem" in err
    assert twin.key == "results/report.txt"  # accepted as its own key
    assert sorted(f.key for f in ln.File.select()) == ["Results/Report.txt", "results/report.txt"]


def test_case_twins_within_one_folder_warn_once(ln, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    for name, text in [("A.csv", "1"), ("a.csv", "2"), ("B.csv", "3"), ("b.csv", "4"), ("c.csv", "5")]:
        (folder / name).write_text(text)
    files = ln.File.from_dir(folder)
    err = capsys.readouterr().err
    assert err.count("only in case") == 1 and "(and 1 more such keys)" in err
    assert len(files) == 5


def test_distinct_keys_and_new_versions_do_not_warn(ln, tmp_path: Path, capsys) -> None:
    ln.File(_src(tmp_path, "a.txt", "one"), key="Report.txt").save()
    ln.File(_src(tmp_path, "b.txt", "two"), key="Report.txt").save()  # a new version of the same key
    ln.File(_src(tmp_path, "c.txt", "three"), key="other.txt").save()
    assert "only in case" not in capsys.readouterr().err
