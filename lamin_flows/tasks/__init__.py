"""Ready-made Prefect tasks for lamin_flows: ingest, tag, serialize, register and load Files.

This is the one package that imports Prefect at module level. Every task:

* is an ordinary Prefect task (``.submit()``, ``.map()``, retries, any task runner) and a plain
  function through ``.fn``;
* passes records (which pickle to plain values), ids or paths, never database sessions;
* uses ``cache_policy=NONE`` so Prefect never tries to hash DataFrames or records.

For your own tasks, ``LAMIN_CONTENT`` is a cache policy that keys on the content of the Files
and registered paths among the arguments (``cache_policy=LAMIN_CONTENT + TASK_SOURCE``).

Run inside a tracked flow, what the tasks save becomes the flow Run's output and what they
load its input, in whatever thread, process or Dask worker they run.

Example:
    >>> from prefect import flow
    >>> from lamin_flows.tasks import ingest_directory, tag_files
    >>> @flow
    ... @ln.tracked()
    ... def nightly_ingest(landing: str):
    ...     files = ingest_directory(landing, key_prefix="raw/")
    ...     tag_files(files, "nightly")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lamin_flows.tasks.cache_policy import LAMIN_CONTENT, LaminContent
from lamin_flows.tasks.files import ingest_directory, load_file, register_file, serialize_dataframe, tag_files

if TYPE_CHECKING:
    from lamin_flows.tasks.flows import ingest_landing

__all__ = [
    "LAMIN_CONTENT",
    "LaminContent",
    "ingest_directory",
    "ingest_landing",
    "load_file",
    "register_file",
    "serialize_dataframe",
    "tag_files",
]


def __getattr__(name: str) -> Any:
    # The ready-made flows load on first use: Prefect imports this package for its block types.
    if name == "ingest_landing":
        from lamin_flows.tasks.flows import ingest_landing

        return ingest_landing
    raise AttributeError(f"module 'lamin_flows.tasks' has no attribute {name!r}")
