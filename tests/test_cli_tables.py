"""Tables that fit 80, 100 and 120 columns, and the `lamin` listings scripts read (JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
import re

import pandas as pd
import pytest
from _cli import run_cli  # tests/_cli.py

WIDTHS = (80, 100, 120)


@pytest.fixture
def registry(ln_sqlite, tmp_path, lamin_home):
    """Files in folders, one without a key, and a tracked run that wrote a report."""
    ln = ln_sqlite
    root = tmp_path / "data"
    (root / "sample_001" / "reads").mkdir(parents=True)
    for i in range(5):
        (root / "sample_001" / "reads" / f"read_{i:03d}_with_a_long_name.fastq").write_text("x" * 1596 * (i + 1))
    (root / "mini.csv").write_text("a,b\n1,2\n")
    ln.save(ln.File.from_dir(root / "sample_001"))
    ln.File(root / "mini.csv").save()
    ln.File(pd.DataFrame({"a": [1]}), name="iris").save()

    @ln.tracked()
    def nightly_report(n: int) -> None:
        ln.File(pd.DataFrame({"a": [n]}), key="reports/nightly.parquet").save()

    nightly_report(3)
    return ln


def assert_fits(text: str, width: int) -> list[str]:
    """Every table in ``text`` fits ``width``; every column has a header; no value cut to one character.

    Returns the headers of the tables found.
    """
    lines = text.splitlines()
    headers = []
    assert lines, "nothing printed"
    for i, line in enumerate(lines):
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}"
        if not re.fullmatch(r"─+(  ─+)*", line):
            continue
        spans = [(m.start(), m.end()) for m in re.finditer(r"─+", line)]
        assert all(end - start >= 2 for start, end in spans), line
        header = lines[i - 1]
        for start, end in spans:
            name = header[start:end].strip()
            assert name, f"a column without a header in {header!r}"
            headers.append(name)
        for row in lines[i + 1 :]:
            if not row.strip() or row.startswith(("not shown", "showing")):
                break
            for start, end in spans:
                cell = row[start:end].strip()
                assert not re.fullmatch(r".?…", cell), f"cut to one character: {cell!r} in {row!r}"
    assert headers, f"no table in {text!r}"
    return headers


@pytest.mark.parametrize("width", WIDTHS)
def test_view_fits_the_width(registry, width, capsys):
    registry.view(width=width)
    out = capsys.readouterr().out
    headers = assert_fits(out, width)
    assert "key" in headers and "size" in headers and "transform" in headers
    assert "1.6 KiB" in out and "(no key)" in out and "nightly_report" in out  # sizes human, names not ids
    assert "1 record\n" in out.replace(",", "") or "Run: 1 record" in out
    assert "+00:00" not in out and re.search(r"\d\d:\d\d:\d\d(?!\.)", out)  # to the second
    assert sum("(UTC)" in h or re.search(r"\(\w+\)", h) is not None for h in headers) >= 1


@pytest.mark.parametrize("width", WIDTHS)
def test_df_prints_to_fit(registry, width):
    df = registry.Run.select().df()
    text = df.render(width)
    headers = assert_fits(text, width)
    assert "status" in headers and "started_at" in " ".join(headers)
    assert (
        isinstance(df, pd.DataFrame) and len(df.columns) == 16
    )  # the data keeps every column (with reused_id, cache_key, cache)
    files = registry.File.select().df()
    assert "key" in assert_fits(files.render(width), width)


def test_df_columns_selects_and_names_valid_ones(registry):
    df = registry.File.select(key__startswith="sample_001/").df(columns=["key", "size"])
    assert list(df.columns) == ["key", "size"] and df.index.name == "id" and len(df) == 5
    with pytest.raises(registry.errors.UnknownFieldError, match="valid columns: .*key"):
        registry.File.select().df(columns=["key", "nope"])


def test_tree_level_limit_and_keyless_files(registry, capsys):
    tree = registry.File.tree(level=1)
    out = capsys.readouterr().out
    assert "sample_001/ (5 files" in out and "read_000" not in out
    assert "(no key)/ (1 file" in out and tree.n_files == 8
    registry.File.tree(limit=3)
    out = capsys.readouterr().out
    assert "... and " in out and "more" in out
    registry.File.tree()
    assert "iris" in capsys.readouterr().out  # key-less Files are listed, not missing
    with pytest.raises(registry.errors.NoResultError, match="'nope/'"):
        registry.File.tree("nope")


@pytest.mark.parametrize("width", WIDTHS)
def test_cli_listings_fit(registry, lamin_home, width):
    for command in (["files"], ["runs"], ["transforms"], ["view"]):
        result = run_cli(*command, "--width", str(width), home=lamin_home)
        assert result.returncode == 0, result.stderr
        assert_fits(result.stdout, width)
    runs = run_cli("runs", "--width", str(width), home=lamin_home).stdout
    assert "nightly_report" in runs


def test_cli_tree(registry, lamin_home):
    result = run_cli("tree", "--depth", "1", "--limit", "2", home=lamin_home)
    assert result.returncode == 0 and "... and 2 more" in result.stdout, result.stdout
    unknown = run_cli("tree", "nope", home=lamin_home)
    assert unknown.returncode == 1 and "nope/" in unknown.stderr and unknown.stdout == ""
    rows = json.loads(run_cli("tree", "sample_001", "--json", home=lamin_home).stdout)
    assert [r["type"] for r in rows] == ["folder"] + ["file"] * 5 and rows[1]["size"] == 1596


def test_json_round_trips_ids(registry, lamin_home):
    result = run_cli(
        "files", "--filter", "key__startswith=sample_001/", "--filter", "size__gt=2000", "--json", home=lamin_home
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 4 and all(r["key"].startswith("sample_001/") and r["size"] > 2000 for r in rows)
    for row in rows:
        assert registry.File.select(id=row["id"]).one().key == row["key"]
    runs = json.loads(run_cli("runs", "--json", home=lamin_home).stdout)
    assert registry.Run.select(id=runs[0]["id"]).one().transform.name == runs[0]["transform"] == "nightly_report"
    lineage = json.loads(run_cli("lineage", "reports/nightly.parquet", "--json", home=lamin_home).stdout)
    assert registry.File.select(id=lineage["root"]).one().key == "reports/nightly.parquet"
    assert registry.Run.select(id=lineage["nodes"][0]["upstream"][0]).one().status == "completed"
    view = json.loads(run_cli("view", "--json", home=lamin_home).stdout)
    assert {r["id"] for r in view["File"]} <= set(registry.File.select().df().index)
    info = json.loads(run_cli("info", "--json", home=lamin_home).stdout)
    assert info["instance"] == "test"
    verify = run_cli("verify", "--json", home=lamin_home)
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"] is True


def test_csv_parses(registry, lamin_home):
    for command in (
        ["files", "--columns", "key,size,id"],
        ["runs"],
        ["transforms"],
        ["view"],
        ["tree"],
        ["info"],
        ["lineage", "reports/nightly.parquet"],
        ["verify"],
    ):
        result = run_cli(*command, "--csv", home=lamin_home)
        assert result.returncode == 0, (command, result.stderr)
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert command[0] == "verify" or rows, command
    rows = list(
        csv.DictReader(io.StringIO(run_cli("files", "--columns", "key,size,id", "--csv", home=lamin_home).stdout))
    )
    assert set(rows[0]) == {"key", "size", "id"}
    assert registry.File.select(id=rows[0]["id"]).one().size == int(rows[0]["size"])


def test_bad_input_is_refused(registry, lamin_home):
    bad_column = run_cli("files", "--columns", "key,nope", home=lamin_home)
    assert bad_column.returncode == 1 and "nope" in bad_column.stderr and "valid columns" in bad_column.stderr
    bad_filter = run_cli("files", "--filter", "size__gt=big", home=lamin_home)
    assert bad_filter.returncode == 1 and "'big'" in bad_filter.stderr
    no_equals = run_cli("runs", "--filter", "status", home=lamin_home)
    assert no_equals.returncode == 1 and "FIELD=VALUE" in no_equals.stderr
    pdf = run_cli("lineage", "reports/nightly.parquet", "-o", "x.pdf", home=lamin_home)
    assert pdf.returncode == 1 and ".png" in pdf.stderr and pdf.stdout == ""  # refused before printing the tree


def test_lineage_png(registry, lamin_home, tmp_path):
    target = tmp_path / "lineage.png"
    result = run_cli("lineage", "reports/nightly.parquet", "-o", str(target), home=lamin_home)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_version_completion_and_help(lamin_home):
    import lamin_flows

    version = run_cli("--version")
    assert version.returncode == 0 and lamin_flows.__version__ in version.stdout
    assert "--install-completion" in run_cli("--help").stdout
    for command in ("view", "tree", "files", "runs", "transforms", "lineage show", "info", "verify", "init", "delete"):
        text = run_cli(*command.split(), "--help").stdout
        assert "--help" in text and not re.search(r"<(bool|str|int|float)>", text), command
        assert "{" not in text.splitlines()[0], text.splitlines()[0]  # "KEY", not "{KEY}", in the usage line
        if command not in ("init", "delete"):
            assert "--json" in text and "--csv" in text, command
