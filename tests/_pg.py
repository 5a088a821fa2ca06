"""PostgreSQL helpers of the tests (importable by name from any test folder, unlike ``conftest``:
a folder with its own conftest.py, such as tests/ui, shadows the top-level one)."""

from __future__ import annotations

import sqlalchemy as sa


def empty_pg_schema(url: str) -> None:
    """Drop every table of a test database.

    Connections another test left open (a killed child, an abandoned transaction) would block
    DROP SCHEMA forever, so they are terminated first and the drop waits at most 30 s.
    """
    from lamin_flows.registry.db import dispose_all

    dispose_all()
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        conn.execute(sa.text("SET lock_timeout = '30s'"))
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
