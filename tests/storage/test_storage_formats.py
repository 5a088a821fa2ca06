"""Objects become files and files become objects again; nothing heavy is imported to find out how."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lamin_flows.errors import UnsupportedObjectError
from lamin_flows.storage import load_path, suffix_for, write_object

HEAVY = ("pandas", "pyarrow", "anndata", "s3fs", "blake3", "fsspec", "numpy")


def _fresh_python(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_storage_imports_nothing_heavy() -> None:
    code = (
        "import sys, json, lamin_flows.storage as s\n"
        "s.validate_key('a/b'); s.hash_bytes(b'x'); s.root_of('s3://b/p'); s.is_cloud('/x')\n"
        "try:\n    s.suffix_for(object())\nexcept TypeError:\n    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    assert _fresh_python(code) == []


def test_suffix_for_supported_objects() -> None:
    import anndata as ad
    import numpy as np
    import pandas as pd

    class MyFrame(pd.DataFrame):
        pass

    assert suffix_for(pd.DataFrame({"a": [1]})) == ".parquet"
    assert suffix_for(MyFrame({"a": [1]})) == ".parquet"
    assert suffix_for(ad.AnnData(np.zeros((2, 3), dtype="float32"))) == ".h5ad"


@pytest.mark.parametrize("obj", [{"a": 1}, [1, 2], "text", b"bytes", 3])
def test_suffix_for_unsupported_names_type_and_alternatives(obj: object) -> None:
    with pytest.raises(UnsupportedObjectError) as info:
        suffix_for(obj)
    message = str(info.value)
    assert type(obj).__name__ in message and "DataFrame" in message and "AnnData" in message
    assert isinstance(info.value, TypeError)


def test_dataframe_round_trip_via_parquet(tmp_path: Path) -> None:
    import pandas as pd

    df = pd.DataFrame({"gene": ["a", "b"], "count": [1, 2]})
    path = tmp_path / "t.parquet"
    write_object(df, path)
    pd.testing.assert_frame_equal(load_path(path, ".parquet"), df)


def test_dataframe_parquet_cannot_hold_is_refused_clearly(tmp_path: Path) -> None:
    import pandas as pd

    with pytest.raises(UnsupportedObjectError, match="single type"):
        write_object(pd.DataFrame({"mixed": [1, "x"]}), tmp_path / "t.parquet")


def test_anndata_round_trip_via_h5ad(tmp_path: Path) -> None:
    import anndata as ad
    import numpy as np

    adata = ad.AnnData(np.arange(6, dtype="float32").reshape(2, 3))
    path = tmp_path / "a.h5ad"
    write_object(adata, path)
    loaded = load_path(path, ".h5ad")
    assert isinstance(loaded, ad.AnnData)
    np.testing.assert_array_equal(loaded.X, adata.X)


def test_write_object_refuses_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedObjectError):
        write_object({"a": 1}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("name", "content", "suffix"),
    [("t.csv", "a,b\n1,2\n", ".csv"), ("t.tsv", "a\tb\n1\t2\n", ".tsv"), ("T.CSV", "a,b\n1,2\n", ".CSV")],
)
def test_load_text_tables(tmp_path: Path, name: str, content: str, suffix: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    df = load_path(path, suffix)
    assert list(df.columns) == ["a", "b"] and df.iloc[0].tolist() == [1, 2]


def test_load_json_txt_and_other(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text('{"a": [1, 2]}')
    (tmp_path / "n.txt").write_text("hello\n")
    (tmp_path / "i.jpg").write_bytes(b"\xff\xd8")
    assert load_path(tmp_path / "c.json", ".json") == {"a": [1, 2]}
    assert load_path(tmp_path / "n.txt", ".txt") == "hello\n"
    assert load_path(tmp_path / "i.jpg", ".jpg") == tmp_path / "i.jpg"
    assert load_path(str(tmp_path / "i.jpg"), "") == tmp_path / "i.jpg"
