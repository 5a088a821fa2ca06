"""A File's page: its record, versions, labels, readers, a preview of its data, and its bytes."""

from __future__ import annotations

import csv
import io
import mimetypes
from collections.abc import Iterator
from typing import Any

from lamin_flows.ui.data import _file_rows, _run_brief, _transforms_of, file_row, iso

PREVIEW_ROWS = 20
PREVIEW_BYTES = 64 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")
TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".parquet")


def find(file_id: str) -> Any:
    """The File with this id (any version), or None."""
    import lamin_flows as ln

    return ln.File.select(id=file_id).one_or_none()


def _storage_path(file: Any) -> str:
    try:
        return str(file.path())
    except Exception as exc:  # a storage this machine cannot reach: say so on the page  # noqa: BLE001
        return f"{file.storage_id}:{file.storage_key} (unreachable here: {exc})"


def file_detail(file_id: str) -> dict[str, Any] | None:
    """Everything the File page shows: the record, its storage path, versions with their runs,
    tags, projects, and the runs that read it."""
    import lamin_flows as ln

    file = find(file_id)
    if file is None:
        return None
    versions = file.versions.all()
    readers = file.input_of.all()
    made_by = ln.Run.select(id__in=sorted({v.run_id for v in versions if v.run_id})).all()
    runs = {r.id: r for r in [*readers, *made_by]}
    transforms = _transforms_of(list(runs.values()))
    storage = ln.Storage.select(id=file.storage_id).one_or_none()
    user = ln.User.select(id=file.created_by_id).one_or_none() if file.created_by_id else None
    version_rows = []
    for row in _file_rows(versions):
        run = runs.get(row["run_id"] or "")
        version_rows.append({**row, "run": _run_brief(run, transforms) if run is not None else None})
    detail = file_row(file._values(), {t.id: t.name for t in transforms.values()})
    detail.update(
        {
            "hash_type": file.hash_type,
            "stem_id": file.stem_id,
            "storage_root": storage.root if storage else None,
            "storage_key": file.storage_key,
            "path": _storage_path(file),
            "created_by": user.handle if user else None,
            "updated_at": iso(getattr(file, "updated_at", None)),
        }
    )
    return {
        "file": detail,
        "versions": version_rows,
        "run": _run_brief(runs[file.run_id], transforms) if file.run_id in runs else None,
        "tags": [t.name for t in file.tags.all()],
        "projects": [p.name for p in file.projects.all()],
        "read_by": [_run_brief(r, transforms) for r in readers],
        "preview": preview_kind(file),
    }


def preview_kind(file: Any) -> str | None:
    """``"table"``, ``"image"`` or None: what the page can show of the data."""
    suffix = (file.suffix or "").lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in TABLE_SUFFIXES:
        return "table"
    return None


def _open(file: Any) -> Any:
    # the backend's open, not file.open(): looking at a File is not a run reading it
    return file._backend().open(file._located_key(), "rb")


def table_head(file: Any, rows: int = PREVIEW_ROWS) -> dict[str, Any]:
    """The first ``rows`` rows of a CSV/TSV or parquet File: ``{"columns", "rows"}``, or ``{"error"}``."""
    suffix = (file.suffix or "").lower()
    try:
        with _open(file) as handle:
            if suffix == ".parquet":
                import pyarrow.parquet as pq

                parquet = pq.ParquetFile(handle)
                batch = next(parquet.iter_batches(batch_size=rows), None)
                columns = parquet.schema_arrow.names
                values = [] if batch is None else [[str(row.get(c)) for c in columns] for row in batch.to_pylist()]
                return {"columns": columns, "rows": values, "total_rows": parquet.metadata.num_rows}
            raw = handle.read(PREVIEW_BYTES)
        if suffix.endswith(".gz"):
            import zlib

            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, PREVIEW_BYTES)
        text = raw.decode("utf-8", errors="replace")
        lines = text.splitlines()[: rows + 1]
        delimiter = "\t" if suffix.startswith(".tsv") else ","
        parsed = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
        return {"columns": parsed[0] if parsed else [], "rows": parsed[1:], "total_rows": None}
    except Exception as exc:  # shown on the page instead of a preview  # noqa: BLE001
        return {"error": f"cannot preview {file.key or file.id}: {exc}"}


def media_type(file: Any) -> str:
    """The Content-Type to send the File's bytes with."""
    guessed, _ = mimetypes.guess_type(file.key or file.name or f"x{file.suffix}")
    return guessed or "application/octet-stream"


def chunks_of(file: Any, size: int = 1 << 20) -> Iterator[bytes]:
    """The File's bytes, ``size`` at a time (for the download link)."""
    with _open(file) as handle:
        while chunk := handle.read(size):
            yield chunk


def download_name(file: Any) -> str:
    """The file name a browser saves the download as."""
    base = (file.key or file.name or file.id).rsplit("/", 1)[-1]
    return base if base.endswith(file.suffix or "") else base + (file.suffix or "")
