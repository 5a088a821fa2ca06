"""Saving and deleting records: one transaction, batched SQL, storage effects undone on failure."""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from lamin_flows import _logging
from lamin_flows.registry import db, hooks
from lamin_flows.registry.sql import chunks, dialect_insert, one_of

# Parents before children, so foreign keys point at rows that exist.
ORDER = ("User", "Storage", "Transform", "Run", "Tag", "Project", "File")


def insert_records(conn: Any, cls: Any, records: list[Any]) -> None:
    """Insert new records; where a natural key already exists, adopt the existing row.

    This is how concurrent writers of the same Tag name (or Storage root, ...) converge on one
    record instead of failing: the unique constraint settles the race.
    """
    table = cls.__table__
    natural = cls._natural_key
    if natural:
        stmt = dialect_insert(conn, table).on_conflict_do_nothing(index_elements=list(natural))
    else:
        stmt = table.insert()
    # one executemany per chunk: the same transaction, but the parameter rows (and SQLAlchemy's
    # processed copies of them) of 100,000 Files never sit in memory at once
    for batch in chunks(records):
        conn.execute(stmt, [r._values() for r in batch])
    if not natural:
        return
    existing = {}
    for batch in chunks(records):
        if len(natural) == 1:
            column = table.c[natural[0]]
            where = column.in_([getattr(r, natural[0]) for r in batch])
        else:
            where = sa.or_(*[sa.and_(*[table.c[n] == getattr(r, n) for n in natural]) for r in batch])
        for row in conn.execute(sa.select(table).where(where)):
            existing[tuple(row._mapping[n] for n in natural)] = row
    for record in records:
        row = existing.get(tuple(getattr(record, n) for n in natural))
        if row is not None and row.id != record.id:
            record._adopt(row)


def update_records(conn: Any, cls: Any, records: list[Any]) -> None:
    """Write the changed columns of saved records, one executemany per set of changed columns."""
    from lamin_flows.registry.sql import utcnow

    table = cls.__table__
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    now = utcnow()
    for record in records:
        changes = record._changes()
        if not changes:
            continue
        record.updated_at = now
        changes["updated_at"] = now
        columns = tuple(sorted(changes))
        groups[columns].append({"_id": record.id, **{f"v_{c}": changes[c] for c in columns}})
    if groups:
        _check_still_there(conn, cls, [p["_id"] for params in groups.values() for p in params])
    for columns, params in groups.items():
        stmt = (
            table.update().where(table.c.id == sa.bindparam("_id")).values({c: sa.bindparam(f"v_{c}") for c in columns})
        )
        conn.execute(stmt, params)


def _check_still_there(conn: Any, cls: Any, ids: list[str]) -> None:
    """Refuse to update records another process deleted since they were loaded.

    An UPDATE of a deleted row changes nothing and says nothing: the user's edit would be lost
    silently. The rows are locked (PostgreSQL; SQLite holds its write lock already) so that they
    cannot be deleted between this check and the UPDATE.
    """
    from lamin_flows.errors import StaleRecordError

    table = cls.__table__
    found: set[str] = set()
    for batch in chunks(ids):
        stmt = sa.select(table.c.id).where(one_of(conn, table.c.id, batch))
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        found.update(conn.execute(stmt).scalars())
    gone = [i for i in ids if i not in found]
    if gone:
        more = f" (and {len(gone) - 1} more)" if len(gone) > 1 else ""
        raise StaleRecordError(
            f"{cls.__name__} {gone[0]}{more} was deleted since it was loaded (by another process, or through"
            f" another handle); nothing was saved. Look it up again (ln.{cls.__name__}.select(...)) or create it anew."
        )


def write_group(conn: Any, cls: Any, records: list[Any], undo: list[Callable[[], None]]) -> None:
    """Insert the new and update the changed records of one registry."""
    custom = getattr(cls, "_write", None)
    if custom is not None:
        custom(conn, records, undo)
        return
    new = [r for r in records if not r._lf.saved]
    if new:
        insert_records(conn, cls, new)
    update_records(conn, cls, [r for r in records if r._lf.saved])


def write_links(conn: Any, cls: Any, attr: str, pairs: list[tuple[str, str]], *, add: bool) -> None:
    """Insert (ignoring existing) or delete link rows ``(owner_id, other_id)`` in one batch each."""
    if not pairs:
        return
    table_name, own, other, _ = cls._many_to_many[attr]
    table = cls.metadata.tables[table_name]
    pairs = list(dict.fromkeys(pairs))
    if add:
        rows = [{own: a, other: b} for a, b in pairs]
        conn.execute(dialect_insert(conn, table).on_conflict_do_nothing(), rows)
    else:
        for batch in chunks(pairs, 500):
            conn.execute(
                table.delete().where(sa.or_(*[sa.and_(table.c[own] == a, table.c[other] == b) for a, b in batch]))
            )


def flush_links(conn: Any, records: list[Any]) -> None:
    """Write the link rows queued by ``record.tags.add(...)`` on unsaved records."""
    adds: dict[tuple[Any, str], list[Any]] = defaultdict(list)
    removes: dict[tuple[Any, str], list[Any]] = defaultdict(list)
    for record in records:
        for attr, ops in record._lf.pending_links.items():
            for op, other in ops:
                (adds if op == "add" else removes)[(type(record), attr)].append((record.id, other.id))
    for (cls, attr), pairs in adds.items():
        write_links(conn, cls, attr, pairs, add=True)
    for (cls, attr), pairs in removes.items():
        write_links(conn, cls, attr, pairs, add=False)


def is_record(value: Any) -> bool:
    """Whether ``value`` is a registry record (an object of a table class with the record state)."""
    return hasattr(type(value), "__table__") and hasattr(type(value), "_lf")


def _unique(records: Iterable[Any]) -> list[Any]:
    seen: set[int] = set()
    out = []
    for record in records:
        if id(record) not in seen:
            seen.add(id(record))
            out.append(record)
    return out


STATISTICS_AFTER = 1000  # new File rows in one save that refresh the planner's statistics (~1 ms)


BULK = 1000  # records from which the cyclic garbage collector pauses (see collector_paused)


@contextmanager
def collector_paused(n: int) -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while ``n`` (≥ :data:`BULK`) records are made or saved.

    Every record of a bulk operation stays alive until it ends, so the collector's passes over
    them find nothing, and they grow with the batch: 2.1 s of 15 s for ``from_dir`` + ``save`` of
    200,000 Files in place, measured on the benchmark machine, 0.04 s at 10,000. Below ``BULK``,
    or when the collector is already off, this does nothing; it is turned on again afterwards.

    Example:
        >>> with collector_paused(len(files)):
        ...     save_records(files)
    """
    if n < BULK or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def save_records(records: Iterable[Any]) -> None:
    """Save many records in one transaction (see :func:`lamin_flows.save`)."""
    records = list(records)
    with collector_paused(len(records)):
        _save_records(records)


def _save_records(records: Iterable[Any]) -> None:
    """:func:`save_records` with the collector as it is."""
    from lamin_flows.registry import instance

    records = _unique(records)
    parents: list[tuple[Any, str, Any]] = []  # (record, foreign key column, unsaved record it points to)
    for record in records:
        if not is_record(record):
            raise TypeError(f"ln.save() takes records, got {type(record).__name__}: {record!r}")
        related = record._lf.related
        if related and not record._lf.saved:
            parents.extend(
                (record, record._foreign_keys[attr][0], other)
                for attr, other in related.items()
                if other is not None and not other._lf.saved
            )
    if parents:  # unsaved records a new record points to (a new bucket's Storage) are saved with it
        records = _unique([*(other for _, _, other in parents), *records])
    if not records:
        return
    inst = instance.current()
    engine = inst.engine
    new_user = None
    if any(not r._lf.saved and getattr(r, "created_by_id", "x") is None for r in records):
        user_id, new_user = inst.user_for_save()
        for record in records:
            if not record._lf.saved and getattr(record, "created_by_id", "x") is None:
                record.created_by_id = user_id
                if new_user is not None:  # the first write: the User is saved with it, or not at all
                    parents.append((record, "created_by_id", new_user))
        if new_user is not None:
            records = [new_user, *records]
    by_class: dict[str, list[Any]] = defaultdict(list)
    for record in records:
        by_class[type(record).__name__].append(record)
    for group in by_class.values():  # class hooks take the whole group: one lookup per save, not per record
        before = getattr(type(group[0]), "_before_save", None)
        if before is not None:
            before(group)
    from lamin_flows.registry.limits import check_lengths

    check_lengths(records)  # before the database: PostgreSQL would raise a raw DataError, SQLite store it
    undo: list[Callable[[], None]] = []
    inserted: list[Any] = []
    statements_done = False  # an error after every statement ran came from COMMIT
    try:
        for group in by_class.values():  # slow storage work that is safe before the lock (cloud copies)
            before_write = getattr(type(group[0]), "_before_write", None)
            if before_write is not None:
                before_write(group, undo)
        with db.write(engine) as conn:
            for name in ORDER:
                for record, column, other in parents:  # parents were written first, maybe adopting an existing id
                    if type(record).__name__ == name:
                        setattr(record, column, other.id)
                if by_class.get(name):
                    write_group(conn, type(by_class[name][0]), by_class[name], undo)
            flush_links(conn, records)
            inserted = [r for r in records if not r._lf.saved]
            statements_done = True
    except BaseException as exc:
        if not (statements_done and undo and not _commit_failed(engine, inserted, exc)):
            if new_user is not None:  # that User was not written: a retry must create it again
                for record, column, other in parents:
                    if other is new_user:
                        setattr(record, column, None)
            for action in reversed(undo):
                try:
                    action()
                except Exception as error:  # keep undoing the rest; say what could not be undone  # noqa: BLE001
                    _logging.warning(f"could not undo a storage change after a failed save: {error}")
            raise
    new_files = [r for r in inserted if type(r).__name__ == "File"] if hooks.wants_files() else []
    for record in records:
        record._mark_saved()
        record._lf.pending_links.clear()
    if new_user is not None:
        inst._user_id = new_user.id
    for group in by_class.values():
        after = getattr(type(group[0]), "_after_save", None)
        if after is not None:
            after(group)
    hooks.files_saved(new_files)  # after COMMIT: a listener never sees a File that is not there
    if sum(type(r).__name__ == "File" for r in inserted) >= STATISTICS_AFTER:
        db.refresh_statistics(engine, "file")


def _commit_failed(engine: Any, inserted: list[Any], exc: BaseException) -> bool:
    """Whether a failed save really wrote nothing, so the data it moved into place must go.

    When COMMIT itself fails, typically because the connection was cut, the server may have
    committed all the same; undoing the data then would leave records without data. So look, on a new connection: if the first inserted
    row is there, the save committed and the error is swallowed (False). If the database cannot
    be asked, keep the data and the save journal and say so (re-raises): `lamin verify --fix`
    settles it later under the save's locks.
    """
    if not inserted:
        return True
    record = inserted[0]
    table = type(record).__table__
    try:
        with db.read(engine) as conn:
            found = conn.execute(sa.select(table.c.id).where(table.c.id == record.id)).first()
    except Exception as error:
        exc.add_note(
            "The connection failed while committing and the registry could not be asked whether the save"
            " committed: its data was kept. Run `lamin verify --fix` once the database is reachable."
        )
        raise exc from error
    if found is None:
        return True
    _logging.warning(f"the connection failed while committing ({type(exc).__name__}), but the save did commit")
    return False


DELETED_INPUTS = "deleted_inputs"  # the run.meta entry naming the inputs of a Run that were deleted since


def remember_deleted_inputs(conn: Any, file_cls: Any, file_ids: Sequence[str]) -> None:
    """Runs that read Files about to be deleted note them in ``run.meta["deleted_inputs"]`` (id, key,
    version, hash), in the caller's transaction, so their lineage shows the input as deleted instead
    of silently dropping it. One query per batch of Files, one batched UPDATE per batch of Runs."""
    tables = file_cls.metadata.tables
    link, file, run = tables["run_input"], file_cls.__table__, tables["run"]
    notes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for batch in chunks(list(file_ids)):
        stmt = (
            sa.select(link.c.run_id, file.c.id, file.c.key, file.c.name, file.c.version, file.c.hash)
            .join(file, file.c.id == link.c.file_id)
            .where(link.c.file_id.in_(batch))
        )
        for row in conn.execute(stmt):
            notes[row.run_id].append(
                {"id": row.id, "key": row.key or row.name, "version": row.version, "hash": row.hash}
            )
    update = run.update().where(run.c.id == sa.bindparam("run_id")).values(meta=sa.bindparam("new_meta"))
    for batch in chunks(sorted(notes)):
        metas = dict(conn.execute(sa.select(run.c.id, run.c.meta).where(run.c.id.in_(batch))).all())
        rows = []
        for run_id in batch:
            meta = dict(metas.get(run_id) or {})
            meta[DELETED_INPUTS] = [*meta.get(DELETED_INPUTS, []), *notes[run_id]]
            rows.append({"run_id": run_id, "new_meta": meta})
        conn.execute(update, rows)  # one executemany per batch of Runs


def delete_rows(conn: Any, cls: Any, ids: list[str]) -> None:
    """Delete the rows ``ids`` of a registry and their link rows, in the caller's transaction."""
    if cls.__name__ == "File":
        remember_deleted_inputs(conn, cls, ids)
    for link_table, own_column, _, _ in cls._many_to_many.values():
        link = cls.metadata.tables[link_table]
        for batch in chunks(ids):
            conn.execute(link.delete().where(link.c[own_column].in_(batch)))
    for batch in chunks(ids):
        conn.execute(cls.__table__.delete().where(cls.__table__.c.id.in_(batch)))


def delete_records(records: Iterable[Any]) -> None:
    """Delete records and their link rows in one transaction."""
    from lamin_flows.errors import ValidationError
    from lamin_flows.registry import instance

    records = [r for r in _unique(records) if r._lf.saved]
    if not records:
        return
    engine = instance.current().engine
    by_class: dict[Any, list[str]] = defaultdict(list)
    for record in records:
        by_class[type(record)].append(record.id)
    try:
        with db.write(engine) as conn:
            for cls, ids in by_class.items():
                delete_rows(conn, cls, ids)
    except sa.exc.IntegrityError as exc:
        names = ", ".join(f"{type(r).__name__} {r.id}" for r in records[:3])
        raise ValidationError(
            f"cannot delete {names}: other records still point to it ({exc.orig}). Delete or re-link those first."
        ) from exc
    for record in records:
        record._lf.saved = False
