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

pandas, numpy and anndata are imported inside the functions that need them, so importing
this module stays cheap.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from lamin_flows.errors import InstanceNotFoundError, ValidationError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    import anndata
    import pandas as pd

__all__ = [
    "anndata_small",
    "df_iris",
    "file_jpg_paradisi05",
    "file_mini_csv",
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

_IRIS_DTYPES = {
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


def _storage_root() -> Path:
    import lamin_flows

    storage = getattr(getattr(lamin_flows, "settings", None), "storage", None)
    if storage is None:
        raise InstanceNotFoundError(
            "file_mini_csv(in_storage_root=True) needs a lamin_flows instance and found none; "
            'run ln.setup.init(storage="./mydata") first, or call file_mini_csv() to write '
            "into the current directory"
        )
    return _local_dir(storage)


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
    folder = _storage_root() if in_storage_root else Path.cwd()
    path = (folder / "mini.csv").absolute()
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
            f"sample_name must be a plain folder name, got {sample_name!r}; "
            "put parent folders into basedir instead"
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
