"""The Prefect artifacts of a tracked flow run: what it registered (outputs) and read (inputs).

Two artifacts per Run, both keyed by the Transform's name so the UI groups a flow's runs:

* ``lamin-<name>``, markdown: a summary line per role and a table of the Files (key, size in
  human units, version, hash, storage path, and a link to the File page when
  ``LAMIN_UI_URL`` is set, where a link to the run's page (``lamin ui``) heads the artifact);
* ``lamin-<name>-files``, Prefect's table type: one row per File with its role, and the size
  in bytes, so the UI sorts it.

Inputs are the registered Files the run loaded, staged or opened (``run.inputs``). Files read
from outside the registry, such as the landing folder an ingest copies from, are not Files
until they are registered, and then they are the run's outputs; the artifact says so.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from lamin_flows import _logging
from lamin_flows.config import get_settings

if TYPE_CHECKING:
    from lamin_flows.registry.file import File
    from lamin_flows.registry.models import Run, Transform

ARTIFACT_MAX_ROWS = 200
NOT_REGISTERED_NOTE = (
    "Inputs are registered Files this run loaded, staged or opened. Files read from outside the registry"
    " (a landing folder, a bucket prefix) are not Files until registered; then they are listed as outputs."
)


def artifact_key(name: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) for a Transform name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "run"
    return f"lamin-{slug}"[:100]


def file_url(file: File) -> str | None:
    """The File's page under ``LAMIN_UI_URL`` (``<ui_url>/files/<id>``), or None when unset."""
    base = get_settings().ui_url
    return f"{base.rstrip('/')}/files/{file.id}" if base else None


def run_url(run: Run) -> str | None:
    """The Run's page under ``LAMIN_UI_URL`` (``<ui_url>/runs/<id>``), or None when unset."""
    base = get_settings().ui_url
    return f"{base.rstrip('/')}/runs/{run.id}" if base else None


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _path(file: File) -> str:
    try:  # the Files were just queried: their storage key is current, no need to ask again per row
        return str(file._backend().path(file.storage_key))
    except Exception:  # a storage we cannot reach from here: show what we know  # noqa: BLE001
        return f"{file.storage_id}:{file.storage_key}"


def _size(file: File) -> str:
    from lamin_flows.registry.listing import human_size

    return human_size(file.size)


def _file_rows(files: list[File], total: int) -> list[str]:
    rows = ["| key | size | version | hash | storage path |", "| --- | ---: | --- | --- | --- |"]
    for file in files[:ARTIFACT_MAX_ROWS]:
        name = _cell(file.key or file.name or file.id)
        url = file_url(file)
        key = f"[{name}]({url})" if url else name
        version = getattr(file, "version", None)
        rows.append(f"| {key} | {_size(file)} | {_cell(version)} | {_cell(file.hash)} | {_cell(_path(file))} |")
    if total > ARTIFACT_MAX_ROWS:
        rows.append(f"| … and {total - ARTIFACT_MAX_ROWS} more | | | | |")
    return rows


def _files_of(run: Run) -> tuple[list[File], int, list[File], int]:
    from lamin_flows.registry.file import File

    outputs = File.select(run_id=run.id).order_by("key").limit(ARTIFACT_MAX_ROWS + 1).all()
    n_out = File.select(run_id=run.id).count() if len(outputs) > ARTIFACT_MAX_ROWS else len(outputs)
    inputs = run.inputs.select().order_by("key").limit(ARTIFACT_MAX_ROWS + 1).all()
    n_in = run.inputs.select().count() if len(inputs) > ARTIFACT_MAX_ROWS else len(inputs)
    return outputs, n_out, inputs, n_in


def _total(files: list[File], n: int) -> str:
    from lamin_flows.registry.listing import human_size

    size = sum(f.size or 0 for f in files)
    return human_size(size) if n <= ARTIFACT_MAX_ROWS else f"{human_size(size)} in the first {ARTIFACT_MAX_ROWS}"


def artifact_markdown(run: Run, transform: Transform) -> str:
    """The markdown a tracked flow run publishes: its outputs and its inputs."""
    outputs, n_out, inputs, n_in = _files_of(run)
    lines = [
        f"# lamin_flows: {transform.name} (run `{run.id}`)",
        "",
        f"Transform `{transform.id}` version `{transform.version}`, status **{run.status}**.",
        "",
        *([f"[Open this run, its files and its lineage in lamin ui]({url})", ""] if (url := run_url(run)) else []),
        f"## Outputs ({n_out})",
        "",
    ]
    lines += (
        [f"{n_out} Files, {_total(outputs, n_out)}.", "", *_file_rows(outputs, n_out)]
        if outputs
        else ["No files registered."]
    )
    lines += ["", f"## Inputs ({n_in})", ""]
    lines += [f"{n_in} Files, {_total(inputs, n_in)}.", "", *_file_rows(inputs, n_in)] if inputs else ["No files read."]
    lines += ["", f"_{NOT_REGISTERED_NOTE}_"]
    return "\n".join(lines) + "\n"


def artifact_table(run: Run) -> list[dict[str, Any]]:
    """The rows of the table artifact: role, key, size (bytes), size_human, version, hash, suffix, id, url."""
    outputs, _, inputs, _ = _files_of(run)
    rows = []
    for role, files in (("output", outputs[:ARTIFACT_MAX_ROWS]), ("input", inputs[:ARTIFACT_MAX_ROWS])):
        for file in files:
            rows.append(
                {
                    "role": role,
                    "key": file.key or file.name or "",
                    "size": file.size,
                    "size_human": _size(file),
                    "version": getattr(file, "version", None),
                    "hash": file.hash,
                    "suffix": file.suffix,
                    "id": file.id,
                    "url": file_url(file) or "",
                }
            )
    return rows


def _artifact_args(run: Run, transform: Transform) -> tuple[dict[str, Any], dict[str, Any]]:
    key = artifact_key(transform.name)
    markdown = {
        "markdown": artifact_markdown(run, transform),
        "key": key,
        "description": f"Files registered by lamin_flows run {run.id} of {transform.name}",
    }
    table = {
        "table": artifact_table(run),
        "key": f"{key}-files"[:100],
        "description": f"Outputs and inputs of lamin_flows run {run.id} of {transform.name}, one row per File",
    }
    return markdown, table


def publish_artifact(run: Run, transform: Transform) -> None:
    """Publish the run's markdown and table artifacts to the current flow run (never raises)."""
    try:
        from prefect.artifacts import create_markdown_artifact, create_table_artifact

        markdown, table = _artifact_args(run, transform)
        create_markdown_artifact(**markdown, _sync=True)  # type: ignore[call-arg]
        create_table_artifact(**table, _sync=True)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001 - artifacts are a by-product: they never fail the run
        _logging.warning(f"could not publish the Prefect artifacts of run {run.id}: {exc}")


async def apublish_artifact(run: Run, transform: Transform) -> None:
    """:func:`publish_artifact` for async flows."""
    try:
        from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

        markdown, table = _artifact_args(run, transform)
        await acreate_markdown_artifact(**markdown)
        await acreate_table_artifact(**table)
    except Exception as exc:  # noqa: BLE001 - artifacts are a by-product: they never fail the run
        _logging.warning(f"could not publish the Prefect artifacts of run {run.id}: {exc}")
