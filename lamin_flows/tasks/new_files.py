"""A flow that Prefect starts when data arrives: check the new Files of an ingest, write a QC report.

Deployed with an event trigger on ``lamin.file.saved`` (see ``deployments/prefect.yaml``,
deployment ``qc-new-raw-files``), it runs once per ingest Run that registered new Files under a
key prefix. The trigger passes the id of the File whose event fired it; the flow takes every
File of the same Run under the prefix (the ingest's new Files), makes them the inputs of its own
Run, checks each stored object against its record (size and hash, from the storage itself) and
writes a report File.

Example:
    >>> from lamin_flows.tasks.new_files import process_new_files
    >>> report = process_new_files(file_id="aB3dE5fG7hJ9kL1m", key_prefix="raw/")
    >>> report.load()          # key, size, ok, problem of every File checked
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

import lamin_flows as ln
from lamin_flows.errors import ValidationError
from lamin_flows.tasks.files import serialize_dataframe
from lamin_flows.tasks.flows import _check_instance, _release_hook, _use_instance_hook

if TYPE_CHECKING:
    from lamin_flows.registry.file import File

DEFAULT_QC_REPORT_KEY = "reports/qc/{run_id}.parquet"


def new_files_of(file_id: str, key_prefix: str) -> list[File]:
    """The triggering File and the other Files its Run saved under ``key_prefix``, by key.

    Raises:
        ValidationError: no File has this id.
    """
    found = ln.File.select(id=file_id).one_or_none()
    if found is None:
        raise ValidationError(
            f"no File with id {file_id!r} in instance {_instance_name()!r}: the event came from another"
            " instance, or the File was deleted; check the deployment's `instance` parameter"
        )
    if found.run_id is None:
        return [found]
    files = ln.File.select(run_id=found.run_id, key__startswith=key_prefix).order_by("key").all() if key_prefix else []
    return files if any(f.id == found.id for f in files) else [found, *files]


def _instance_name() -> str:
    from lamin_flows.registry import instance

    return instance.current().config.name


@task(cache_policy=NONE)
def check_files(files: list[File]) -> list[dict[str, object]]:
    """Compare each File's stored object with its record (size and hash from the storage).

    Args:
        files: saved Files.

    Returns:
        One row per File: key, size, ok, problem (empty when ok).

    Example:
        >>> check_files([ln.File.select(key="raw/a.csv").one()])
        [{'key': 'raw/a.csv', 'size': 12, 'ok': True, 'problem': ''}]
    """
    rows: list[dict[str, object]] = []
    for f in files:
        problem = ""
        try:
            stored = f._backend().info(f.storage_key)
            if stored.size != f.size:
                problem = f"stored size {stored.size} != registered {f.size}"
            elif stored.hash_type == f.hash_type and stored.hash != f.hash:
                problem = "stored content differs from the registered hash"
        except FileNotFoundError:
            problem = "no object in storage"
        rows.append({"key": f.key or f.id, "size": f.size, "ok": not problem, "problem": problem})
    return rows


@flow(name="process-new-files", on_running=[_use_instance_hook], on_failure=[_release_hook], on_crashed=[_release_hook])
@ln.tracked()
def process_new_files(
    file_id: str, key_prefix: str = "raw/", instance: str | None = None, report_key: str | None = None
) -> File:
    """Check the Files an ingest just registered (the Run of ``file_id``, under ``key_prefix``).

    Args:
        file_id: the File whose ``lamin.file.saved`` event triggered the run
            (``"{{ event.payload.file_id }}"`` in a trigger's parameters).
        key_prefix: only the Run's Files under this prefix are checked; empty: only ``file_id``.
        instance: as for ``ingest_landing``: ``"lamin-instance/<block>"`` or an instance name.
        report_key: where to write the report; ``{run_id}`` is filled in. Default
            ``reports/qc/{run_id}.parquet``.

    Returns:
        The report File (key, size, ok, problem per checked File).

    Raises:
        ValidationError: no File has the id ``file_id``.

    Example:
        >>> process_new_files("aB3dE5fG7hJ9kL1m", key_prefix="raw/")
    """
    import pandas as pd

    _check_instance(instance)
    files = new_files_of(file_id, key_prefix)
    run = ln.context.run
    if run is not None:
        run.inputs.add(*files)  # one batch of link rows: the triggering Files are this Run's inputs
    rows = check_files(files)
    report = pd.DataFrame(rows, columns=["key", "size", "ok", "problem"])
    key = (report_key or DEFAULT_QC_REPORT_KEY).replace("{run_id}", run.id if run is not None else "no-run")
    saved = serialize_dataframe(report, key=key)
    bad = sum(1 for r in rows if not r["ok"])
    get_run_logger().info(f"checked {len(rows)} new Files of run {files[0].run_id} ({bad} with problems); report {key}")
    return saved


__all__ = ["DEFAULT_QC_REPORT_KEY", "check_files", "new_files_of", "process_new_files"]
