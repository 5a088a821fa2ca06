"""Storage locations as path objects: ``file.path()`` and ``ln.settings.storage``.

Choice: universal_pathlib's ``UPath`` for local and cloud alike, so ``.exists()``,
``.iterdir()``, ``.open()``, ``/`` and ``.fs`` (the fsspec filesystem) work the same on a
folder and a bucket. A local UPath is a ``pathlib.Path`` (and equals one); a cloud UPath
carries the instance's storage options (endpoint, credentials). upath is imported on first
use, never by ``import lamin_flows``.
"""

from __future__ import annotations

from typing import Any


def as_upath(location: Any, storage_options: dict[str, Any] | None = None) -> Any:
    """``location`` (a local path or a cloud URL) as a ``UPath``."""
    from upath import UPath

    from lamin_flows.storage import is_cloud

    text = str(location)
    if is_cloud(text):
        return UPath(text, **(storage_options or {}))
    return UPath(text)


def instance_upath(location: Any) -> Any:
    """``location`` as a ``UPath`` with the current instance's storage options."""
    from lamin_flows.registry import instance

    return as_upath(location, instance.current().config.storage_options or None)
