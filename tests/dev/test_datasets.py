"""The example datasets behave as the guides rely on: real files, exact round trips, same bytes."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import lamin_flows.dev
from lamin_flows.dev import datasets
from lamin_flows.errors import ValidationError

HEAVY = ("pandas", "numpy", "anndata", "pyarrow")


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _jpeg_frame(data: bytes) -> tuple[int, int, int]:
    """Walk the JPEG segments up to the scan; return (width, height, components) of SOF0."""
    assert data[:3] == b"\xff\xd8\xff" and data[-2:] == b"\xff\xd9"
    pos, frame = 2, None
    while True:
        assert data[pos] == 0xFF, f"no marker at byte {pos}"
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xC0:
            _, height, width, n = struct.unpack(">BHHB", data[pos + 4 : pos + 10])
            frame = (width, height, n)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        pos += 2 + length
    assert frame is not None, "no baseline frame header (SOF0)"
    return frame


# --------------------------------------------------------------------- public surface


def test_public_names_are_exactly_the_datasets():
    assert lamin_flows.dev.__all__ == ["datasets"]
    assert set(datasets.__all__) == {
        "anndata_mouse_sc_lymph_node",
        "anndata_pbmc68k_reduced",
        "anndata_small",
        "df_iris",
        "df_iris_in_meter",
        "fake_bio_notebook_titles",
        "file_bam",
        "file_fastq",
        "file_fcs",
        "file_jpg_paradisi05",
        "file_mini_csv",
        "file_tsv_rnaseq_nfcore_salmon_merged_gene_counts",
        "generate_cell_ranger_files",
    }
    for name in datasets.__all__:
        function = getattr(datasets, name)
        assert "Example:" in (function.__doc__ or ""), name


def test_importing_datasets_imports_no_heavy_dependency():
    code = (
        "import sys, lamin_flows.dev, lamin_flows.dev.datasets\n"
        "lamin_flows.dev.datasets.file_mini_csv\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


# --------------------------------------------------------------------- files


def test_file_mini_csv_is_written_here_and_can_be_moved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = datasets.file_mini_csv()
    assert path == tmp_path / "mini.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == "sample_id,tissue,n_cells,viability"
    assert len(lines) >= 3 and all(line.count(",") == 3 for line in lines)
    first = path.read_bytes()
    assert datasets.file_mini_csv().read_bytes() == first
    storage = tmp_path / "mydata"
    storage.mkdir()
    path.rename(storage / path.name)  # what the guide does next
    assert (storage / "mini.csv").read_bytes() == first


def test_file_jpg_is_a_small_valid_jpeg_copied_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = datasets.file_jpg_paradisi05()
    assert path == tmp_path / "paradisi05_laminopathic_nuclei.jpg"
    data = path.read_bytes()
    assert _jpeg_frame(data) == (256, 256, 3)
    assert 2_000 < len(data) < 30_000
    shipped = resources.files("lamin_flows.dev").joinpath("data", path.name).read_bytes()
    assert data == shipped
    path.write_bytes(b"changed")  # the copy is the user's; the package data stays intact
    assert datasets.file_jpg_paradisi05().read_bytes() == shipped


def test_jpg_generator_still_renders_a_matching_jpeg(tmp_path):
    script = Path(datasets.__file__).parent / "data" / "_make_jpg.py"
    out = tmp_path / "regenerated.jpg"
    subprocess.run([sys.executable, str(script), str(out)], check=True, capture_output=True)
    shipped = script.with_name("paradisi05_laminopathic_nuclei.jpg").read_bytes()
    data = out.read_bytes()
    assert _jpeg_frame(data) == _jpeg_frame(shipped)
    # Equal bytes on the machine that made it; allow float rounding elsewhere.
    assert abs(len(data) - len(shipped)) < 0.05 * len(shipped)


# --------------------------------------------------------------------- iris


def test_df_iris_is_the_iris_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = datasets.df_iris()
    assert df.shape == (150, 5)
    assert list(df.columns) == ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    assert [str(t) for t in df.dtypes.iloc[:4]] == ["float64"] * 4
    assert df["species"].value_counts().to_dict() == {"setosa": 50, "versicolor": 50, "virginica": 50}
    means = df.iloc[:, :4].mean().round(4).tolist()
    assert means == [5.8433, 3.0573, 3.758, 1.1993]
    assert df.iloc[0, :4].tolist() == [5.1, 3.5, 1.4, 0.2]
    assert df.iloc[-1].tolist() == [5.9, 3.0, 5.1, 1.8, "virginica"]
    assert list(tmp_path.iterdir()) == []  # in-memory only: nothing is written


def test_df_iris_is_fresh_on_every_call():
    df = datasets.df_iris()
    df.loc[0, "sepal_length"] = -1.0
    df["extra"] = 1
    again = datasets.df_iris()
    assert again.loc[0, "sepal_length"] == 5.1 and "extra" not in again


def test_df_iris_round_trips_through_parquet_exactly(tmp_path):
    import pandas as pd

    df = datasets.df_iris()
    path = tmp_path / "iris.parquet"
    df.to_parquet(path, engine="pyarrow")
    pd.testing.assert_frame_equal(pd.read_parquet(path, engine="pyarrow"), df)
    pd.testing.assert_frame_equal(pd.read_parquet(path), df)


# --------------------------------------------------------------------- cell ranger


class StorageLike:
    """Stands for ln.settings.storage: an object whose str() is a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __str__(self) -> str:
        return str(self.root)


class PathLike:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __fspath__(self) -> str:
        return str(self.root)


def test_cell_ranger_folder_has_nested_valid_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = datasets.generate_cell_ranger_files("sample_001")
    assert folder.resolve() == (tmp_path / "sample_001").resolve()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert len(files) >= 8
    assert sum(len(p.relative_to(folder).parts) >= 2 for p in files) >= 6
    assert (folder / "metrics_summary.csv").is_file()
    assert (folder / "analysis" / "clustering" / "graphclust" / "clusters.csv").is_file()
    for gz in (p for p in files if p.suffix == ".gz"):
        raw = gz.read_bytes()
        assert raw[4:8] == b"\x00\x00\x00\x00", f"{gz.name} carries a timestamp"
        assert gzip.decompress(raw)
    assert not (tmp_path / "fastq").exists()


def test_cell_ranger_matrices_are_consistent(tmp_path):
    from scipy.io import mmread

    folder = datasets.generate_cell_ranger_files("sample_001", tmp_path)

    def read(kind: str) -> tuple[list[str], list[list[str]], object]:
        base = folder / f"{kind}_feature_bc_matrix"
        barcodes = gzip.decompress((base / "barcodes.tsv.gz").read_bytes()).decode().split()
        features = [
            line.split("\t") for line in gzip.decompress((base / "features.tsv.gz").read_bytes()).decode().splitlines()
        ]
        with gzip.open(base / "matrix.mtx.gz") as handle:
            matrix = mmread(handle)
        return barcodes, features, matrix

    raw_barcodes, raw_features, raw = read("raw")
    cell_barcodes, features, filtered = read("filtered")
    assert features == raw_features and all(len(f) == 3 and f[2] == "Gene Expression" for f in features)
    assert raw.shape == (len(features), len(raw_barcodes))
    assert filtered.shape == (len(features), len(cell_barcodes))
    assert set(cell_barcodes) < set(raw_barcodes) and cell_barcodes == sorted(cell_barcodes)
    clusters = (folder / "analysis" / "clustering" / "graphclust" / "clusters.csv").read_text().splitlines()
    assert clusters[0] == "Barcode,Cluster"
    assert [line.split(",")[0] for line in clusters[1:]] == cell_barcodes
    header, values = (folder / "metrics_summary.csv").read_text().splitlines()
    assert '"Estimated Number of Cells"' in header
    assert values.startswith(f'"{len(cell_barcodes)}"')


def test_cell_ranger_content_is_identical_across_calls(tmp_path):
    first = _digests(datasets.generate_cell_ranger_files("sample_001", tmp_path / "a"))
    second = _digests(datasets.generate_cell_ranger_files("sample_001", tmp_path / "b"))
    again = _digests(datasets.generate_cell_ranger_files("sample_001", tmp_path / "a"))
    assert first == second == again
    other = _digests(datasets.generate_cell_ranger_files("sample_002", tmp_path / "a"))
    assert other.keys() == first.keys() and other != first


@pytest.mark.parametrize("make", [str, Path, StorageLike, PathLike], ids=lambda m: m.__name__)
def test_cell_ranger_basedir_accepts_path_likes(tmp_path, make):
    folder = datasets.generate_cell_ranger_files("sample_001", make(tmp_path / "mydata"))
    assert Path(folder).resolve() == (tmp_path / "mydata" / "sample_001").resolve()
    assert (tmp_path / "mydata" / "sample_001" / "web_summary.html").is_file()


def test_cell_ranger_inputs_when_not_output_only(tmp_path):
    folder = datasets.generate_cell_ranger_files("sample_001", tmp_path, output_only=False)
    fastqs = sorted((tmp_path / "fastq").iterdir())
    assert [p.name for p in fastqs] == [
        "sample_001_S1_L001_R1_001.fastq.gz",
        "sample_001_S1_L001_R2_001.fastq.gz",
    ]
    r1 = gzip.decompress(fastqs[0].read_bytes()).decode().splitlines()
    assert r1[0].startswith("@sample_001:") and len(r1) % 4 == 0 and len(r1[1]) == 28
    assert _digests(folder) == _digests(datasets.generate_cell_ranger_files("sample_001", tmp_path / "x"))


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\\b"])
def test_cell_ranger_rejects_a_sample_name_that_is_not_a_folder_name(tmp_path, bad):
    with pytest.raises(ValidationError, match="sample_name") as info:
        datasets.generate_cell_ranger_files(bad, tmp_path)
    assert isinstance(info.value, ValueError)
    assert list(tmp_path.iterdir()) == []


def test_cell_ranger_rejects_a_remote_basedir():
    with pytest.raises(ValidationError, match="s3://bucket"):
        datasets.generate_cell_ranger_files("sample_001", "s3://bucket/prefix")


# --------------------------------------------------------------------- anndata


def test_anndata_small_shape_and_annotations():
    adata = datasets.anndata_small()
    assert adata.shape == (30, 20)
    assert str(adata.X.dtype) == "float32"
    assert list(adata.obs.columns) == ["cell_type", "total_counts"]
    assert str(adata.obs["cell_type"].dtype) == "category"
    assert set(adata.obs["cell_type"]) == {"T cell", "NK cell", "B cell", "monocyte"}
    assert adata.obs_names.is_unique and adata.var_names.is_unique
    assert "CD3E" in adata.var_names and adata.var.loc["CD3E", "ensembl_gene_id"] == "ENSG00000198851"
    assert (adata.obs["total_counts"].to_numpy() == adata.X.sum(axis=1)).all()


def test_anndata_small_is_deterministic_and_fresh():
    import numpy as np
    import pandas as pd

    a, b = datasets.anndata_small(), datasets.anndata_small()
    assert a is not b
    np.testing.assert_array_equal(a.X, b.X)
    pd.testing.assert_frame_equal(a.obs, b.obs)
    a.X[0, 0] = -1
    assert datasets.anndata_small().X[0, 0] != -1


def test_anndata_small_round_trips_through_h5ad(tmp_path):
    import anndata
    import numpy as np
    import pandas as pd

    adata = datasets.anndata_small()
    path = tmp_path / "small.h5ad"
    adata.write_h5ad(path)
    back = anndata.read_h5ad(path)
    np.testing.assert_array_equal(back.X, adata.X)
    assert back.X.dtype == adata.X.dtype
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    pd.testing.assert_frame_equal(back.var, adata.var)
    pd.testing.assert_frame_equal(datasets.anndata_small().obs, adata.obs)  # writing changed nothing


def test_data_files_stay_out_of_the_working_directory_until_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    datasets.df_iris()
    datasets.anndata_small()
    assert os.listdir(tmp_path) == []
