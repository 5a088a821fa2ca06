"""Serialize objects to files and load files back, by suffix.

Types are recognized by name (``type(obj).__module__`` / ``__name__`` and the MRO) so that checking
an object never imports pandas or anndata: a process that never made a DataFrame never pays for
importing pandas. The libraries are imported inside the functions that read or write.

Example:
    >>> import pandas as pd
    >>> suffix_for(pd.DataFrame({"a": [1]}))
    '.parquet'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lamin_flows.errors import MissingDependencyError, UnsupportedObjectError

# (module the class lives in, class name) -> suffix of the file it is written to
_WRITERS: dict[tuple[str, str], str] = {
    ("pandas", "DataFrame"): ".parquet",
    ("anndata", "AnnData"): ".h5ad",
}
_TABLES = {".parquet", ".csv", ".tsv", ".csv.gz", ".tsv.gz"}


def _kind(obj: Any) -> tuple[str, str] | None:
    """(package, class) of the first class in obj's MRO that we can write, so subclasses count too."""
    for cls in type(obj).__mro__:
        package = cls.__module__.split(".", 1)[0]
        if (package, cls.__name__) in _WRITERS:
            return package, cls.__name__
    return None


def suffix_for(obj: Any) -> str:
    """The file suffix an in-memory object is stored with.

    Args:
        obj: A pandas DataFrame or an AnnData object.

    Returns:
        ``".parquet"`` for a DataFrame, ``".h5ad"`` for an AnnData.

    Raises:
        UnsupportedObjectError: Any other type; the message names it and what is supported.

    Example:
        >>> suffix_for(adata)  # doctest: +SKIP
        '.h5ad'
    """
    kind = _kind(obj)
    if kind is None:
        kind_name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        raise UnsupportedObjectError(
            f"Cannot store an object of type {kind_name}: lamin_flows stores pandas.DataFrame (as .parquet)"
            " and anndata.AnnData (as .h5ad). Write other objects to a file yourself and pass its path."
        )
    return _WRITERS[kind]


def _import(name: str) -> Any:
    from lamin_flows._gc import import_settled

    try:
        return import_settled(name)
    except ImportError as error:
        raise MissingDependencyError(f"This needs the package {name!r}: pip install {name}") from error


def write_object(obj: Any, path: str | Path) -> None:
    """Write a DataFrame to parquet (pyarrow) or an AnnData to h5ad.

    Args:
        obj: A pandas DataFrame or an AnnData object.
        path: The local file to write.

    Raises:
        UnsupportedObjectError: ``obj`` is of another type, or a DataFrame parquet cannot hold
            (e.g. a column mixing numbers and strings).

    Example:
        >>> write_object(pd.DataFrame({"a": [1, 2]}), "table.parquet")  # doctest: +SKIP
    """
    suffix = suffix_for(obj)
    if suffix == ".parquet":
        _import("pyarrow")
        try:
            obj.to_parquet(path, engine="pyarrow")
        except (ValueError, TypeError, NotImplementedError) as error:
            # pyarrow's refusals (a column mixing ints and strs: ArrowInvalid, a ValueError; complex
            # numbers: ArrowNotImplementedError, a NotImplementedError) are about the object, not the disk
            hint = (
                " Parquet has no complex numbers: store the real and imaginary parts as two columns"
                " (np.real(df[col]), np.imag(df[col]))."
                if "complex" in str(error)
                else ""
            )
            raise UnsupportedObjectError(
                f"Cannot write this DataFrame to parquet: {error}.{hint} Give each column a single type parquet"
                " can hold (e.g. df[col] = df[col].astype(str)) and make column names strings."
            ) from error
    else:
        obj.write_h5ad(path)


def load_path(path: str | Path, suffix: str) -> Any:
    """Load a local file into memory according to its suffix.

    Args:
        path: The local file.
        suffix: Its suffix, e.g. ``".parquet"`` (case does not matter).

    Returns:
        A DataFrame for .parquet/.csv/.tsv (also .csv.gz/.tsv.gz), an AnnData for .h5ad, the parsed
        JSON for .json, a str for .txt, and for anything else the local ``Path`` itself.

    Example:
        >>> load_path("table.parquet", ".parquet")  # doctest: +SKIP
           a
        0  1
    """
    path = Path(path)
    suffix = suffix.lower()
    if suffix in _TABLES:
        pd = _import("pandas")
        if suffix == ".parquet":
            _import("pyarrow")
            return pd.read_parquet(path, engine="pyarrow")
        return pd.read_csv(path, sep="\t" if suffix.startswith(".tsv") else ",")
    if suffix == ".h5ad":
        return _import("anndata").read_h5ad(path)
    if suffix == ".json":
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    if suffix == ".txt":
        return path.read_text(encoding="utf-8")
    return path
