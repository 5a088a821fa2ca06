"""Tracking: which code made which data. ``@ln.tracked``, the run context, lineage.

* :func:`tracked` turns every call of a function or Prefect flow into a Run of its Transform;
  with ``cache=True`` it skips calls whose code, parameters and input content are unchanged
  (:mod:`lamin_flows.tracking.cache`; the stat cache is :mod:`lamin_flows.registry.stat_cache`);
* :func:`track` and :func:`finish` (``ln.track()``, ``ln.finish()``) make a script or notebook a Run;
* :data:`context` (``ln.context``) gives the current Run and Transform;
* :func:`lineage_of` (``file.view_lineage()``) walks a File's lineage upstream.

Importing this package imports no Prefect: Prefect is consulted only in processes that have
already imported it. Importing it registers the resolver that lets Prefect tasks in other
processes and on Dask workers find their flow's Run.

Example:
    >>> import lamin_flows as ln
    >>> @ln.tracked
    ... def clean(key: str) -> ln.File:
    ...     df = ln.File.select(key=key).one().load()          # an input of the run
    ...     return ln.File(df.dropna(), key="clean/" + key).save()  # an output of the run
"""

from __future__ import annotations

from lamin_flows.tracking import resolvers as _resolvers  # noqa: F401  (registers the Prefect resolver)
from lamin_flows.tracking.decorator import tracked
from lamin_flows.tracking.lineage import LineageGraph
from lamin_flows.tracking.lineage_walk import lineage_of
from lamin_flows.tracking.runs import RunContext, context
from lamin_flows.tracking.script import finish, track

__all__ = ["LineageGraph", "RunContext", "context", "finish", "lineage_of", "track", "tracked"]
