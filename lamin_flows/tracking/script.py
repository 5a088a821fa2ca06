"""``ln.track()`` and ``ln.finish()``: a script or notebook run becomes a Run of its Transform.

The script (its path, and a SHA-256 of its bytes) is a Transform of type "script"; a notebook
(its ``.ipynb`` where Jupyter or VS Code names it, hashing the code cells only) one of type
"notebook". ``track()`` inserts a "started" Run; ``finish()`` ends it "completed". In between,
the Run is current in the whole process, in every thread, wherever no ``@ln.tracked`` call is:
Files saved there are its outputs, Files loaded, staged or opened its inputs, and tracked calls
are its child Runs.

The choices where a script does something unusual:

* ``track()`` twice: while its Run is going, the same code gets the same Run back (a notebook
  cell run again); other code is refused, naming the Run to finish first.
* ``finish()`` without a Run to finish (never tracked, or finished already) is refused.
* A script that ends without ``finish()``: an ``atexit`` hook ends the Run, "completed" on a
  normal exit or ``sys.exit(0)``, "failed" on an uncaught exception or ``sys.exit(<non-zero>)``,
  "crashed" on Ctrl-C. A process killed outright runs no hook: its Run stays "started".
* ``track()`` inside a ``@ln.tracked`` call (or a Prefect task of a tracked flow) is refused:
  that call is already a Run.
* No file to name the code (``python -c``, a REPL, a notebook Jupyter does not name): pass
  ``name=``; the Transform is then known by name and ``version=`` (default "1") alone.

Worker processes that are spawned (a Prefect process pool, Dask) do not see the Run; forked
ones do, and never end it.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lamin_flows import _logging
from lamin_flows.errors import TrackingError, ValidationError
from lamin_flows.tracking import runs
from lamin_flows.tracking.params import Unstorable, to_json

if TYPE_CHECKING:
    from lamin_flows.registry.models import Run

UNVERSIONED = "1"  # the version of code with no readable source, unless version= says otherwise


@dataclass(frozen=True)
class Code:
    """What ``track()`` found out about the code that called it."""

    name: str
    kind: str  # "script" or "notebook"
    reference: str  # the file's absolute path, or "<kind>:<name>" without a file
    digest: str | None  # SHA-256 (hex) of the source; None where it cannot be read


@dataclass
class _Session:
    """The Run of ``track()`` and how the process is ending."""

    frame: runs.Frame
    code: Code
    pid: int
    exit_code: Any = None  # what sys.exit() was called with
    exception: BaseException | None = None  # the uncaught exception the interpreter reported
    last_value: BaseException | None = None  # sys.last_value when the Run started (an older error)


_session: _Session | None = None
_lock = threading.Lock()
_original_excepthook = sys.excepthook
_original_exit = sys.exit


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _notebook_digest(path: Path) -> str | None:
    """SHA-256 of a notebook's code cells: outputs and execution counts change on every run."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    sha = hashlib.sha256(b"notebook:")
    for cell in cells:
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sha.update(("".join(source) if isinstance(source, list) else str(source)).encode())
            sha.update(b"\0")
    return sha.hexdigest()


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules


def find_code(caller_globals: dict[str, Any], name: str | None) -> Code:
    """The script or notebook whose top level called ``track()``.

    Raises:
        TrackingError: there is no file and no ``name``.
    """
    script = caller_globals.get("__file__")
    if script and Path(script).is_file():
        path = Path(script).resolve()
        return Code(name or path.name, "script", str(path), _file_digest(path))
    for attribute in ("__vsc_ipynb_file__", "__session__"):  # VS Code, Jupyter (ipykernel >= 6.22)
        notebook = caller_globals.get(attribute)
        if isinstance(notebook, str) and notebook.endswith(".ipynb") and Path(notebook).is_file():
            path = Path(notebook).resolve()
            return Code(name or path.name, "notebook", str(path), _notebook_digest(path))
    kind = "notebook" if _in_notebook() else "script"
    if name is None:
        where = "this notebook" if kind == "notebook" else "code run by `python -c` or typed into a REPL"
        raise TrackingError(
            f"ln.track() cannot find the file of {where}, so it cannot name the Transform;"
            " pass a name, e.g. ln.track(name='qc-analysis', version='1')"
        )
    return Code(name, kind, f"<{kind}>:{name}", None)


def _check_name(name: str | None, version: str | None) -> None:
    for label, value in (("name", name), ("version", version)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValidationError(f"ln.track({label}={value!r}): pass a non-empty string, e.g. {label}='1'")


def _params(params: dict[str, Any] | None) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ValidationError(f"ln.track(params={params!r}): pass a dict such as params={{'n_cells': 1000}}")
    try:
        return to_json(params)  # type: ignore[no-any-return]
    except Unstorable as exc:
        raise ValidationError(
            f"ln.track(params=...): a value ({exc}) has no JSON form; pass plain values, paths or saved records"
        ) from None


def track(
    name: str | None = None,
    *,
    version: str | None = None,
    params: dict[str, Any] | None = None,
) -> Run:
    """Start a Run of the calling script or notebook; Files saved and loaded until :func:`finish` are linked to it.

    The script is a Transform (type "script", named after its file, referencing its absolute
    path, versioned by the first 12 hex characters of the SHA-256 of its bytes; a notebook
    hashes its code cells). Unchanged code reuses its Transform, changed code makes a new
    version. The Run is current in the whole process, in every thread, until :func:`finish`
    or, if the script never calls it, until the interpreter exits (status "completed",
    "failed" on an uncaught exception or a non-zero ``sys.exit``, "crashed" on Ctrl-C).

    Args:
        name: the Transform's name; default the file's name (``"ingest.py"``). Required where
            there is no file (``python -c``, a REPL, a notebook Jupyter does not name).
        version: the Transform's version; default the source hash (``"1"`` without a file).
        params: values to store in ``run.params`` (JSON: plain values, paths, records by id).

    Returns:
        The Run (also ``ln.context.run``).

    Raises:
        TrackingError: called inside a ``@ln.tracked`` call; another script's Run is going;
            no file and no ``name``.
        ValidationError: ``name``, ``version`` or ``params`` are not usable.

    Example:
        >>> import lamin_flows as ln
        >>> ln.track(params={"sample": "S001"})     # in ingest.py
        >>> df = ln.File.select(key="raw/S001.csv").one().load()   # an input of the run
        >>> ln.File(df.dropna(), key="clean/S001.parquet").save()  # an output of the run
        >>> ln.finish()
    """
    global _session
    _check_name(name, version)
    caller = sys._getframe(1).f_globals
    inner = runs.tracked_call_frame()
    if inner is not None:
        raise TrackingError(
            f"ln.track() was called inside the tracked call {inner.transform.name!r} (run {inner.run.id}), which is"
            " already a Run: its saved and loaded Files are linked to it. Remove ln.track() there, or call it at"
            " the top of the script"
        )
    code = find_code(caller, name)
    with _lock:
        if _session is not None:
            return _again(_session, code)
        outer = runs.current_run_ref()  # a Prefect task of a tracked flow
        if outer is not None:
            raise TrackingError(
                f"ln.track() was called inside run {outer.run_id}, which is already tracked (a Prefect task of a"
                " tracked flow?); remove ln.track() there"
            )
        values = _params(params)
        version = version or (None if code.digest else UNVERSIONED)
        label = f"ln.track() {code.name}"
        transform = runs.save_transform(label, code.name, version, code.kind, code.digest, code.reference)
        meta = {"argv": list(sys.argv), "pid": os.getpid()}
        frame = runs.start_run(transform, values, meta=meta, make_current=False)
        _session = _Session(frame=frame, code=code, pid=os.getpid(), last_value=getattr(sys, "last_value", None))
        runs.set_process_frame(frame)
        _install_hooks()
    _logging.info(
        f"tracking run {frame.run.id} of {code.kind} {code.name!r} (Transform {transform.id} {transform.version})"
    )
    return frame.run


def _again(session: _Session, code: Code) -> Run:
    frame = session.frame
    if (code.reference, code.name) == (session.code.reference, session.code.name):
        _logging.warning(
            f"ln.track(): run {frame.run.id} of {code.name!r} is already being tracked; keeping it."
            " Call ln.finish() first to start a new Run"
        )
        return frame.run
    raise TrackingError(
        f"ln.track({code.name!r}): run {frame.run.id} of {session.code.name!r} is still being tracked in this"
        " process; call ln.finish() first"
    )


def finish() -> Run:
    """End the Run started by :func:`track` as "completed"; later Files are linked to no Run.

    Returns:
        The finished Run.

    Raises:
        TrackingError: no Run of ``track()`` is going (never started, or finished already), or a
            ``@ln.tracked`` call is still running here.

    Example:
        >>> ln.track()
        >>> ...
        >>> run = ln.finish()
        >>> run.status
        'completed'
    """
    inner = runs.tracked_call_frame()
    if inner is not None:
        raise TrackingError(
            f"ln.finish() was called inside the tracked call {inner.transform.name!r} (run {inner.run.id});"
            " call it after that call returns, at the end of the script"
        )
    session = _take_session()
    if session is None:
        raise TrackingError("ln.finish() found no Run to finish: call ln.track() first (each Run is finished once)")
    runs.finish_run(session.frame, "completed")
    _logging.success(f"finished run {session.frame.run.id} of {session.code.name!r}")
    return session.frame.run


def _take_session() -> _Session | None:
    global _session
    with _lock:
        session, _session = _session, None
        if session is not None:
            runs.set_process_frame(None)
            _remove_hooks()
    return session


# ------------------------------------------------------------------ the end of the process


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    session = _session
    if session is not None:
        session.exception = exc
    _original_excepthook(kind, exc, tb)


def _exit(code: Any = None) -> Any:
    session = _session
    if session is not None and threading.current_thread() is threading.main_thread():  # elsewhere it ends a thread
        session.exit_code = code
    return _original_exit(code)


def _install_hooks() -> None:
    # An uncaught exception reaches sys.excepthook before atexit runs; sys.exit() says its code
    # only to itself, so it is wrapped while a Run is going (and restored by finish()).
    global _original_excepthook, _original_exit
    _original_excepthook, _original_exit = sys.excepthook, sys.exit
    sys.excepthook = _excepthook
    sys.exit = _exit
    atexit.register(_at_exit)


def _remove_hooks() -> None:
    if sys.excepthook is _excepthook:
        sys.excepthook = _original_excepthook
    if sys.exit is _exit:
        sys.exit = _original_exit
    atexit.unregister(_at_exit)


def _exit_status(session: _Session) -> tuple[str, str | None]:
    exc = session.exception
    last = getattr(sys, "last_value", None)
    if exc is None and session.code.kind == "script" and last is not None and last is not session.last_value:
        # Our excepthook was replaced (rich, IPython-free loggers): the interpreter still keeps the
        # uncaught exception it printed in sys.last_value. A notebook sets it for any failed cell.
        exc = last
    if exc is not None:
        return ("failed" if isinstance(exc, Exception) else "crashed"), runs.error_text(exc)
    code = session.exit_code
    if code is None or code == 0:
        return "completed", None
    return "failed", f"SystemExit: {code}"


def _at_exit() -> None:
    session = _session
    if session is None or session.pid != os.getpid():  # a forked child never ends its parent's Run
        return
    session = _take_session()
    if session is None:
        return
    status, error = _exit_status(session)
    try:
        runs.finish_run(session.frame, status, error)
    except Exception as exc:  # the interpreter is going down; say so, never raise from atexit  # noqa: BLE001
        _logging.warning(f"could not record the end of run {session.frame.run.id}: {exc}")
        return
    _logging.info(f"run {session.frame.run.id} of {session.code.name!r} ended at exit: {status}")
