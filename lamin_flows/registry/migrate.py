"""Schema migrations with Alembic: a new database gets the baseline, an old one is upgraded.

Checking is cheap (one query against ``alembic_version``); Alembic itself is imported only
when the schema actually has to change.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SCHEMA_HEAD = "0008"  # the newest migration; a database at another version is upgraded on connect

_checked: set[str] = set()
_lock = threading.Lock()


def current_revision(engine: Any) -> str | None:
    """The schema revision of a database, or None for an empty one."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        revision: str | None = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        return revision


def upgrade(engine: Any, revision: str = "head") -> None:
    """Run every pending migration on ``engine``'s database (up to ``revision``)."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Any, revision: str) -> None:
    """Take ``engine``'s database back to schema ``revision`` (its next use upgrades it again).

    Example:
        >>> downgrade(instance.current().engine, "0004")  # the schema before migration 0005
    """
    _run(engine, "downgrade", revision)


def _run(engine: Any, direction: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.connect().execution_options(lamin_write=True) as conn:
        config.attributes["connection"] = conn
        getattr(command, direction)(config, revision)
        conn.commit()


def ensure_schema(engine: Any) -> None:
    """Upgrade the database to the newest schema once per process."""
    key = str(engine.url)
    if key in _checked:
        return
    with _lock:
        if key in _checked:
            return
        if current_revision(engine) != SCHEMA_HEAD:
            upgrade(engine)
        _checked.add(key)


def forget(engine_url: str | None = None) -> None:
    """Forget which databases were checked (after one was deleted)."""
    if engine_url is None:
        _checked.clear()
    else:
        _checked.discard(engine_url)
