"""``@ln.tracked``: every call of a function or Prefect flow becomes a Run of its Transform.

Per call this costs one INSERT (the Run, before the work) and one UPDATE (its end): the
Transform is looked up once per function and instance, the source hashed once per function,
and Prefect is consulted only if the process has already imported it.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

from lamin_flows import _logging
from lamin_flows.tracking import runs
from lamin_flows.tracking.params import ParamBinder
from lamin_flows.tracking.source import reference_of, source_hash

if TYPE_CHECKING:
    from prefect import Flow

    from lamin_flows.registry.models import Transform

P = ParamSpec("P")
R = TypeVar("R")

TRACKED_ATTRIBUTE = "__lamin_tracked__"  # set on wrappers: the _Spec of the tracked function


class _Decorator(Protocol):
    @overload
    def __call__(self, fn: Flow[P, R], /) -> Flow[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R], /) -> Callable[P, R]: ...


class _Spec:
    """What a tracked function knows about itself: names, signature, its Transform per instance."""

    def __init__(
        self, fn: Callable[..., Any], name: str | None, version: str | None, kind: str, cache: bool = False
    ) -> None:
        self.fn = fn
        self.cache = cache
        self.cache_warned: set[tuple[str, ...]] = set()  # what cache=True already warned about
        self.name = name or getattr(fn, "__name__", None) or repr(fn)
        self.version = version
        self.kind = kind
        self.reference = reference_of(fn)
        self.binder = ParamBinder(fn, f"@ln.tracked {self.name}")
        self.wrapper: Callable[..., Any] | None = None
        self._source_hash: str | None = None
        self._transforms: dict[str, Transform] = {}  # database URL -> Transform
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Prefect pickles a flow (and so this wrapper's closure) into process-pool and Dask
        # workers; a lock does not pickle, and cached Transforms belong to this process.
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_transforms"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def source_hash(self) -> str:
        if self._source_hash is None:
            self._source_hash = source_hash(self.fn)
        return self._source_hash

    def transform(self, kind: str) -> Transform:
        """The Transform of this code in the current instance (looked up or created once)."""
        from lamin_flows.registry import instance

        url = instance.current().config.url
        found = self._transforms.get(url)
        if found is not None:
            return found
        with self._lock:
            found = self._transforms.get(url)
            if found is None:
                found = self._get_or_create(kind)
                self._transforms[url] = found
        return found

    def forget(self) -> None:
        """Drop the cached Transforms (the database was reset under us)."""
        self._transforms.clear()

    def _get_or_create(self, kind: str) -> Transform:
        return runs.save_transform(
            f"@ln.tracked {self.name}", self.name, self.version, kind, self.source_hash, self.reference
        )


class _Cached:
    """A cache hit: the body does not run, ``value`` is what the reused Run returned."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _begin(spec: _Spec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> runs.Frame | _Cached:
    from lamin_flows.registry.context import current_run_ref

    parent = runs.current_frame()
    kind, reference, reference_type, meta, flow_run_id = spec.kind, None, None, None, None
    body = False
    if "prefect.context" in sys.modules:  # never import Prefect for a plain function
        from lamin_flows.tracking import prefect_runs

        info = prefect_runs.flow_run_info(spec.wrapper)
        if info is not None:
            flow_run_id, meta = info.flow_run_id, info.meta
            # The flow's own body, outermost in its flow run: the one Run its flow run id finds.
            body = info.flow is not None and (parent is None or parent.flow_run_id != flow_run_id)
            if body:
                kind, reference, reference_type = "flow", flow_run_id, prefect_runs.REFERENCE_TYPE
                prefect_runs.ensure_state_hooks(info.flow)
    if body:
        # A (sub)flow's parent is the tracked call it runs in, never a Run found by its own flow run
        # id (that would be an earlier attempt of the same flow run, before a retry).
        parent_id = parent.run.id if parent is not None else None
    else:
        parent_ref = current_run_ref()
        parent_id = parent_ref.run_id if parent_ref is not None else None
    params = spec.binder.bind(args, kwargs)
    options: dict[str, Any] = dict(
        parent_id=parent_id, reference=reference, reference_type=reference_type, meta=meta, flow_run_id=flow_run_id
    )
    call = None
    if spec.cache:
        from lamin_flows.tracking import cache

        call = cache.call_of(spec, args, kwargs)
        if call is not None:
            transform = spec.transform(kind)  # a stale one finds no earlier Runs: a miss
            hit = cache.lookup(transform, call)
            if hit is not None:
                cache.record_hit(hit, transform, call, params, **options)
                return _Cached(hit.value)
    try:
        frame = runs.start_run(spec.transform(kind), params, **options)
    except Exception as exc:
        if not _is_integrity_error(exc):
            raise
        spec.forget()  # the cached Transform is gone (instance deleted and re-created): look it up again
        frame = runs.start_run(spec.transform(kind), params, **options)
    frame.cache_call = call
    if body:
        from lamin_flows.tracking import resolvers

        resolvers.remember(flow_run_id, frame)  # type: ignore[arg-type]
    return frame


def _is_integrity_error(exc: Exception) -> bool:
    import sqlalchemy as sa

    return isinstance(exc, sa.exc.IntegrityError)


def _status_of(exc: BaseException) -> str:
    if isinstance(exc, Exception):
        return "failed"
    import asyncio

    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "crashed"  # KeyboardInterrupt, SystemExit, a termination signal


def _end(frame: runs.Frame, result: Any = None, exc: BaseException | None = None) -> bool:
    """Record how the call ended; True if it is a flow run's Run that publishes an artifact."""
    extra = None
    if exc is not None:
        status, error = _status_of(exc), runs.error_text(exc)
    else:
        status, error = "completed", None
        if frame.flow_run_id is not None:
            from lamin_flows.tracking import prefect_runs

            status, error = prefect_runs.status_of_result(result, status)
        if status == "completed" and frame.cache_call is not None:
            from lamin_flows.tracking import cache

            extra = cache.completion_values(frame, frame.cache_call, result)
    try:
        runs.finish_run(frame, status, error, extra)
    except Exception as end_exc:
        if exc is None:
            raise
        # Never hide the caller's exception behind ours; the Run stays "started".
        _logging.warning(f"could not record the end of run {frame.run.id}: {end_exc}")
    crashed = exc is not None and not isinstance(exc, Exception)  # no API calls while the process goes down
    return frame.run.reference is not None and frame.flow_run_id is not None and not crashed


def _wrap(
    fn: Callable[P, R], *, name: str | None, version: str | None, kind: str, cache: bool = False
) -> Callable[P, R]:
    spec = _Spec(fn, name, version, kind, cache)
    if inspect.iscoroutinefunction(fn):
        async_fn: Callable[P, Awaitable[Any]] = fn

        @functools.wraps(fn)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            frame = _begin(spec, args, kwargs)
            if isinstance(frame, _Cached):
                return frame.value
            try:
                result = await async_fn(*args, **kwargs)
            except BaseException as exc:
                if _end(frame, exc=exc):
                    await _apublish(frame)
                raise
            if _end(frame, result=result):
                await _apublish(frame)
            return result

        wrapper: Callable[..., Any] = async_wrapper
    else:

        @functools.wraps(fn)
        def sync_wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            frame = _begin(spec, args, kwargs)
            if isinstance(frame, _Cached):
                return frame.value  # type: ignore[no-any-return]
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                if _end(frame, exc=exc):
                    _publish(frame)
                raise
            if _end(frame, result=result):
                _publish(frame)
            return result

        wrapper = sync_wrapper
    spec.wrapper = wrapper
    setattr(wrapper, TRACKED_ATTRIBUTE, spec)
    return wrapper


def _publish(frame: runs.Frame) -> None:
    from lamin_flows.tracking import prefect_runs

    prefect_runs.publish_artifact(frame.run, frame.transform)


async def _apublish(frame: runs.Frame) -> None:
    from lamin_flows.tracking import prefect_runs

    await prefect_runs.apublish_artifact(frame.run, frame.transform)


def _is_flow(obj: Any) -> bool:
    flows = sys.modules.get("prefect.flows")
    return flows is not None and isinstance(obj, flows.Flow)


def _is_task(obj: Any) -> bool:
    tasks = sys.modules.get("prefect.tasks")
    return tasks is not None and isinstance(obj, tasks.Task)


def _decorate(target: Any, name: str | None, version: str | None, cache: bool = False) -> Any:
    if _is_flow(target):
        from lamin_flows.tracking import prefect_runs

        return prefect_runs.track_flow(
            target, lambda fn: _wrap(fn, name=name, version=version, kind="flow", cache=cache)
        )
    if _is_task(target):
        raise TypeError(
            f"@ln.tracked cannot wrap the Prefect task {target.name!r} (it would lose .submit() and .map());"
            " put @ln.tracked below @task instead, so each task call is a Run"
        )
    if not callable(target):
        raise TypeError(f"@ln.tracked decorates functions and Prefect flows, got {type(target).__name__}: {target!r}")
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        # A generator returns at once; its Run would end before any of its work ran.
        raise TypeError(
            f"@ln.tracked cannot track the generator function {getattr(target, '__name__', target)!r}:"
            " track the function that consumes it, or return a list"
        )
    return _wrap(target, name=name, version=version, kind="function", cache=cache)


@overload
def tracked(fn: Flow[P, R], /) -> Flow[P, R]: ...
@overload
def tracked(fn: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def tracked(*, name: str | None = None, version: str | None = None, cache: bool = False) -> _Decorator: ...


def tracked(fn: Any = None, /, *, name: str | None = None, version: str | None = None, cache: bool = False) -> Any:
    """Record every call of a function or Prefect flow as a Run of its Transform.

    The code is a Transform (name, version from the source hash, ``module:qualname``); each call is
    a Run with its parameters, start and finish time, status ("started", then "completed" or
    "failed" with the error; exceptions are re-raised unchanged). Files saved during the call are
    its outputs, Files loaded, staged or opened are its inputs. A tracked call inside another is a
    child Run. Inside a Prefect flow run, the flow's Run references the flow run id, and Prefect
    tasks in other threads, processes or Dask workers link their Files to it.

    Works on sync and async functions and on Prefect flows, above or below ``@flow``; applied
    to a ``Flow`` it returns a ``Flow`` (``.serve()``, ``.deploy()``, ``.with_options()`` work).

    Args:
        fn: the function or flow (when used as ``@ln.tracked`` without parentheses).
        name: the Transform's name; default: the function's ``__name__``.
        version: the Transform's version; default: the first 12 hex characters of the source hash.
        cache: skip the body when a completed Run of the same code, with equal parameters, read
            Files whose content is unchanged and its outputs are intact: a Run with status
            "cached" (``run.reused`` is the Run reused) is recorded and that Run's return value
            returned (:mod:`lamin_flows.tracking.cache`). Default False: every call runs.

    Returns:
        The tracked function (same signature), or a Flow for a Flow.

    Raises:
        TypeError: ``fn`` is not callable.

    Example:
        >>> @flow
        ... @ln.tracked()
        ... def nightly_ingest(landing: str, tag: str = "nightly"):
        ...     ...
        >>> @ln.tracked(version="2")
        ... def clean(key: str) -> ln.File:
        ...     ...
        >>> @ln.tracked(cache=True)      # a second call on unchanged data returns at once
        ... def summarize(raw: ln.File, top: int = 10) -> ln.File:
        ...     ...
    """
    if fn is not None:
        return _decorate(fn, name, version, cache)
    return lambda target: _decorate(target, name, version, cache)
