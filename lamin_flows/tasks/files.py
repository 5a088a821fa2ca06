"""The file tasks: ``ingest_directory``, ``tag_files``, ``serialize_dataframe``,
``register_file``, ``load_file``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NONE

from lamin_flows.errors import NoResultError, ValidationError

if TYPE_CHECKING:
    from lamin_flows.registry.file import File
    from lamin_flows.registry.models import Tag

_FORMATS = {"parquet": ".parquet", "csv": ".csv", "tsv": ".tsv"}


def _ln() -> Any:
    import lamin_flows

    return lamin_flows


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _tag(tag: Tag | str) -> Tag:
    ln = _ln()
    if isinstance(tag, str):
        return ln.Tag(name=tag).save()  # an existing name converges on its Tag
    if isinstance(tag, ln.Tag):
        return tag if tag.is_saved else tag.save()
    raise ValidationError(f"tag_files takes a Tag or a tag name, got {type(tag).__name__} {tag!r}")


def _files(files: Any) -> list[File]:
    """Files from Files and/or File ids, fetched in one query."""
    ln = _ln()
    items = _as_list(files)
    ids = [f for f in items if isinstance(f, str)]
    by_id = {f.id: f for f in ln.File.select(id__in=ids).all()} if ids else {}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise NoResultError(
            f"no File with id {missing[0]!r} ({len(missing)} ids not found); pass saved Files or their ids"
        )
    out = []
    for item in items:
        file = by_id[item] if isinstance(item, str) else item
        if not isinstance(file, ln.File):
            raise ValidationError(f"expected Files or File ids, got {type(item).__name__} {item!r}")
        out.append(file)
    return out


@task(cache_policy=NONE)
def ingest_directory(path: str | os.PathLike[str], key_prefix: str | None = None, tags: Any = None) -> list[File]:
    """Register every file under a folder, copying or uploading them in parallel.

    Content already registered is not copied again: unchanged files return their existing
    records, so re-running an ingest adds nothing.

    Args:
        path: a local folder.
        key_prefix: the key prefix replacing the folder's name, e.g. ``"raw/"`` gives keys
            ``raw/<path relative to the folder>``. Default: ``<folder name>/<relative path>``
            (a folder inside a storage root keeps its relative keys).
        tags: a Tag or tag name, or a list of them, to put on every ingested File.

    Returns:
        The saved Files, sorted by key.

    Example:
        >>> files = ingest_directory("/data/landing", key_prefix="raw/", tags="nightly")
        >>> files = ingest_directory.fn("/data/landing")   # without Prefect
    """
    ln = _ln()
    files = ln.File.from_dir(path, key=key_prefix)
    ln.save(files)
    for tag in _as_list(tags):
        tag_files.fn(files, tag)
    return files


@task(cache_policy=NONE)
def tag_files(files: Any, tag: Tag | str) -> Tag:
    """Put a tag on many Files in one transaction (creating the tag if needed).

    Args:
        files: saved Files or File ids (a list, or one).
        tag: a Tag or a tag name.

    Returns:
        The Tag.

    Example:
        >>> tag_files(files, "nightly")
        >>> ln.File.select(tags__name="nightly").df()
    """
    from lamin_flows.registry.links import link_many

    records = _files(files)
    tag_record = _tag(tag)
    unsaved = [f for f in records if not f.is_saved]
    if unsaved:
        raise ValidationError(f"save {unsaved[0]!r} before tagging it (ln.save(files))")
    link_many(records, "tags", [tag_record])
    return tag_record


@task(cache_policy=NONE)
def serialize_dataframe(df: Any, key: str | None = None, name: str | None = None, format: str = "parquet") -> File:
    """Save a pandas DataFrame as a File (the same content again returns the existing File).

    Args:
        df: a pandas DataFrame.
        key: where to store it, e.g. ``"reports/nightly.parquet"``; its suffix must match
            ``format``. Default: a managed key from the File's id.
        name: a human-readable name.
        format: ``"parquet"`` (default), ``"csv"`` or ``"tsv"``.

    Returns:
        The saved File.

    Example:
        >>> report = serialize_dataframe(summary, key="reports/nightly.parquet")
        >>> report.load()
    """
    ln = _ln()
    suffix = _FORMATS.get(format)
    if suffix is None:
        raise ValidationError(f"format {format!r} is not supported; use one of {', '.join(_FORMATS)}")
    if format == "parquet":
        return ln.File(df, key=key, name=name).save()
    with tempfile.TemporaryDirectory(prefix="lamin-df-") as tmp:
        path = Path(tmp) / f"{Path(key).stem if key else name or 'dataframe'}{suffix}"
        df.to_csv(path, sep="," if format == "csv" else "\t", index=False)
        return ln.File(path, key=key, name=name or path.name).save()


@task(cache_policy=NONE)
def register_file(path_or_url: str | os.PathLike[str], key: str | None = None) -> File:
    """Register one file: a local path (copied in unless already in storage) or a cloud URL.

    Args:
        path_or_url: a local path or a URL such as ``s3://bucket/raw/a.csv``.
        key: the key to copy a local file to (default: a managed key); files already in a
            storage keep their own key.

    Returns:
        The saved File (the existing one for known content).

    Example:
        >>> register_file("/data/plate_01.csv", key="plates/plate_01.csv")
    """
    ln = _ln()
    return ln.File(path_or_url, key=key).save()


def _find(key_or_id: Any) -> File:
    ln = _ln()
    if isinstance(key_or_id, ln.File):
        return key_or_id
    if not isinstance(key_or_id, str):
        raise ValidationError(f"load_file takes a key, an id or a File, got {type(key_or_id).__name__} {key_or_id!r}")
    from lamin_flows.registry.files_io import find_file

    return find_file(key_or_id)


@task(cache_policy=NONE)
def load_file(key_or_id: Any) -> Any:
    """Load a registered File into memory; inside a tracked run it becomes an input.

    Args:
        key_or_id: a key (``"reports/nightly.parquet"``), a File id, or a File.

    Returns:
        The data: a DataFrame for parquet/csv/tsv, an AnnData for h5ad, a dict for json,
        text for txt, otherwise a local path.

    Example:
        >>> df = load_file("reports/nightly.parquet")
    """
    return _find(key_or_id).load()
