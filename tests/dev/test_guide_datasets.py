"""The guides' example files are format-valid and deterministic; the AnnData have their layouts.

The formats are checked by parsers written here from the specifications (SAM/BAM v1 for
BGZF and BAM records, FCS 3.1 for HEADER/TEXT/DATA), not by the code that writes them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from lamin_flows.dev import datasets
from lamin_flows.errors import ValidationError

FILES = {
    "file_fastq": "input.fastq.gz",
    "file_bam": "output.bam",
    "file_fcs": "example.fcs",
    "file_tsv_rnaseq_nfcore_salmon_merged_gene_counts": "salmon.merged.gene_counts.tsv",
}
EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """The files are written into the current directory: make it the test's own."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(("function", "name"), FILES.items())
def test_files_are_written_here_with_the_same_bytes_in_every_process(function, name, tmp_path):
    path = getattr(datasets, function)()
    assert path == tmp_path / name and path.is_absolute()
    first = path.read_bytes()
    assert getattr(datasets, function)().read_bytes() == first
    # another process, another hash seed, another directory: the same bytes
    other = tmp_path / "other"
    other.mkdir()
    code = f"from lamin_flows.dev import datasets; print(datasets.{function}())"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", code], cwd=other, env=env, capture_output=True, text=True, check=True)
    assert Path(done.stdout.strip()).read_bytes() == first
    assert hashlib.md5(first).hexdigest() == hashlib.md5((other / name).read_bytes()).hexdigest()


def test_fastq_is_gzip_with_four_line_records():
    lines = gzip.decompress(datasets.file_fastq().read_bytes()).decode("ascii").splitlines()
    assert len(lines) % 4 == 0 and len(lines) // 4 == 40
    for i in range(0, len(lines), 4):
        name, seq, plus, qual = lines[i : i + 4]
        assert name.startswith("@") and " " in name and plus == "+"
        assert set(seq) <= set("ACGTN") and len(seq) == len(qual) == 50
        assert all(33 <= ord(c) <= 74 for c in qual)  # Phred+33, Q0..Q41
    assert len({lines[i] for i in range(0, len(lines), 4)}) == 40  # read names are unique


# ----------------------------------------------------------------------------- BAM


def _bgzf_blocks(data: bytes) -> list[bytes]:
    """Split BGZF into blocks, checking each block's frame; returns the inflated payloads."""
    blocks, pos = [], 0
    while pos < len(data):
        id1, id2, cm, flg, _mtime, _xfl, _os, xlen = struct.unpack("<BBBBIBBH", data[pos : pos + 12])
        assert (id1, id2, cm) == (0x1F, 0x8B, 8) and flg & 4, f"not a BGZF member at byte {pos}"
        extra, bsize = data[pos + 12 : pos + 12 + xlen], None
        j = 0
        while j < len(extra):
            si1, si2, slen = struct.unpack("<BBH", extra[j : j + 4])
            if (si1, si2) == (66, 67):
                assert slen == 2
                (bsize,) = struct.unpack("<H", extra[j + 4 : j + 6])
            j += 4 + slen
        assert bsize is not None, "no BC subfield"
        block = data[pos : pos + bsize + 1]
        payload = zlib.decompress(block[12 + xlen : -8], -15)
        crc, isize = struct.unpack("<II", block[-8:])
        assert crc == zlib.crc32(payload) and isize == len(payload) <= 65536
        blocks.append(payload)
        pos += bsize + 1
    assert pos == len(data)
    return blocks


def _reg2bin(beg: int, end: int) -> int:
    # SAM spec 5.3, as written there
    end -= 1
    if beg >> 14 == end >> 14:
        return ((1 << 15) - 1) // 7 + (beg >> 14)
    if beg >> 17 == end >> 17:
        return ((1 << 12) - 1) // 7 + (beg >> 17)
    if beg >> 20 == end >> 20:
        return ((1 << 9) - 1) // 7 + (beg >> 20)
    if beg >> 23 == end >> 23:
        return ((1 << 6) - 1) // 7 + (beg >> 23)
    if beg >> 26 == end >> 26:
        return ((1 << 3) - 1) // 7 + (beg >> 26)
    return 0


def test_bam_is_bgzf_with_a_bam_header_and_sorted_valid_records():
    data = datasets.file_bam().read_bytes()
    assert data.endswith(EOF_BLOCK)
    blocks = _bgzf_blocks(data)
    assert blocks[-1] == b""  # the end-of-file block is empty
    raw = b"".join(blocks)
    assert gzip.decompress(data) == raw  # plain gzip readers read it too
    assert raw[:4] == b"BAM\x01"
    (l_text,) = struct.unpack("<i", raw[4:8])
    text = raw[8 : 8 + l_text].decode("ascii")
    assert text.startswith("@HD\tVN:1.6\tSO:coordinate\n") and text.count("@SQ\t") == 2
    pos = 8 + l_text
    (n_ref,) = struct.unpack("<i", raw[pos : pos + 4])
    pos += 4
    refs = []
    for _ in range(n_ref):
        (l_name,) = struct.unpack("<i", raw[pos : pos + 4])
        name = raw[pos + 4 : pos + 4 + l_name]
        (l_ref,) = struct.unpack("<i", raw[pos + 4 + l_name : pos + 8 + l_name])
        assert name.endswith(b"\0") and f"@SQ\tSN:{name[:-1].decode()}\tLN:{l_ref}" in text
        refs.append(l_ref)
        pos += 8 + l_name
    coordinates = []
    while pos < len(raw):
        (block_size,) = struct.unpack("<i", raw[pos : pos + 4])
        record = raw[pos + 4 : pos + 4 + block_size]
        ref_id, at, l_read_name, mapq, bin_, n_cigar, flag, l_seq, next_ref, next_pos, tlen = struct.unpack(
            "<iiBBHHHiiii", record[:32]
        )
        assert 0 <= ref_id < n_ref and 0 <= at < refs[ref_id] and mapq == 60 and flag in (0, 16)
        assert (next_ref, next_pos, tlen) == (-1, -1, 0)
        read_name = record[32 : 32 + l_read_name]
        assert read_name.endswith(b"\0") and b"\0" not in read_name[:-1]
        offset = 32 + l_read_name
        cigar = struct.unpack(f"<{n_cigar}I", record[offset : offset + 4 * n_cigar])
        assert sum(op >> 4 for op in cigar if op & 0xF in (0, 1, 4, 7, 8)) == l_seq  # M/I/S/=/X consume the read
        offset += 4 * n_cigar + (l_seq + 1) // 2
        qual = record[offset : offset + l_seq]
        assert len(qual) == l_seq and all(q <= 93 for q in qual)
        assert offset + l_seq == block_size, "the record holds no more than its fields"
        assert bin_ == _reg2bin(at, at + l_seq)
        coordinates.append((ref_id, at))
        pos += 4 + block_size
    assert len(coordinates) == 40 and coordinates == sorted(coordinates)  # SO:coordinate holds


# ----------------------------------------------------------------------------- FCS


def test_fcs_has_a_valid_header_text_segment_and_data():
    data = datasets.file_fcs().read_bytes()
    assert data[:6] == b"FCS3.1" and data[6:10] == b"    "
    text_begin, text_end, data_begin, data_end, ana_begin, ana_end = (
        int(data[10 + 8 * i : 18 + 8 * i]) for i in range(6)
    )
    assert text_begin >= 58 and (ana_begin, ana_end) == (0, 0)
    text = data[text_begin : text_end + 1].decode("ascii")
    delimiter = text[0]
    fields = text[1:].rstrip(delimiter).split(delimiter)  # no value here holds a doubled delimiter
    assert len(fields) % 2 == 0
    keywords = dict(zip(fields[0::2], fields[1::2], strict=True))
    required = [
        "$BEGINANALYSIS",
        "$BEGINDATA",
        "$BEGINSTEXT",
        "$BYTEORD",
        "$DATATYPE",
        "$ENDANALYSIS",
        "$ENDDATA",
        "$ENDSTEXT",
        "$MODE",
        "$NEXTDATA",
        "$PAR",
        "$TOT",
    ]
    assert set(required) <= set(keywords)
    n_par, n_tot = int(keywords["$PAR"]), int(keywords["$TOT"])
    for i in range(1, n_par + 1):
        assert {f"$P{i}B", f"$P{i}E", f"$P{i}N", f"$P{i}R"} <= set(keywords)
        assert keywords[f"$P{i}B"] == "32" and keywords[f"$P{i}E"] == "0,0"
    assert (int(keywords["$BEGINDATA"]), int(keywords["$ENDDATA"])) == (data_begin, data_end)
    assert (keywords["$DATATYPE"], keywords["$MODE"], keywords["$BYTEORD"]) == ("F", "L", "1,2,3,4")
    events = data[data_begin : data_end + 1]
    assert data_end + 1 == len(data) and len(events) == n_tot * n_par * 4
    names = [keywords[f"$P{i}N"] for i in range(1, n_par + 1)]
    assert names == ["FSC-A", "SSC-A", "CD3", "CD19", "CD4", "CD8", "Time"]
    values = struct.unpack(f"<{n_tot * n_par}f", events)
    rows = [values[i : i + n_par] for i in range(0, len(values), n_par)]
    assert all(0 <= v <= float(keywords["$P1R"]) for row in rows for v in row)
    time = [row[names.index("Time")] for row in rows]
    assert time == sorted(time)
    cd4 = sum(1 for row in rows if row[names.index("CD4")] > 5000)
    assert 0.25 * n_tot < cd4 < 0.55 * n_tot  # a CD4+ population is there to gate


def test_salmon_merged_gene_counts_reads_as_the_pipeline_writes_it():
    import pandas as pd

    df = pd.read_csv(datasets.file_tsv_rnaseq_nfcore_salmon_merged_gene_counts(), sep="\t")
    assert list(df.columns) == ["gene_id", "gene_name", "CONTROL_REP1", "CONTROL_REP2", "TREATED_REP1", "TREATED_REP2"]
    assert len(df) == 20 and df["gene_id"].str.match(r"^ENSG\d{11}$").all() and df["gene_id"].is_unique
    counts = df.iloc[:, 2:]
    assert (counts.dtypes == "float64").all() and (counts >= 0).all().all()


def test_files_can_go_straight_into_the_storage_root_and_be_registered(ln_sqlite):
    ln = ln_sqlite
    root = Path(str(ln.settings.storage))
    for function, name in FILES.items():
        path = getattr(datasets, function)(in_storage_root=True)
        assert path == root / name
    bam = ln.File(root / "output.bam").save()
    assert bam.key == "output.bam" and bam.suffix == ".bam"
    assert ln.File(root / "input.fastq.gz").save().suffix == ".fastq.gz"


# ----------------------------------------------------------------------------- in memory


def test_df_iris_in_meter_is_iris_divided_by_100():
    import pandas as pd

    cm, m = datasets.df_iris(), datasets.df_iris_in_meter()
    assert m.shape == cm.shape == (150, 5) and list(m.dtypes) == list(cm.dtypes)
    measures = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    pd.testing.assert_frame_equal(m[measures] * 100, cm[measures], check_exact=False, rtol=1e-12)
    assert m["sepal_length"].iloc[0] == 0.051
    pd.testing.assert_series_equal(m["species"], cm["species"])


def test_fake_bio_notebook_titles_are_fixed_and_distinct():
    titles = datasets.fake_bio_notebook_titles()
    assert len(titles) == 100 and len(set(titles)) == 100
    assert titles == datasets.fake_bio_notebook_titles(n=100)
    assert datasets.fake_bio_notebook_titles(n=5) == titles[:5]
    assert datasets.fake_bio_notebook_titles(n=0) == []
    for bad in (-1, 2.5, "3", True):
        with pytest.raises(ValidationError, match=r"fake_bio_notebook_titles\(n=.*\): pass a whole number"):
            datasets.fake_bio_notebook_titles(n=bad)


def _same(a, b) -> None:
    import numpy as np
    import pandas as pd

    assert a.shape == b.shape
    np.testing.assert_array_equal(a.X, b.X)
    pd.testing.assert_frame_equal(a.obs, b.obs)
    pd.testing.assert_frame_equal(a.var, b.var)
    assert set(a.obsm) == set(b.obsm)
    for key in a.obsm:
        np.testing.assert_array_equal(a.obsm[key], b.obsm[key])


def test_pbmc68k_reduced_has_the_layout_of_scanpys_and_round_trips(tmp_path):
    import anndata
    import numpy as np

    adata = datasets.anndata_pbmc68k_reduced()
    assert adata.shape == (70, 100) and adata.X.dtype == np.float32 and isinstance(adata.X, np.ndarray)
    assert list(adata.obs.columns) == [
        "bulk_labels",
        "n_genes",
        "percent_mito",
        "n_counts",
        "S_score",
        "G2M_score",
        "phase",
        "louvain",
    ]
    assert list(adata.var.columns) == ["n_counts", "means", "dispersions", "dispersions_norm", "highly_variable"]
    assert (
        len(adata.obs["bulk_labels"].cat.categories) == 10
        and "CD14+ Monocyte" in adata.obs["bulk_labels"].cat.categories
    )
    assert list(adata.obs["phase"].cat.categories) == ["G1", "G2M", "S"]
    assert adata.obsm["X_pca"].shape == (70, 50) and adata.obsm["X_umap"].shape == (70, 2)
    assert adata.varm["PCs"].shape == (100, 50)
    assert np.allclose(adata.X.mean(axis=0), 0, atol=1e-5) and adata.X.max() <= 10
    assert adata.var.index.is_unique and adata.obs.index.is_unique and adata.var.index[0] == "CD3E"
    _same(adata, datasets.anndata_pbmc68k_reduced())
    adata.write_h5ad(tmp_path / "pbmc.h5ad")
    _same(adata, anndata.read_h5ad(tmp_path / "pbmc.h5ad"))


def test_mouse_sc_lymph_node_is_fixed_and_round_trips(tmp_path):
    import anndata

    adata = datasets.anndata_mouse_sc_lymph_node()
    assert adata.shape == (40, 20)
    assert set(adata.obs["cell_type"].cat.categories) == {
        "T cell",
        "B cell",
        "dendritic cell",
        "macrophage",
        "natural killer cell",
    }
    assert set(adata.obs["tissue"]) == {"lymph node"} and set(adata.obs["organism"]) == {"Mus musculus"}
    assert "Cd3e" in adata.var.index and (adata.X >= 0).all() and (adata.X.round() == adata.X).all()
    t_cells = adata[adata.obs["cell_type"] == "T cell"]
    b_cells = adata[adata.obs["cell_type"] == "B cell"]
    assert t_cells[:, "Cd3e"].X.mean() > 5 * b_cells[:, "Cd3e"].X.mean()  # markers mark their cells
    _same(adata, datasets.anndata_mouse_sc_lymph_node())
    adata.write_h5ad(tmp_path / "lymph.h5ad")
    _same(adata, anndata.read_h5ad(tmp_path / "lymph.h5ad"))
