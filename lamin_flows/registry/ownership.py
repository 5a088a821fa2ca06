"""One owner per registry database and per storage root.

An instance has an id, kept in its registry database (table ``lamin_instance``) and in its
settings file. ``ln.setup.init`` claims the database (a second instance of another name on the
same PostgreSQL database is refused) and the storage root (the marker of
:mod:`lamin_flows.storage.owner`); attaching another Storage claims that root too. Sharing is
explicit: ``share=True`` adds the instance next to the owner instead of refusing it. Which
Storage this registry may write to is :func:`lamin_flows.registry.storages.storage_owned`.

Example:
    >>> from lamin_flows.registry import instance, ownership
    >>> ownership.instance_id(instance.current())
    'a1B2c3D4e5F6'
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from lamin_flows import _logging
from lamin_flows._ids import id12
from lamin_flows.errors import InstanceConflictError
from lamin_flows.registry import db
from lamin_flows.registry.classes import registry_class, table
from lamin_flows.registry.sql import utcnow


def _table() -> Any:
    return table("lamin_instance")


def claim_database(engine: Any, name: str, *, share: bool = False) -> str:
    """The id of instance ``name`` in this database, its row written if it has none.

    Raises:
        InstanceConflictError: another instance owns the database and ``share`` is not set.
    """
    table = _table()
    with db.write(engine) as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.name).order_by(table.c.created_at)).all()
        for row in rows:
            if row.name == name:
                return str(row.id)
        if rows and not share:
            others = ", ".join(f"{r.name!r} (id {r.id})" for r in rows)
            raise InstanceConflictError(
                f"this registry database belongs to lamin_flows instance {others}; a second instance {name!r} on it"
                f" would see and delete that one's records. Load that instance (ln.setup.load / `lamin load`), use"
                " another database, or share it on purpose: ln.setup.init(..., share=True) / `lamin init --share`."
            )
        new = id12()
        conn.execute(table.insert().values(id=new, name=name, created_at=utcnow()))
        if rows:
            _logging.warning(
                f"instance {name!r} now shares its registry database with {', '.join(repr(r.name) for r in rows)}"
            )
        return new


def others_in_database(engine: Any, instance_id: str | None) -> list[str]:
    """Names of the other instances that share this database."""
    table = _table()
    with db.read(engine) as conn:
        return [str(r.name) for r in conn.execute(sa.select(table.c.id, table.c.name)) if r.id != instance_id]


def release_database(engine: Any, instance_id: str | None) -> None:
    """Remove this instance's row."""
    if instance_id is None:
        return
    table = _table()
    with db.write(engine) as conn:
        conn.execute(table.delete().where(table.c.id == instance_id))


def instance_id(inst: Any) -> str:
    """The id of a connected instance (claimed in its database on first use if it has none yet)."""
    config = inst.config
    if config.instance_id is None:
        config.instance_id = known_instance_id(inst) or claim_database(inst.engine, config.name, share=True)
    return str(config.instance_id)


def known_instance_id(inst: Any) -> str | None:
    """The id of a connected instance if its settings or its database name one; never writes.

    Safe inside another connection's write transaction (a save writing its journal): claiming the
    id there would wait for the lock that very save holds.
    """
    config = inst.config
    if config.instance_id is None:
        table = _table()
        with db.read(inst.engine) as conn:
            row = conn.execute(sa.select(table.c.id).where(table.c.name == config.name)).first()
        if row is not None:
            config.instance_id = str(row.id)
    return None if config.instance_id is None else str(config.instance_id)


def claim_storage(inst: Any, root: str, *, share: bool = False) -> None:
    """Claim storage ``root`` for instance ``inst`` (see :func:`lamin_flows.storage.owner.claim`).

    Raises:
        StorageOwnedError: another instance owns it, or it lies inside or around another
            registered or owned root (sharing does not lift this).
    """
    from lamin_flows.storage import get_backend, is_cloud
    from lamin_flows.storage.owner import check_nesting, claim

    Storage = registry_class("Storage")  # noqa: N806 - a class
    options = inst.config.storage_options or None
    me = instance_id(inst)
    roots = [s.root for s in Storage.select().all()]
    check_nesting(root, roots, lambda r: get_backend(r, options if is_cloud(r) else None), me)
    claim(get_backend(root, options if is_cloud(root) else None), me, inst.config.name, share=share)
    table = Storage.__table__
    with db.write(inst.engine) as conn:  # a bucket registered in place before: attached on purpose now, ours
        conn.execute(table.update().where(table.c.root == root, table.c.owned == sa.false()).values(owned=True))


def release_storages(config: Any, engine: Any) -> None:
    """Take an instance off the markers of every root it registered (its registry is being deleted)."""
    from lamin_flows.storage import get_backend, is_cloud
    from lamin_flows.storage.owner import release

    if config.instance_id is None:
        return
    storage = table("storage")
    try:
        with db.read(engine) as conn:
            roots = [str(r.root) for r in conn.execute(sa.select(storage.c.root))]
    except sa.exc.SQLAlchemyError:
        roots = [config.storage_root]
    options = config.storage_options or None
    for root in roots:
        try:
            release(get_backend(root, options if is_cloud(root) else None), config.instance_id)
        except OSError as error:
            _logging.warning(f"could not update the owner marker of {root}: {error}")
