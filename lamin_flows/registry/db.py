"""Engines, connections and transactions: the one place that talks to the database.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that concurrent writers queue for the write lock instead of failing
half-way with "database is locked" (WAL and a timeout alone are not enough: a deferred
transaction that upgrades from read to write cannot wait). PostgreSQL uses psycopg 3.

Records are written with SQLAlchemy Core (batched ``executemany``) and read into plain rows;
we do not keep ORM sessions, so a record never becomes "detached".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lamin_flows import _logging

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """Pick our drivers: ``postgresql://`` becomes ``postgresql+psycopg://``.

    Example:
        >>> normalize_url("postgresql://localhost/db")
        'postgresql+psycopg://localhost/db'
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages and reprs."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - any unparsable URL: never echo it, it may hold a password
        return "<database url>"


def _busy_timeout_s() -> float:
    from lamin_flows.config import get_settings

    return get_settings().sqlite_busy_timeout


def _setup_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module, so BEGIN is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA case_sensitive_like=ON")  # LIKE "prefix%" is case-sensitive and uses the key index
        cur.execute(f"PRAGMA busy_timeout={int(_busy_timeout_s() * 1000)}")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("lamin_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def get_engine(url: str) -> Engine:
    """Return the (cached) engine for a database URL."""
    url = normalize_url(url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = sa.create_engine(url, connect_args={"timeout": _busy_timeout_s(), "check_same_thread": False})
                _setup_sqlite(engine)
            else:
                engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
            _engines[url] = engine
        return engine


def dispose_engine(url: str) -> None:
    """Close every pooled connection of an engine (before deleting its database)."""
    with _lock:
        engine = _engines.pop(normalize_url(url), None)
    if engine is not None:
        engine.dispose()


def dispose_all() -> None:
    """Close every engine (after a fork, a test, or switching instance)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: commits at the end, rolls back on error.

    On SQLite it holds the database write lock from its first statement (``BEGIN IMMEDIATE``).
    """
    try:
        with engine.connect().execution_options(lamin_write=True) as conn:
            with conn.begin():
                yield conn
    except sa.exc.OperationalError as exc:
        if not _is_lock_timeout(exc):
            raise
        from lamin_flows.errors import RegistryBusyError

        waited = f" {_busy_timeout_s():g} s" if engine.dialect.name == "sqlite" else ""
        raise RegistryBusyError(
            f"the registry {redact(str(engine.url))} is being written by another process: this write waited{waited}"
            " for that writer's lock and gave up; nothing was written. Run it again when the other writer (a large"
            " save, `lamin verify --fix`, ...) has finished."
        ) from exc


def _is_lock_timeout(exc: sa.exc.OperationalError) -> bool:
    """SQLite's busy timeout ran out, or PostgreSQL's lock_timeout (SQLSTATE 55P03)."""
    if getattr(exc.orig, "sqlstate", None) == "55P03":
        return True
    return "database is locked" in str(exc.orig)


def refresh_statistics(engine: Engine, table: str) -> None:
    """On SQLite, a sampled ANALYZE of ``table`` (about 1 ms at any size), so the query planner knows
    what its indexes select: without statistics it does not use the index of latest versions
    (migration 0005). Called after bulk saves; a failure only costs speed, so it is logged, not raised."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with write(engine) as conn:
            conn.exec_driver_sql("PRAGMA analysis_limit=400")
            conn.exec_driver_sql(f'ANALYZE "{table}"')
    except Exception as error:  # noqa: BLE001 (statistics only guide the planner)
        _logging.debug(f"could not refresh the registry's statistics of {table!r}: {error}")


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only connection (a deferred transaction that is rolled back)."""
    with engine.connect() as conn:
        yield conn


# ---- key locks ---------------------------------------------------------------------------
def lock_name(storage_id: str, storage_key: str) -> str:
    """The advisory-lock name of one key of one storage (shared by saves and ``lamin verify``)."""
    return f"{storage_id}:{storage_key}"


# Names map onto a fixed number of lock slots (in lamin_flows' own advisory-lock class). One lock
# per name ran PostgreSQL out of lock-table memory ("out of shared memory", the default table has
# room for ~6,400 locks per server) as soon as one save held a few thousand new Files; with slots a
# save holds at most LOCK_SLOTS locks. Two writers whose names share a slot merely take turns.
LOCK_CLASS = 0x4C46  # "LF"
LOCK_SLOTS = 256


def lock_names(conn: Any, names: list[str]) -> None:
    """Take PostgreSQL transaction-level advisory locks on ``names``, all at once and in a fixed order."""
    if conn.dialect.name != "postgresql" or not names:
        return
    keys = sorted(set(names))
    conn.execute(
        sa.text(
            "SELECT pg_advisory_xact_lock(:cls, slot) FROM"
            " (SELECT DISTINCT hashtext(k) & :mask AS slot FROM unnest(CAST(:keys AS text[])) AS k ORDER BY 1) AS s"
        ),
        {"keys": keys, "cls": LOCK_CLASS, "mask": LOCK_SLOTS - 1},
    )
