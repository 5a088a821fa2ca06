"""``@ln.tracked(cache=True)``: skip a call when nothing it depends on changed.

A call's **cache key** hashes its Transform's source and its parameters (File arguments by key,
so a new version of an argument is found by content, not by id). A completed ``cache=True`` Run
stores the key in ``run.cache_key`` and, in the JSON column ``run.cache``, what is needed to
reuse it::

    {"v": 1, "source": <source hash>, "params": <parameters, Files as {"$file": key}>,
     "value": <the return value, encoded>  (or "unstorable": <its type>),
     "args": {<parameter>: [<File id>, <hash>]},          # Files passed as arguments
     "inputs": [[<File id>, <storage id>, <key>, <hash>]], # Files it (and its child Runs) loaded
     "outputs": [[<File id>, <key>]]}                      # Files it saved or returned

A later call with the same key reuses the most recent such Run (of the last three, the first
that is still valid) when: every File argument has the recorded hash; every loaded input's key
still has a latest version with the recorded hash; every output File still exists; and the data
of all of them still matches their hashes (:mod:`lamin_flows.registry.stat_cache`, no rehash of
unchanged local files). Then the body does not run: a Run with status "cached" is recorded,
``run.reused`` pointing at the reused Run (``run.reused_id``; ``reused_run.reused_by`` lists
the reuses), with the current inputs linked, and the stored return value is returned (Files as
the same File records). One log line names the reused Run; a miss names what changed.

Return values are stored as JSON: None, bools, numbers, strings, lists, tuples, dicts, paths
and saved Files. Any other return value (a DataFrame, say) cannot be reconstructed, so such a
call never hits; a warning says so once per function.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from lamin_flows import _logging
from lamin_flows.tracking.params import Unstorable, to_json

if TYPE_CHECKING:
    from lamin_flows.registry.models import Transform
    from lamin_flows.tracking.runs import Frame

FORMAT = 1
CANDIDATES = 3  # earlier Runs with the same key that are tried, newest first


@dataclass
class Call:
    """One cache=True call: its key, normalized parameters and File arguments."""

    label: str
    source: str
    key: str
    params: dict[str, Any]
    file_args: dict[str, Any] = field(default_factory=dict)  # parameter path -> File
    warned: set[tuple[str, ...]] = field(default_factory=set)  # the function's warnings so far


@dataclass
class Hit:
    """A Run that can be reused, its return value and the Files the call reads now."""

    run_id: str
    value: Any
    input_ids: list[str]


def _warn_once(warned: set[tuple[str, ...]], what: tuple[str, ...], message: str) -> None:
    """Warn once per tracked function and cause (a loop of calls would repeat it)."""
    if what not in warned:
        warned.add(what)
        _logging.warning(message)


def _is_file(value: Any) -> bool:
    return type(value).__name__ == "File" and hasattr(value, "_lf") and hasattr(value, "hash")


def _normalize(value: Any, path: str, files: dict[str, Any], depth: int = 0) -> Any:
    if _is_file(value):
        if not value._lf.saved:
            raise Unstorable(f"an unsaved File ({value!r})")
        files[path] = value
        return {"$file": value.key} if value.key else {"$file": None, "hash": value.hash}
    if depth < 20 and isinstance(value, dict):
        return {str(k): _normalize(v, f"{path}.{k}", files, depth + 1) for k, v in value.items()}
    if depth < 20 and isinstance(value, (list, tuple)):
        return [_normalize(v, f"{path}[{i}]", files, depth + 1) for i, v in enumerate(value)]
    return to_json(value)


def call_of(spec: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """The cache key of a call, or None (logged) where a parameter cannot be compared."""
    label = f"@ln.tracked {spec.name}"
    warned = spec.cache_warned
    signature = spec.binder.signature
    if signature is None:
        raw: dict[str, Any] = {"args": list(args), "kwargs": kwargs}
    else:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return None  # the call raises Python's TypeError itself
        bound.apply_defaults()
        raw = dict(bound.arguments)
    files: dict[str, Any] = {}
    params: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            params[name] = _normalize(value, name, files)
        except Unstorable as exc:  # also a method's instance: its state cannot be compared either
            _warn_once(
                warned,
                ("param", name),
                f"{label}: cache=True, but parameter {name!r} ({exc}) cannot be compared with earlier calls,"
                " so calls run every time. Pass a saved File, a path or a plain value to make it cacheable.",
            )
            return None
    source = spec.source_hash
    text = json.dumps({"source": source, "params": params}, sort_keys=True, separators=(",", ":"))
    return Call(label, source, hashlib.sha256(text.encode()).hexdigest(), params, files, warned)


# ---- return values ------------------------------------------------------------------------
def encode(value: Any, depth: int = 0) -> Any:
    """The JSON form of a return value, decodable by :func:`decode`; raises Unstorable."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if depth > 20:
        raise Unstorable("nested too deeply")
    if _is_file(value):
        if not value._lf.saved:
            raise Unstorable(f"an unsaved File {value!r}")
        return {"$file": value.id}
    if isinstance(value, PurePath):
        return {"$path": os.fspath(value), "type": type(value).__name__}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return {"$tuple": [encode(v, depth + 1) for v in value]}
    if type(value) is dict:
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v, depth + 1) for k, v in value.items()}
        return {"$dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    raise Unstorable(type(value).__name__)


def file_ids_in(encoded: Any) -> list[str]:
    """The ids of the Files in an encoded value."""
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for v in item:
                walk(v)
        elif isinstance(item, dict):
            if "$file" in item and len(item) == 1:
                found.append(item["$file"])
            else:
                for v in item.values():
                    walk(v)

    walk(encoded)
    return found


def decode(encoded: Any, files: dict[str, Any]) -> Any:
    """The value :func:`encode` encoded, Files taken from ``files`` (by id)."""
    if isinstance(encoded, list):
        return [decode(v, files) for v in encoded]
    if not isinstance(encoded, dict):
        return encoded
    if len(encoded) == 1 and "$file" in encoded:
        return files[encoded["$file"]]
    if len(encoded) == 1 and "$float" in encoded:
        return float(encoded["$float"])
    if len(encoded) == 1 and "$tuple" in encoded:
        return tuple(decode(v, files) for v in encoded["$tuple"])
    if len(encoded) == 1 and "$dict" in encoded:
        return {_hashable(decode(k, files)): decode(v, files) for k, v in encoded["$dict"]}
    if "$path" in encoded:
        import pathlib

        return getattr(pathlib, encoded.get("type", "Path"), pathlib.Path)(encoded["$path"])
    return {k: decode(v, files) for k, v in encoded.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


# ---- lookup -------------------------------------------------------------------------------
def lookup(transform: Transform, call: Call) -> Hit | None:
    """A valid earlier Run for this call, or None; logs the Run reused, or why none was."""
    import sqlalchemy as sa

    from lamin_flows.registry import db, instance
    from lamin_flows.registry.models import Run

    table = Run.__table__
    with db.read(instance.current().engine) as conn:
        candidates = conn.execute(
            sa.select(table.c.id, table.c.cache)
            .where(table.c.transform_id == transform.id, table.c.cache_key == call.key, table.c.status == "completed")
            .order_by(table.c.finished_at.desc(), table.c.id.desc())
            .limit(CANDIDATES)
        ).all()
    if not candidates:
        _logging.info(f"{call.label}: cache miss, {_why_no_candidate(transform, call)}; running")
        return None
    reasons = []
    for candidate in candidates:
        manifest = candidate.cache or {}
        reason, input_ids, files = _check(candidate.id, manifest, call)
        if reason is None:
            value = decode(manifest.get("value"), files)
            _logging.info(f"{call.label}: cache hit, reusing run {candidate.id} (nothing it depends on changed)")
            return Hit(candidate.id, value, input_ids)
        reasons.append(reason)
    _logging.info(f"{call.label}: cache miss, {reasons[0]}; running")
    return None


def _why_no_candidate(transform: Transform, call: Call) -> str:
    import sqlalchemy as sa

    from lamin_flows.registry import db, instance
    from lamin_flows.registry.models import Run
    from lamin_flows.registry.models import Transform as TransformTable

    runs, transforms = Run.__table__, TransformTable.__table__
    columns = (runs.c.id, runs.c.cache, transforms.c.version, transforms.c.id.label("transform_id"))
    with db.read(instance.current().engine) as conn:
        latest = conn.execute(
            sa.select(*columns)
            .select_from(runs.join(transforms, transforms.c.id == runs.c.transform_id))
            .where(
                transforms.c.name == transform.name,
                transforms.c.reference == transform.reference,
                runs.c.status == "completed",
                runs.c.cache_key.is_not(None),
            )
            .order_by(runs.c.finished_at.desc(), runs.c.id.desc())
            .limit(1)
        ).first()
    if latest is None:
        return "no completed run to reuse yet"
    manifest = latest.cache or {}
    if latest.transform_id != transform.id:
        return f"the source changed (run {latest.id} ran version {latest.version!r}, this is {transform.version!r})"
    if manifest.get("source") != call.source:
        return f"the source changed since run {latest.id} (version={transform.version!r} was kept)"
    before = manifest.get("params") or {}
    changed = sorted(name for name in set(before) | set(call.params) if before.get(name) != call.params.get(name))
    shown = ", ".join(f"{n}: {before.get(n)!r} -> {call.params.get(n)!r}" for n in changed[:5])
    return f"parameter{'s' if len(changed) > 1 else ''} changed since run {latest.id} ({shown})"


def _check(run_id: str, manifest: dict[str, Any], call: Call) -> tuple[str | None, list[str], dict[str, Any]]:
    """(why run ``run_id`` cannot be reused or None, the current input ids, its Files by id)."""
    from lamin_flows.registry import stat_cache

    if manifest.get("v") != FORMAT:
        return f"run {run_id} was recorded by another version of lamin_flows", [], {}
    if "unstorable" in manifest:
        return f"the return value of run {run_id} ({manifest['unstorable']}) could not be stored", [], {}
    rows: list[stat_cache.FileRow] = []
    input_ids: list[str] = []
    for path, (_file_id, digest) in (manifest.get("args") or {}).items():
        current = call.file_args.get(path)
        if current is None:
            return f"argument {path!r} is no longer a File", [], {}
        if current.hash != digest:
            return (
                f"input File {current.key or current.id!r} (argument {path!r}) has other content than in run {run_id}",
                [],
                {},
            )
        input_ids.append(current.id)
    arg_rows = stat_cache.rows_by_id(input_ids)
    rows.extend(arg_rows.values())
    inputs = manifest.get("inputs") or []
    keyed = [(storage_id, key) for _, storage_id, key, _ in inputs if key is not None]
    latest = stat_cache.latest_by_key(keyed) if keyed else {}
    unkeyed = stat_cache.rows_by_id([file_id for file_id, _, key, _ in inputs if key is None])
    for file_id, storage_id, key, digest in inputs:
        row = latest.get((storage_id, key)) if key is not None else unkeyed.get(file_id)
        if row is None:
            return f"input File {key or file_id!r} of run {run_id} was deleted", [], {}
        if row.hash != digest:
            return f"input File {row.label} has other content than the version run {run_id} read", [], {}
        rows.append(row)
        input_ids.append(row.id)
    outputs = manifest.get("outputs") or []
    output_rows = stat_cache.rows_by_id([file_id for file_id, _ in outputs])
    for file_id, key in outputs:
        if file_id not in output_rows:
            return f"output File {key or file_id!r} of run {run_id} was deleted", [], {}
    found = stat_cache.problems([*rows, *output_rows.values()])
    if found:
        by_id = {row.id: row for row in [*rows, *output_rows.values()]}
        file_id, problem = next(iter(found.items()))
        role = "output" if file_id in output_rows and file_id not in input_ids else "input"
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return f"{role} File {by_id[file_id].label} of run {run_id} fails its check: {problem}{more}", [], {}
    wanted = file_ids_in(manifest.get("value"))
    files = _files(wanted)
    if len(files) < len(set(wanted)):  # deleted since the check a moment ago
        return f"a File that run {run_id} returned was deleted", [], {}
    return None, list(dict.fromkeys(input_ids)), files


def _files(ids: list[str]) -> dict[str, Any]:
    from lamin_flows.registry.file import File
    from lamin_flows.registry.sql import chunks

    unique = list(dict.fromkeys(ids))
    return {f.id: f for batch in chunks(unique) for f in File.select(id__in=list(batch)).all()}


# ---- recording ----------------------------------------------------------------------------
def record_hit(hit: Hit, transform: Transform, call: Call, params: dict[str, Any], **options: Any) -> Any:
    """Insert the "cached" Run of a hit, with its inputs linked (one transaction); returns it."""
    from lamin_flows.registry import db, instance
    from lamin_flows.registry.models import Run
    from lamin_flows.registry.sql import chunks, dialect_insert, utcnow

    inst = instance.current()
    now = utcnow()
    run = Run(
        transform_id=transform.id,
        status="cached",
        params=params,
        started_at=now,
        finished_at=now,
        reference=options.get("reference"),
        reference_type=options.get("reference_type"),
        parent_id=options.get("parent_id"),
        meta=options.get("meta"),
        created_by_id=inst.user_id(),
        reused_id=hit.run_id,
        cache_key=call.key,
    )
    link = Run.metadata.tables["run_input"]
    with db.write(inst.engine) as conn:
        conn.execute(Run.__table__.insert(), [run._values()])
        for batch in chunks(hit.input_ids):
            insert = dialect_insert(conn, link).on_conflict_do_nothing()
            conn.execute(insert, [{"run_id": run.id, "file_id": file_id} for file_id in batch])
    run._mark_saved()
    from lamin_flows.registry import hooks

    hooks.run_ended(run)  # its lamin.run.cached event, where Prefect events are on
    return run


def completion_values(frame: Frame, call: Call, result: Any) -> dict[str, Any]:
    """The columns a completed cache=True Run gets: its key and what a later call needs to reuse it."""
    manifest: dict[str, Any] = {"v": FORMAT, "source": call.source, "params": call.params}
    try:
        manifest["value"] = encode(result)
    except Unstorable as exc:
        manifest["unstorable"] = str(exc)
        _warn_once(
            call.warned,
            ("value", str(exc)),
            f"{call.label}: cache=True, but its return value ({exc}) cannot be stored, so later calls run"
            " again. Return Files (e.g. ln.File(df, key=...).save()) or plain values to make it reusable.",
        )
        return {"cache_key": call.key, "cache": manifest}
    manifest["args"] = {path: [f.id, f.hash] for path, f in call.file_args.items()}
    inputs, outputs = _links_of(frame.run.id)
    arg_ids = {f.id for f in call.file_args.values()}
    output_ids = {file_id for file_id, _ in outputs}
    manifest["inputs"] = [row for row in inputs if row[0] not in output_ids and row[0] not in arg_ids]
    returned = [file_id for file_id in file_ids_in(manifest["value"]) if file_id not in output_ids]
    manifest["outputs"] = [*outputs, *([file_id, None] for file_id in dict.fromkeys(returned))]
    return {"cache_key": call.key, "cache": manifest}


def _links_of(run_id: str) -> tuple[list[list[Any]], list[list[Any]]]:
    """(inputs [id, storage id, key, hash], outputs [id, key]) of a Run and its descendants."""
    import sqlalchemy as sa

    from lamin_flows.registry import db, instance
    from lamin_flows.registry.file import File
    from lamin_flows.registry.models import Run
    from lamin_flows.registry.sql import chunks, one_of

    runs, files, link = Run.__table__, File.__table__, Run.metadata.tables["run_input"]
    run_ids, level = [run_id], [run_id]
    inputs: dict[str, list[Any]] = {}
    outputs: dict[str, list[Any]] = {}
    with db.read(instance.current().engine) as conn:
        while level:
            level = [row.id for row in conn.execute(sa.select(runs.c.id).where(runs.c.parent_id.in_(level)))]
            run_ids.extend(level)
        for batch in chunks(run_ids):
            query = sa.select(files.c.id, files.c.storage_id, files.c.key, files.c.hash).select_from(
                link.join(files, files.c.id == link.c.file_id)
            )
            for row in conn.execute(query.where(one_of(conn, link.c.run_id, batch))):
                inputs[row.id] = [row.id, row.storage_id, row.key, row.hash]
            for out in conn.execute(sa.select(files.c.id, files.c.key).where(one_of(conn, files.c.run_id, batch))):
                outputs[out.id] = [out.id, out.key]
    return list(inputs.values()), list(outputs.values())
