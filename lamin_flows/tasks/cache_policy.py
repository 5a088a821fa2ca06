"""``LAMIN_CONTENT``: a Prefect cache policy that keys on the content of Files, not on their names.

Prefect's ``INPUTS`` hashes argument values, so a path string hits the cache after the file
behind it changed. ``LAMIN_CONTENT`` hashes, per task argument (also inside lists, tuples and
dicts):

* a File record: its content hash (``hash_type:hash``), so a new version with other content is
  another key, and the same content under another id is the same key;
* a path or URL to a registered File (inside an instance storage): the content hash of the
  latest version at that key if its data still matches it (checked through the stat cache,
  :mod:`lamin_flows.registry.stat_cache`), else the hash of the data as it is now, so a file
  edited in place outside lamin_flows is another key;
* any other value: its JSON form (paths to unregistered files as text), or Prefect's own hash
  of it where it has none.

It composes with Prefect's policies: ``LAMIN_CONTENT + TASK_SOURCE`` reruns on changed code too.
Without a current instance it returns None (Prefect then does not cache).

Example:
    >>> from prefect import task
    >>> from prefect.cache_policies import TASK_SOURCE
    >>> from lamin_flows.tasks import LAMIN_CONTENT
    >>> @task(cache_policy=LAMIN_CONTENT + TASK_SOURCE)
    ... def count_rows(path: str) -> int:
    ...     ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.utilities.hashing import hash_objects

from lamin_flows import _logging
from lamin_flows.tracking.params import Unstorable, to_json

MAX_DEPTH = 20


def _looks_like_location(value: str) -> bool:
    return "://" in value or os.path.isabs(value) or os.sep in value or os.path.exists(value)


def _content_of(value: Any, depth: int = 0) -> Any:
    """What of ``value`` goes into the key (raises Unstorable where nothing stable does)."""
    if type(value).__name__ == "File" and hasattr(value, "_lf") and hasattr(value, "hash"):
        if not value.hash:
            raise Unstorable(f"a File without a hash ({value!r})")
        return {"$content": f"{value.hash_type}:{value.hash}"}
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
        text = os.fspath(value)
        if len(text) < 4096 and _looks_like_location(text):
            from lamin_flows.registry import stat_cache

            digest = stat_cache.current_hash(text)
            if digest is not None:
                return {"$path": text, "$content": digest}
        return text
    if depth < MAX_DEPTH and isinstance(value, dict):
        return {str(k): _content_of(v, depth + 1) for k, v in value.items()}
    if depth < MAX_DEPTH and isinstance(value, (list, tuple)):
        return [_content_of(v, depth + 1) for v in value]
    return to_json(value)


@dataclass
class LaminContent(CachePolicy):
    """A cache key from the task's arguments, with Files and registered paths by content.

    Use the instance :data:`LAMIN_CONTENT`; compose it with Prefect's policies with ``+``.

    Example:
        >>> @task(cache_policy=LAMIN_CONTENT + TASK_SOURCE)
        ... def qc(file: ln.File) -> ln.File:
        ...     ...
    """

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The key: a hash over every argument's content (None: no instance, nothing to cache on)."""
        from lamin_flows.registry import instance

        if not inputs:
            return None
        try:
            instance.current()
        except Exception:  # no instance: the Files cannot be looked up  # noqa: BLE001
            return None
        content: dict[str, Any] = {}
        for name, value in sorted(inputs.items()):
            try:
                content[name] = _content_of(value)
            except Unstorable:
                try:
                    content[name] = {"$prefect": hash_objects(value, raise_on_failure=True)}
                except Exception as exc:  # noqa: BLE001 - any hashing failure means no cache key, never a failed task
                    _logging.warning(
                        f"LAMIN_CONTENT: argument {name!r} ({type(value).__name__}) cannot be hashed ({exc});"
                        " this task run is not cached. Pass a File, a path or a plain value instead."
                    )
                    return None
        return hash_objects(content, raise_on_failure=True)


LAMIN_CONTENT = LaminContent()
"""The Prefect cache policy of lamin_flows: task arguments with Files and registered paths by content."""
