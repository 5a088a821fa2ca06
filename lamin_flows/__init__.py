"""lamin_flows: a memory for data pipelines.

Every file a pipeline reads or writes is registered with its metadata (key, size, hash,
storage) and its provenance (user, transform, run) in a SQL registry you query like a table.

Example:
    >>> import lamin_flows as ln
    >>> ln.setup.init(storage="./mydata")
    >>> ln.File("./mydata/mini.csv").save()
    >>> ln.File.select(suffix=".csv").df()

Importing is cheap: the registry (SQLAlchemy), pandas, Prefect and cloud libraries load on
first use of the names that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lamin_flows._version import __version__
from lamin_flows.registry import hooks as _hooks

# public name -> (module, attribute); attribute None means the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "File": ("lamin_flows.registry.file", "File"),
    "Storage": ("lamin_flows.registry.models", "Storage"),
    "User": ("lamin_flows.registry.models", "User"),
    "Transform": ("lamin_flows.registry.models", "Transform"),
    "Run": ("lamin_flows.registry.models", "Run"),
    "Tag": ("lamin_flows.registry.models", "Tag"),
    "Project": ("lamin_flows.registry.models", "Project"),
    "save": ("lamin_flows.registry.api", "save"),
    "select": ("lamin_flows.registry.api", "select"),
    "Q": ("lamin_flows.registry.q", "Q"),
    "view": ("lamin_flows.registry.view", "view"),
    "setup": ("lamin_flows.setup", None),
    "settings": ("lamin_flows.setup", "user_settings"),
    "tracked": ("lamin_flows.tracking", "tracked"),
    "track": ("lamin_flows.tracking", "track"),
    "finish": ("lamin_flows.tracking", "finish"),
    "context": ("lamin_flows.tracking", "context"),
    "dev": ("lamin_flows.dev", None),
    "errors": ("lamin_flows.errors", None),
}

__all__ = sorted(_LAZY) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from lamin_flows import dev, errors, setup
    from lamin_flows.registry.api import save, select
    from lamin_flows.registry.file import File
    from lamin_flows.registry.models import Project, Run, Storage, Tag, Transform, User
    from lamin_flows.registry.q import Q
    from lamin_flows.registry.view import view
    from lamin_flows.setup import user_settings as settings
    from lamin_flows.tracking import context, finish, track, tracked


# Prefect events for saved Files and ended Runs: a cheap gate, imported at the first save, that
# loads the Prefect layer only when a Prefect API is configured or a flow is running.
_hooks.add_lazy("lamin_flows.tracking.events:files_saved", "files")
_hooks.add_lazy("lamin_flows.tracking.events:run_ended", "runs")
# file.view_lineage(): the walk lives in the tracking layer, which the registry never imports
_hooks.provide("lineage", "lamin_flows.tracking.lineage_walk:lineage_of")
# every registry class, loaded when code below the table modules first names one (registry.classes)
_hooks.provide("schema", "lamin_flows.registry.tables")
# the Prefect side of those events (the tasks layer, above tracking): imported by the sender thread
_hooks.provide("prefect_events", "lamin_flows.tasks.events")


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'lamin_flows' has no attribute {name!r}") from None
    if module_name in ("lamin_flows.registry.file", "lamin_flows.registry.api"):
        importlib.import_module("lamin_flows.registry.tables")  # every table, so relations resolve
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
