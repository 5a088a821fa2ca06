"""OpenLineage events built from the registry's records: a Run is a run, its Transform a job, Files datasets.

Only :mod:`lamin_flows.tracking.openlineage` imports this module, and only once emission is on,
because it imports ``openlineage-python`` at module level (its facet classes are what the
client's transports serialize).

Identities, stable across live emission and ``lamin lineage export``:

* run id: the Prefect flow run id for a flow's Run (a UUID derived from it and the attempt
  for retries), else a UUID derived from the Run id;
* job: namespace from ``LAMIN_OPENLINEAGE_NAMESPACE`` (default the instance name), name the
  Transform's ``module:qualname`` reference;
* dataset: namespace the storage root URI (``file:///data``, ``s3://bucket``), name the File's key.
"""

from __future__ import annotations

import functools
import importlib.metadata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent
from openlineage.client.event_v2 import RunState as RunState  # used as openlineage_events.RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    RunFacet,
    dataset_type_dataset,
    dataset_version_dataset,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    storage_dataset,
)

from lamin_flows._version import __version__
from lamin_flows.storage.keys import storage_key

PRODUCER = f"https://pypi.org/project/lamin-flows/{__version__}/"
# The $id of lamin_flows/tracking/openlineage_facets.json, the schema of our two custom facets.
FACETS_SCHEMA = "https://pypi.org/project/lamin-flows/openlineage/1-0-0/LaminFlowsFacets.json"
# Fixed, so that the same Run always gets the same OpenLineage run id, in every process.
RUN_ID_NAMESPACE = uuid.UUID("6b1d3c2e-8f4a-5c7e-9d10-2a3b4c5d6e7f")
PREFECT_REFERENCE = "prefect-flow-run"  # = tracking.prefect_runs.REFERENCE_TYPE, without importing it
TERMINAL = {
    "completed": RunState.COMPLETE,
    "failed": RunState.FAIL,
    "cancelled": RunState.ABORT,
    "crashed": RunState.ABORT,
}
FILE_FORMATS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".txt": "text",
    ".xml": "xml",
    ".avro": "avro",
    ".orc": "orc",
    ".h5ad": "h5ad",
    ".zarr": "zarr",
}


@attr.define(kw_only=True)
class LaminFileDatasetFacet(DatasetFacet):
    """What lamin_flows knows of a File beyond the standard facets: its record and content hash."""

    fileId: str  # noqa: N815
    storageKey: str  # noqa: N815
    hash: str | None = None
    hashType: str | None = None  # noqa: N815
    size: int | None = None
    version: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return f"{FACETS_SCHEMA}#/$defs/LaminFileDatasetFacet"


@attr.define(kw_only=True)
class LaminRunRunFacet(RunFacet):
    """The registry's Run and Transform behind an OpenLineage run, to find them again."""

    runId: str  # noqa: N815
    transformId: str  # noqa: N815
    transformVersion: str | None = None  # noqa: N815
    status: str
    prefectFlowRunId: str | None = None  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return f"{FACETS_SCHEMA}#/$defs/LaminRunRunFacet"


@dataclass(frozen=True)
class RunInfo:
    """A Run and its Transform as plain values (from a tracked call, or read back from the registry)."""

    id: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    reference: str | None
    reference_type: str | None
    meta: Mapping[str, Any] | None
    parent_id: str | None
    transform_id: str
    transform_name: str
    transform_version: str | None
    transform_type: str
    transform_reference: str | None

    @property
    def prefect(self) -> Mapping[str, Any]:
        """``meta["prefect"]``: the flow run this Run ran in, if any."""
        return (self.meta or {}).get("prefect") or {}

    @property
    def job_name(self) -> str:
        """The OpenLineage job name: the Transform's ``module:qualname``."""
        return self.transform_reference or self.transform_name


def run_uuid(run: RunInfo) -> str:
    """The OpenLineage run id of a Run (deterministic: backfill and live emission agree)."""
    if run.reference_type == PREFECT_REFERENCE and run.reference:
        try:
            flow_run = uuid.UUID(run.reference)
        except ValueError:
            return str(uuid.uuid5(RUN_ID_NAMESPACE, run.id))
        attempt = run.prefect.get("attempt") or 1
        # each attempt of a flow run is its own Run with its own START and end
        return str(flow_run if attempt <= 1 else uuid.uuid5(flow_run, f"attempt-{attempt}"))
    return str(uuid.uuid5(RUN_ID_NAMESPACE, run.id))


def event_time(value: datetime | None) -> str:
    """ISO 8601 with a time zone; SQLite hands back naive datetimes that are UTC."""
    moment = value or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


@functools.cache
def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _run_facets(run: RunInfo, parent: RunInfo | None, namespace: str, state: RunState) -> dict[str, RunFacet]:
    prefect_version = _version_of("prefect") if run.prefect else None
    engine = processing_engine_run.ProcessingEngineRunFacet(
        name="prefect" if prefect_version else "lamin_flows",
        version=prefect_version or __version__,
        openlineageAdapterVersion=__version__,
        producer=PRODUCER,
    )
    facets: dict[str, RunFacet] = {
        "processing_engine": engine,
        "lamin_run": LaminRunRunFacet(
            runId=run.id,
            transformId=run.transform_id,
            transformVersion=run.transform_version,
            status=run.status,
            prefectFlowRunId=run.prefect.get("flow_run_id"),
            producer=PRODUCER,
        ),
    }
    if parent is not None:
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run_uuid(parent)),
            job=parent_run.Job(namespace=namespace, name=parent.job_name),
            producer=PRODUCER,
        )
    if state in (RunState.FAIL, RunState.ABORT) and run.error:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=run.error, programmingLanguage="python", producer=PRODUCER
        )
    return facets


def _job(run: RunInfo, namespace: str) -> Job:
    job_type = job_type_job.JobTypeJobFacet(
        processingType="BATCH",
        integration="PREFECT" if run.prefect else "LAMIN_FLOWS",
        jobType=run.transform_type.upper(),
        producer=PRODUCER,
    )
    return Job(namespace=namespace, name=run.job_name, facets={"jobType": job_type})


def run_event(
    run: RunInfo,
    state: RunState,
    *,
    namespace: str,
    parent: RunInfo | None = None,
    inputs: list[InputDataset] | None = None,
    outputs: list[OutputDataset] | None = None,
) -> RunEvent:
    """The START or terminal event of ``run``; ``parent`` is the Run it ran inside, if any."""
    moment = run.started_at if state == RunState.START else run.finished_at
    return RunEvent(
        eventType=state,
        eventTime=event_time(moment),
        run=Run(runId=run_uuid(run), facets=_run_facets(run, parent, namespace, state)),
        job=_job(run, namespace),
        inputs=inputs or [],
        outputs=outputs or [],
        producer=PRODUCER,
    )


# ---- datasets --------------------------------------------------------------------------------
def storage_namespace(root: str) -> str:
    """The dataset namespace of a storage root: its URI."""
    if "://" in root:
        return root.rstrip("/")
    return Path(root).as_uri()


def _file_facets(row: Mapping[str, Any], schema: list[tuple[str, str]] | None) -> dict[str, DatasetFacet]:
    key = storage_key(row["key"], row["id"], row["suffix"] or "", row.get("is_latest", True))
    version = row.get("version")
    facets: dict[str, DatasetFacet] = {
        "datasetType": dataset_type_dataset.DatasetTypeDatasetFacet(datasetType="FILE", producer=PRODUCER),
        "storage": storage_dataset.StorageDatasetFacet(
            storageLayer=row["storage_type"], fileFormat=FILE_FORMATS.get(row["suffix"] or ""), producer=PRODUCER
        ),
        "lamin_file": LaminFileDatasetFacet(
            fileId=row["id"],
            storageKey=key,
            hash=row["hash"],
            hashType=row["hash_type"],
            size=row["size"],
            version=None if version is None else str(version),
            producer=PRODUCER,
        ),
    }
    # the File's version label once the registry has versions; its content hash until then
    label = version if version is not None else row["hash"]
    if label is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=str(label), producer=PRODUCER
        )
    if schema:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=name, type=type_) for name, type_ in schema],
            producer=PRODUCER,
        )
    return facets


def _dataset_name(row: Mapping[str, Any]) -> str:
    return row["key"] or storage_key(row["key"], row["id"], row["suffix"] or "", row.get("is_latest", True))


def input_dataset(row: Mapping[str, Any], schema: list[tuple[str, str]] | None = None) -> InputDataset:
    """A File a Run read, as an OpenLineage input (``row``: the File's columns and its storage's root and type)."""
    stats = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
        size=row["size"], fileCount=1, producer=PRODUCER
    )
    return InputDataset(
        namespace=storage_namespace(row["storage_root"]),
        name=_dataset_name(row),
        facets=_file_facets(row, schema),
        inputFacets={"inputStatistics": stats},
    )


def output_dataset(row: Mapping[str, Any], schema: list[tuple[str, str]] | None = None) -> OutputDataset:
    """A File a Run saved, as an OpenLineage output."""
    stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        size=row["size"], fileCount=1, producer=PRODUCER
    )
    return OutputDataset(
        namespace=storage_namespace(row["storage_root"]),
        name=_dataset_name(row),
        facets=_file_facets(row, schema),
        outputFacets={"outputStatistics": stats},
    )


class _Schemas:
    """Column names and types of parquet Files, read from the footer once per content hash."""

    MAX: ClassVar[int] = 1024

    def __init__(self) -> None:
        self._known: dict[tuple[str, str | None], list[tuple[str, str]] | None] = {}

    def of(self, row: Mapping[str, Any]) -> list[tuple[str, str]] | None:
        if (row["suffix"] or "") != ".parquet":
            return None
        cache_key = (row["id"], row["hash"])
        if cache_key not in self._known:
            if len(self._known) >= self.MAX:
                self._known.clear()
            self._known[cache_key] = _read_parquet_schema(row)
        return self._known[cache_key]


def _read_parquet_schema(row: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    from lamin_flows.registry.storages import backend_for_storage_id

    try:
        import pyarrow.parquet as pq

        key = storage_key(row["key"], row["id"], row["suffix"] or "", row.get("is_latest", True))
        with backend_for_storage_id(row["storage_id"]).open(key, "rb") as handle:
            schema = pq.read_schema(handle)  # the footer only: a few kB whatever the file's size
    except Exception:  # a schema is a bonus: an unreadable footer leaves the facet out, never the event  # noqa: BLE001
        return None
    return [(field.name, str(field.type)) for field in schema]


parquet_schemas = _Schemas()
