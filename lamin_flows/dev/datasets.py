"""Small example datasets for guides, tests and demos.

Every function here is deterministic: it gives the same bytes (files) or the same values
(in-memory objects) on every call, so tracking an example twice finds the same hashes.

Files are written into the current working directory unless a function says otherwise;
in-memory objects are built fresh on every call, so callers may modify them.

Where the data comes from:

- ``iris.csv`` is Edgar Anderson's iris measurements as published by R. A. Fisher (1936),
  150 flowers x 4 measurements in cm plus the species, with the values of R's
  ``datasets::iris`` (the two transcription errors of the UCI copy corrected).
- ``paradisi05_laminopathic_nuclei.jpg`` is a synthetic fluorescence image of six nuclei
  (DNA blue, lamina green, three with laminopathic blebs), rendered and JPEG-encoded by
  ``lamin_flows/dev/data/_make_jpg.py`` with numpy only.
- Cell Ranger folders and the AnnData are simulated counts of a 20-gene blood-cell panel.
- The FASTQ, BAM, FCS and nf-core/rnaseq salmon files are simulated too, and format-valid:
  a BAM is BGZF with a BAM header and sorted records, an FCS file has a HEADER, a TEXT segment
  with the required keywords and float32 events (``lamin_flows/dev/_formats.py``).
- ``anndata_pbmc68k_reduced`` and ``anndata_mouse_sc_lymph_node`` are synthetic AnnData with
  the layout (obs/var columns, obsm, uns) of the datasets they are named after, not their data.

pandas, numpy and anndata are imported inside the functions that need them, so importing
this module stays cheap.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from lamin_flows.errors import InstanceNotFoundError, ValidationError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    import anndata
    import pandas as pd

__all__ = [
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
]

StrPath = str | os.PathLike[str]

_MINI_CSV = (
    "sample_id,tissue,n_cells,viability\n"
    "S001,peripheral blood,12000,0.93\n"
    "S002,bone marrow,8500,0.88\n"
    "S003,spleen,15300,0.91\n"
    "S004,lymph node,6100,0.95\n"
)

_IRIS_DTYPES: dict[str, Any] = {
    "sepal_length": "float64",
    "sepal_width": "float64",
    "petal_length": "float64",
    "petal_width": "float64",
    # The default string dtype of the installed pandas (object in pandas 2, str in
    # pandas 3): the one read_parquet gives back, so the frame round-trips exactly.
    "species": str,
}


def _data_file(name: str) -> Traversable:
    return resources.files("lamin_flows.dev").joinpath("data", name)


def _local_dir(location: StrPath | object) -> Path:
    """A local folder from a str, a path, or any object whose str() is a local path."""
    text = os.fspath(location) if isinstance(location, os.PathLike) else str(location)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if "://" in text:
        parsed = urlparse(text)
        if parsed.scheme != "file":
            raise ValidationError(
                f"example files are written to a local folder, got {text!r}; "
                "pass a local path, or generate locally and upload with ln.File(...).save()"
            )
        text = parsed.path
    return Path(text)


def _storage_root(function: str) -> Path:
    import lamin_flows

    storage = getattr(getattr(lamin_flows, "settings", None), "storage", None)
    if storage is None:
        raise InstanceNotFoundError(
            f"{function}(in_storage_root=True) needs a lamin_flows instance and found none; "
            f'run ln.setup.init(storage="./mydata") first, or call {function}() to write '
            "into the current directory"
        )
    return _local_dir(storage)


def _target(name: str, in_storage_root: bool, function: str) -> Path:
    """Where an example file goes: the current directory, or the default storage's root."""
    return ((_storage_root(function) if in_storage_root else Path.cwd()) / name).absolute()


def _write_example(name: str, data: bytes, in_storage_root: bool, function: str) -> Path:
    path = _target(name, in_storage_root, function)
    path.write_bytes(data)
    return path


def file_mini_csv(in_storage_root: bool = False) -> Path:
    """Write a tiny CSV table, ``mini.csv``, and return its path.

    The table has a header and four rows describing made-up samples (sample_id, tissue,
    n_cells, viability). An existing ``mini.csv`` at the target is overwritten.

    Args:
        in_storage_root: Write into the root of the default storage of the current
            lamin_flows instance instead of the current working directory.

    Returns:
        The absolute path of the written file.

    Raises:
        InstanceNotFoundError: ``in_storage_root=True`` but no instance is set up.

    Example:
        >>> import lamin_flows as ln
        >>> filepath = ln.dev.datasets.file_mini_csv()
        >>> filepath.name
        'mini.csv'
        >>> filepath.read_text().splitlines()[0]
        'sample_id,tissue,n_cells,viability'
    """
    path = _target("mini.csv", in_storage_root, "file_mini_csv")
    path.write_text(_MINI_CSV, encoding="utf-8", newline="")
    return path


def file_jpg_paradisi05() -> Path:
    """Copy an example micrograph, ``paradisi05_laminopathic_nuclei.jpg``, here.

    A 256 x 256 RGB JPEG (about 11 KB) of synthetic fluorescent nuclei, some with the
    lobulated, blebbed envelope seen in laminopathies. It is copied from the package data
    into the current working directory, overwriting a file of the same name.

    Returns:
        The absolute path of the copy.

    Example:
        >>> import lamin_flows as ln
        >>> filepath = ln.dev.datasets.file_jpg_paradisi05()
        >>> filepath.suffix
        '.jpg'
        >>> filepath.read_bytes()[:3] == b"\\xff\\xd8\\xff"
        True
    """
    name = "paradisi05_laminopathic_nuclei.jpg"
    target = (Path.cwd() / name).absolute()
    with _data_file(name).open("rb") as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink)
    return target


def df_iris() -> pd.DataFrame:
    """Fisher's (Anderson's) iris flower measurements as a DataFrame.

    150 rows, 50 per species, and 5 columns: ``sepal_length``, ``sepal_width``,
    ``petal_length`` and ``petal_width`` (float64, in cm) and ``species`` (pandas'
    default string dtype: "setosa", "versicolor" or "virginica"), with a RangeIndex.
    The dtypes are fixed so the frame round-trips exactly through parquet.

    Returns:
        A new DataFrame on every call.

    Example:
        >>> import lamin_flows as ln
        >>> df = ln.dev.datasets.df_iris()
        >>> df.shape
        (150, 5)
        >>> df["species"].value_counts().to_dict()
        {'setosa': 50, 'versicolor': 50, 'virginica': 50}
    """
    import pandas as pd

    with _data_file("iris.csv").open("r", encoding="utf-8") as source:
        return pd.read_csv(source, dtype=_IRIS_DTYPES)


def generate_cell_ranger_files(
    sample_name: str,
    basedir: StrPath | object = ".",
    output_only: bool = True,
) -> Path:
    """Generate a small Cell Ranger-like output folder for one sample.

    Writes ``<basedir>/<sample_name>/`` with 10 files in nested folders: the filtered and
    the raw feature-barcode matrices (``barcodes.tsv.gz``, ``features.tsv.gz``,
    ``matrix.mtx.gz``; valid gzip, TSV and MatrixMarket), ``analysis/clustering/
    graphclust/clusters.csv``, ``analysis/tsne/2_components/projection.csv``,
    ``metrics_summary.csv`` and ``web_summary.html``. The counts are simulated (24
    cells, 16 empty droplets, 20 genes) and depend only on ``sample_name``, so every call
    writes the same bytes. Existing files of the same names are overwritten.

    Args:
        sample_name: Name of the sample folder; a single path component.
        basedir: Folder to create the sample folder in: a str, a path, or any object
            whose ``str()`` is a local folder path (such as ``ln.settings.storage``).
        output_only: If False, also write the run's inputs, paired FASTQ files
            ``<sample_name>_S1_L001_R{1,2}_001.fastq.gz``, into ``<basedir>/fastq/``.

    Returns:
        The sample folder, ``<basedir>/<sample_name>``.

    Raises:
        ValidationError: ``sample_name`` is not a plain folder name, or ``basedir`` is
            not a local path.

    Example:
        >>> import lamin_flows as ln
        >>> folder = ln.dev.datasets.generate_cell_ranger_files("sample_001")
        >>> sorted(p.name for p in (folder / "filtered_feature_bc_matrix").iterdir())
        ['barcodes.tsv.gz', 'features.tsv.gz', 'matrix.mtx.gz']
    """
    from lamin_flows.dev import _cellranger

    if not sample_name or sample_name in {".", ".."} or any(c in sample_name for c in "/\\\0"):
        raise ValidationError(
            f"sample_name must be a plain folder name, got {sample_name!r}; put parent folders into basedir instead"
        )
    base = _local_dir(basedir)
    sample_dir = base / sample_name
    _cellranger.write_outputs(sample_dir, sample_name)
    if not output_only:
        _cellranger.write_fastqs(base / "fastq", sample_name)
    return sample_dir


def anndata_small() -> anndata.AnnData:
    """A small AnnData of simulated blood-cell counts: 30 cells x 20 genes.

    ``X`` holds float32 counts. ``obs`` (indexed by barcode) has ``cell_type``, a
    categorical of "T cell", "NK cell", "B cell" and "monocyte", and ``total_counts``
    (int64); ``var`` (indexed by gene symbol) has ``ensembl_gene_id``. The object
    round-trips through ``.h5ad`` unchanged.

    Returns:
        A new AnnData on every call.

    Example:
        >>> import lamin_flows as ln
        >>> adata = ln.dev.datasets.anndata_small()
        >>> adata.shape
        (30, 20)
        >>> adata.obs["cell_type"].value_counts().sort_index().tolist()
        [8, 8, 7, 7]
    """
    import anndata
    import numpy as np
    import pandas as pd

    from lamin_flows.dev._simulate import GENES, MARKERS, simulate

    table = simulate("anndata_small", n_cells=30)
    counts = np.asarray(table.counts, dtype=np.float32)
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(table.cell_types, categories=list(MARKERS)),
            "total_counts": counts.sum(axis=1).astype(np.int64),
        },
        index=pd.Index(table.barcodes),
    )
    var = pd.DataFrame(
        {"ensembl_gene_id": [gene_id for _, gene_id in GENES]},
        index=pd.Index([symbol for symbol, _ in GENES]),
    )
    return anndata.AnnData(X=counts, obs=obs, var=var)


def file_fastq(in_storage_root: bool = False) -> Path:
    """Write a gzip-compressed FASTQ file, ``input.fastq.gz``, and return its path.

    40 simulated single-end reads of 50 bases with Illumina-style read names and Phred+33
    qualities; always the same bytes (the gzip member has no time stamp or file name).

    Args:
        in_storage_root: Write into the root of the default storage instead of the current directory.

    Returns:
        The absolute path of the written file.

    Example:
        >>> import gzip, lamin_flows as ln
        >>> path = ln.dev.datasets.file_fastq()
        >>> gzip.open(path, "rt").readline()[0]
        '@'
    """
    from lamin_flows.dev import _formats

    return _write_example("input.fastq.gz", _formats.fastq_bytes(), in_storage_root, "file_fastq")


def file_bam(in_storage_root: bool = False) -> Path:
    """Write a BAM file, ``output.bam``, and return its path.

    A real, coordinate-sorted BAM: BGZF-compressed, with a SAM header (``@HD``, two ``@SQ``,
    ``@RG``, ``@PG``) and 40 aligned 50-base reads, closed by the BGZF end-of-file block, so
    ``samtools view`` and pysam read it. Always the same bytes.

    Args:
        in_storage_root: Write into the root of the default storage instead of the current directory.

    Returns:
        The absolute path of the written file.

    Example:
        >>> import gzip, lamin_flows as ln
        >>> path = ln.dev.datasets.file_bam()
        >>> gzip.open(path).read(4)
        b'BAM\\x01'
    """
    from lamin_flows.dev import _formats

    return _write_example("output.bam", _formats.bam_bytes(), in_storage_root, "file_bam")


def file_fcs(in_storage_root: bool = False) -> Path:
    """Write a flow cytometry file, ``example.fcs`` (FCS 3.1), and return its path.

    500 simulated events (T cells, CD4+ or CD8+, B cells and debris) in 7 channels: FSC-A,
    SSC-A, CD3, CD19, CD4, CD8 and Time, as little-endian float32 in list mode, described by a
    TEXT segment with the keywords FCS 3.1 requires. Always the same bytes.

    Args:
        in_storage_root: Write into the root of the default storage instead of the current directory.

    Returns:
        The absolute path of the written file.

    Example:
        >>> import lamin_flows as ln
        >>> path = ln.dev.datasets.file_fcs()
        >>> path.read_bytes()[:6]
        b'FCS3.1'
    """
    from lamin_flows.dev import _formats

    return _write_example("example.fcs", _formats.fcs_bytes(), in_storage_root, "file_fcs")


def file_tsv_rnaseq_nfcore_salmon_merged_gene_counts(in_storage_root: bool = False) -> Path:
    """Write nf-core/rnaseq's ``salmon.merged.gene_counts.tsv`` and return its path.

    Tab-separated: ``gene_id`` (Ensembl), ``gene_name`` and the estimated read counts of four
    samples (``CONTROL_REP1``, ``CONTROL_REP2``, ``TREATED_REP1``, ``TREATED_REP2``) for the
    20 genes of the example panel, as the pipeline merges salmon's quantifications. Simulated.

    Args:
        in_storage_root: Write into the root of the default storage instead of the current directory.

    Returns:
        The absolute path of the written file.

    Example:
        >>> import lamin_flows as ln
        >>> path = ln.dev.datasets.file_tsv_rnaseq_nfcore_salmon_merged_gene_counts()
        >>> path.read_text().splitlines()[0].split("\\t")[:3]
        ['gene_id', 'gene_name', 'CONTROL_REP1']
    """
    from lamin_flows.dev import _formats

    data = _formats.salmon_gene_counts_text().encode("ascii")
    function = "file_tsv_rnaseq_nfcore_salmon_merged_gene_counts"
    return _write_example("salmon.merged.gene_counts.tsv", data, in_storage_root, function)


def df_iris_in_meter() -> pd.DataFrame:
    """The iris measurements of :func:`df_iris`, in metres instead of centimetres.

    Same shape, columns and dtypes; the four measurements are divided by 100 (rounded to 4
    decimals, so 5.1 cm is exactly 0.051 m).

    Returns:
        A new DataFrame on every call.

    Example:
        >>> import lamin_flows as ln
        >>> ln.dev.datasets.df_iris_in_meter()["sepal_length"].iloc[0]
        0.051
    """
    df = df_iris()
    measures = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    df[measures] = (df[measures] / 100).round(4)
    return df


_TITLE_PARTS = (
    (
        "Exploring",
        "Clustering",
        "Quality control of",
        "Annotating",
        "Integrating",
        "Benchmarking",
        "Differential expression in",
        "Trajectory inference for",
        "Visualizing",
        "Batch correction of",
    ),
    (
        "single-cell RNA-seq",
        "CITE-seq",
        "bulk RNA-seq",
        "ATAC-seq",
        "flow cytometry",
        "spatial transcriptomics",
        "CRISPR screen",
        "proteomics",
    ),
    ("data of", "profiles of", "measurements of", "readouts of"),
    (
        "human PBMCs",
        "mouse lymph nodes",
        "T cells",
        "B cells",
        "monocytes",
        "tumor-infiltrating lymphocytes",
        "bone marrow",
        "organoids",
        "iPSC-derived neurons",
        "hematopoietic stem cells",
    ),
)


def fake_bio_notebook_titles(n: int = 100) -> list[str]:
    """Made-up titles of biology notebooks, such as "Clustering CITE-seq data of T cells".

    Args:
        n: How many titles (distinct while ``n`` is at most 3,200).

    Returns:
        The same ``n`` titles on every call.

    Raises:
        ValidationError: ``n`` is negative or not an int.

    Example:
        >>> import lamin_flows as ln
        >>> titles = ln.dev.datasets.fake_bio_notebook_titles(n=3)
        >>> len(titles)
        3
    """
    import itertools

    from lamin_flows.dev._simulate import rng_for

    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValidationError(f"fake_bio_notebook_titles(n={n!r}): pass a whole number >= 0, e.g. n=100")
    combos = [" ".join(parts) for parts in itertools.product(*_TITLE_PARTS)]
    rng_for("fake_bio_notebook_titles").shuffle(combos)
    return [combos[i % len(combos)] for i in range(n)]


def anndata_pbmc68k_reduced() -> anndata.AnnData:
    """A small synthetic AnnData laid out like scanpy's ``pbmc68k_reduced``: 70 cells x 100 genes.

    ``X`` is dense, scaled float32 (zero mean per gene, clipped at 10). ``obs`` has
    ``bulk_labels`` (the 10 sorted PBMC populations, categorical), ``n_genes``, ``percent_mito``,
    ``n_counts``, ``S_score``, ``G2M_score``, ``phase`` (G1/G2M/S) and ``louvain`` (categorical
    "0".."7"); ``var`` (the 20 panel genes, then ``LFG0000``...) has ``n_counts``, ``means``,
    ``dispersions``, ``dispersions_norm`` and ``highly_variable``; ``obsm`` has ``X_pca``
    (50 components) and ``X_umap``, ``varm`` has ``PCs`` and ``uns`` the colours and PCA variances.
    The values are simulated, not scanpy's data; the object round-trips through ``.h5ad``.

    Returns:
        A new AnnData with the same values on every call.

    Example:
        >>> import lamin_flows as ln
        >>> adata = ln.dev.datasets.anndata_pbmc68k_reduced()
        >>> adata.shape, adata.obsm["X_pca"].shape
        ((70, 100), (70, 50))
    """
    from lamin_flows.dev import _anndata

    return _anndata.pbmc68k_reduced()


def anndata_mouse_sc_lymph_node() -> anndata.AnnData:
    """A small synthetic AnnData of mouse lymph node cells: 40 cells x 20 genes.

    ``X`` holds float32 counts; ``obs`` has ``cell_type`` (T cell, B cell, dendritic cell,
    macrophage, natural killer cell), ``tissue``, ``donor_id``, ``sex``,
    ``developmental_stage`` and ``organism`` (all categorical), ``var`` is indexed by mouse
    gene symbol (``Cd3e``, ``Cd19``, ...). Simulated; it round-trips through ``.h5ad``.

    Returns:
        A new AnnData with the same values on every call.

    Example:
        >>> import lamin_flows as ln
        >>> adata = ln.dev.datasets.anndata_mouse_sc_lymph_node()
        >>> adata.shape
        (40, 20)
    """
    from lamin_flows.dev import _anndata

    return _anndata.mouse_sc_lymph_node()
