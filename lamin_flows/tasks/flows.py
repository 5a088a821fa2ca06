"""Ready-made tracked flows: what a team schedules, deploys and serves (see ``deployments/``).

* :func:`ingest_landing`: register everything in a landing folder (or under a bucket prefix),
  tag it, and write a summary report File: the nightly ingest.

Which instance a run uses is explicit, never an accident of the working directory: the flow's
``instance`` parameter names a ``LaminInstance`` block (``"lamin-instance/prod"``) or an
instance under ``LAMIN_HOME`` (``"prod"``); without it, the process default (``LAMIN_INSTANCE``,
else the remembered one) applies. The instance is switched on when the flow run starts, before
its Run is recorded (a Prefect ``on_running`` hook), and if it cannot be loaded the run fails
without writing anywhere else.

Example:
    >>> from lamin_flows.tasks.flows import ingest_landing
    >>> report = ingest_landing("/data/landing", tag="nightly")
    >>> report.load()                       # key, size, hash of every ingested file
    >>> ingest_landing.serve("nightly", cron="0 2 * * *", parameters={"landing": "/data/landing"})
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.futures import wait

import lamin_flows as ln
from lamin_flows.errors import InstanceNotFoundError, StorageNotFoundError, ValidationError
from lamin_flows.tasks.blocks import BLOCK_TYPE_SLUG
from lamin_flows.tasks.files import ingest_directory, serialize_dataframe, tag_files

if TYPE_CHECKING:
    from lamin_flows.registry.file import File
    from lamin_flows.registry.instance import InstanceConfig

DEFAULT_REPORT_KEY = "reports/ingest_landing/{date}-{run_id}.parquet"
"""Where :func:`ingest_landing` writes its report; ``{date}``, ``{run_id}`` and ``{tag}`` are filled in."""

DEFAULT_BATCH_SIZE = 1000
"""Landing folders with more files than this are split into tasks of this many files."""

# ---- which instance a run uses ------------------------------------------------------------
_activated: tuple[str, InstanceConfig] | None = None  # the `instance` value this process switched to
_activation_lock = threading.Lock()
_refused: tuple[str, InstanceConfig | None] | None = None  # (flow run id, instance before) of a refused run


def _load_block(block_name: str) -> InstanceConfig:
    from lamin_flows.tasks.blocks import LaminInstance

    try:
        # load() is sync_compatible; called outside an event loop, it returns the block itself
        block = cast(LaminInstance, LaminInstance.load(block_name))
    except ValueError:  # Prefect: "Unable to find block document named ..."
        raise InstanceNotFoundError(
            f"no LaminInstance block named {block_name!r} on the Prefect server: create it with"
            f" LaminInstance(storage_root=..., db_url=...).save({block_name!r})"
        ) from None
    return block.config()


def resolve_instance(instance: str) -> InstanceConfig:
    """The instance a flow's ``instance`` parameter names.

    Args:
        instance: ``"lamin-instance/<block>"`` for a ``LaminInstance`` block on the Prefect
            server, else the name of an instance under ``LAMIN_HOME``.

    Returns:
        Its configuration (secrets included: never log it except through its repr).

    Raises:
        InstanceNotFoundError: no such block or instance.

    Example:
        >>> resolve_instance("lamin-instance/prod")
        Instance(name='prod', storage='s3://acme-data/lamin', db='postgresql+psycopg://lamin:***@db/lamin')
    """
    from lamin_flows.registry.instance import read_config

    prefix = f"{BLOCK_TYPE_SLUG}/"
    if instance.startswith(prefix):
        return _load_block(instance[len(prefix) :])
    try:
        return read_config(instance)
    except InstanceNotFoundError as exc:
        raise InstanceNotFoundError(f"{exc} For a LaminInstance block, pass '{prefix}<block name>'.") from None


def _current_config() -> InstanceConfig | None:
    from lamin_flows.registry import instance as registry

    try:
        return registry.current().config
    except InstanceNotFoundError:
        return None


def _is_active(instance: str) -> bool:
    """Whether this process already switched to ``instance`` and it is still the current one."""
    return _activated is not None and _activated[0] == instance and _current_config() == _activated[1]


def use_instance(instance: str | None) -> InstanceConfig:
    """Make the instance a flow run names the one this process uses (only this process).

    Nothing is written under ``LAMIN_HOME`` and the remembered current instance stays as it is.

    Args:
        instance: a ``LaminInstance`` block (``"lamin-instance/prod"``), an instance name, or
            None for the process default.

    Returns:
        The configuration now in use.

    Raises:
        InstanceNotFoundError: the named block or instance does not exist, or None was given
            and this process has no default instance.

    Example:
        >>> use_instance("lamin-instance/prod")
    """
    global _activated
    from lamin_flows import setup
    from lamin_flows.registry import instance as registry

    with _activation_lock:
        if not instance:
            if _activated is not None:  # an earlier run of this process switched away from the default
                registry.activate(None)
                _activated = None
            return registry.current().config
        if _is_active(instance):
            assert _activated is not None  # _is_active says so
            return _activated[1]
        config = resolve_instance(instance)
        if _current_config() != config:
            setup.use(config)
        _activated = (instance, config)
        return config


def _use_instance_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_running``: switch to the run's instance before its Run is recorded."""
    global _refused
    from lamin_flows.registry import instance as registry

    name = (flow_run.parameters or {}).get("instance")
    try:
        config = use_instance(name)
    except Exception as exc:
        # Never fall back to the default instance: the run's records would land in the wrong registry.
        previous = _current_config()
        registry.make_unavailable(
            f"flow run {flow_run.name!r} could not use the instance {name!r}: {type(exc).__name__}: {exc}"
        )
        _refused = (str(flow_run.id), previous)
        raise  # Prefect logs it; the flow then fails at its first registry access
    from prefect.logging.loggers import flow_run_logger

    flow_run_logger(flow_run, flow).info(f"lamin_flows instance {config.name!r} (storage {config.storage_root})")


def _release_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """``on_failure`` / ``on_crashed``: a run refused its instance; give the process its instance back."""
    global _refused
    from lamin_flows.registry import instance as registry

    if _refused is not None and _refused[0] == str(flow_run.id):
        previous, _refused = _refused[1], None
        registry.activate(previous)


def _check_instance(instance: str | None) -> None:
    """Inside the flow body: the run uses the instance it names (not so when called via ``.fn``)."""
    if not instance:
        return
    if _is_active(instance):
        return
    if _current_config() != resolve_instance(instance):
        raise ValidationError(
            f"ingest_landing(instance={instance!r}) was called without Prefect's flow engine (e.g. via .fn),"
            " so the instance was not switched before the run was recorded: call the flow itself,"
            f" or use the instance first (ln.setup.load / LaminInstance.load(...).activate())"
        )


# ---- tasks ----------------------------------------------------------------------------------
@task(cache_policy=NONE)
def ingest_batch(folder: str, relative_paths: list[str], key_prefix: str, instance: str | None = None) -> list[File]:
    """Copy some files of a folder into storage and register them in one transaction.

    One slice of a large landing folder: :func:`ingest_landing` submits one per batch, so a
    Dask or process-pool task runner spreads them over workers. Keys are as in
    ``ingest_directory``: ``<key_prefix>/<relative path>`` (the folder's name without a prefix).

    Args:
        folder: the landing folder.
        relative_paths: the files to ingest, relative to ``folder`` (POSIX separators).
        key_prefix: the key prefix replacing the folder's name.
        instance: the flow's ``instance`` parameter, so a worker in another process uses it too.

    Returns:
        The saved Files (existing records for content already registered), in the given order.

    Example:
        >>> ingest_batch.submit("/data/landing", ["a.csv", "b/c.csv"], "landing/")
    """
    from lamin_flows.registry import files_io

    use_instance(instance)
    base = Path(folder)
    prefix = files_io.user_key(key_prefix.rstrip("/")) if key_prefix.strip("/") else base.name
    files = files_io.copy_in(base, relative_paths, prefix)
    ln.save(files)
    return files


@task(cache_policy=NONE)
def register_objects(urls: list[str], instance: str | None = None) -> list[File]:
    """Register cloud objects in place (no copy) in one transaction.

    Args:
        urls: object URLs such as ``s3://bucket/landing/a.csv``.
        instance: the flow's ``instance`` parameter, so a worker in another process uses it too.

    Returns:
        The saved Files (existing records for objects already registered).

    Example:
        >>> register_objects.submit(["s3://bucket/landing/a.csv"])
    """
    use_instance(instance)
    files = [ln.File(url) for url in urls]  # type: ignore[call-arg,misc]  # RecordMeta.__call__ takes the path
    ln.save(files)
    return files


# ---- the flow -------------------------------------------------------------------------------
def _list_folder(landing: str) -> tuple[str, list[str]]:
    from lamin_flows.registry.files_io import walk_dir

    folder = Path(landing).expanduser()
    if not folder.is_dir():
        raise StorageNotFoundError(
            f"landing folder {landing!r} does not exist (or is not a folder) on this machine:"
            " check the deployment's `landing` parameter"
        )
    folder = folder.resolve()
    return str(folder), [rel for rel, _ in walk_dir(folder)]


def _list_bucket(landing: str) -> list[str]:
    from lamin_flows.registry.storages import storage_options
    from lamin_flows.storage import MANAGED_PREFIX, get_backend

    backend = get_backend(landing, storage_options())
    root = backend.root.rstrip("/")
    managed = MANAGED_PREFIX.strip("/") + "/"
    return [f"{root}/{key}" for key, _size in backend.list() if not key.startswith(managed)]


def _batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _gather(futures: list[Any]) -> list[File]:
    wait(futures)  # every batch ends (done or failed) before the flow does
    out: list[File] = []
    for future in futures:
        out.extend(future.result())
    return out


def _ingest(landing: str, key_prefix: str, instance: str | None, batch_size: int) -> list[File]:
    from lamin_flows.storage import is_cloud

    if is_cloud(landing):
        urls = _list_bucket(landing)
        if batch_size <= 0 or len(urls) <= batch_size:
            return register_objects(urls, instance) if urls else []
        return _gather([register_objects.submit(b, instance) for b in _batches(urls, batch_size)])
    folder, rels = _list_folder(landing)
    if batch_size <= 0 or len(rels) <= batch_size:
        return ingest_directory(folder, key_prefix=key_prefix)
    return _gather([ingest_batch.submit(folder, b, key_prefix, instance) for b in _batches(rels, batch_size)])


def _report_key(template: str, tag: str | None) -> str:
    run = ln.context.run
    values = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        "run_id": run.id if run is not None else "no-run",
        "tag": tag or "untagged",
    }
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValidationError(
            f"report_key {template!r} cannot be filled in ({exc}); use only {{date}}, {{run_id}} and {{tag}}"
        ) from None


@flow(name="ingest-landing", on_running=[_use_instance_hook], on_failure=[_release_hook], on_crashed=[_release_hook])
@ln.tracked()
def ingest_landing(
    landing: str,
    key_prefix: str = "landing/",
    tag: str | None = "nightly",
    instance: str | None = None,
    report_key: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> File:
    """Register every file in a landing folder (or under a bucket prefix), tag it, and write a report.

    Files are copied into the instance's default storage under ``key_prefix`` (a bucket prefix
    is registered in place instead); content already registered is not copied again and keeps
    its record, so an unchanged landing folder adds no File. Every new File is an output of
    this flow's Run, wherever its task ran. The report is a parquet File listing key, size and
    hash of every file found.

    Args:
        landing: a local folder every runner of the deployment can read, or a bucket prefix
            such as ``s3://acme-landing/today``.
        key_prefix: the key prefix of the copies, e.g. ``"landing/"`` gives
            ``landing/<path relative to the folder>``; empty: the folder's name.
        tag: a tag to put on every ingested File (created if needed); empty or None: no tag.
        instance: the lamin_flows instance: ``"lamin-instance/<block>"`` (a ``LaminInstance``
            block) or an instance name under ``LAMIN_HOME``; None: the process default. It is
            switched on as the run starts (called in your own process, the process stays on it).
        report_key: where to write the report; ``{date}``, ``{run_id}`` and ``{tag}`` are filled
            in. Default ``reports/ingest_landing/{date}-{run_id}.parquet``.
        batch_size: folders with more files are split into tasks of this many files, which the
            flow's task runner (e.g. a ``DaskTaskRunner``) runs in parallel; 0: never split.

    Returns:
        The report File (the existing one if an identical report was written before).

    Raises:
        StorageNotFoundError: the landing folder does not exist.
        InstanceNotFoundError: ``instance`` names no block or instance.

    Example:
        >>> ingest_landing("/data/landing", tag="nightly", instance="lamin-instance/prod")
        >>> from prefect_dask import DaskTaskRunner
        >>> ingest_landing.with_options(task_runner=DaskTaskRunner())("/data/landing", batch_size=500)
    """
    import pandas as pd

    _check_instance(instance)
    files = sorted(_ingest(landing, key_prefix, instance, batch_size), key=lambda f: f.key or "")
    if tag and files:
        tag_files(files, tag)
    summary = pd.DataFrame(
        {"key": [f.key for f in files], "size": [f.size for f in files], "hash": [f.hash for f in files]}
    )
    summary = summary.astype({"key": "string", "size": "Int64", "hash": "string"})
    report = serialize_dataframe(summary, key=_report_key(report_key or DEFAULT_REPORT_KEY, tag))
    run = ln.context.run
    n_new = sum(1 for f in files if run is not None and f.run_id == run.id)
    get_run_logger().info(
        f"ingested {len(files)} files from {landing} ({n_new} new), tagged {tag!r}; report {report.key}"
    )
    return report


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_REPORT_KEY",
    "ingest_batch",
    "ingest_landing",
    "register_objects",
    "resolve_instance",
    "use_instance",
]
