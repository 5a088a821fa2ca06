"""Shared fixtures: a private LAMIN_HOME per test, instances on SQLite and PostgreSQL.

PostgreSQL tests use the server on 127.0.0.1:5432 (trust auth): one database is created for
the test session and dropped at its end; each test starts from an empty schema.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from _pg import empty_pg_schema  # tests/_pg.py

PG_SERVER = os.environ.get("LAMIN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _reset_process_state() -> None:
    from lamin_flows.config import reset_settings
    from lamin_flows.registry import instance, storages
    from lamin_flows.registry.db import dispose_all
    from lamin_flows.registry.migrate import forget
    from lamin_flows.storage import clear_backend_cache

    instance.activate(None)
    dispose_all()
    forget()
    reset_settings()
    clear_backend_cache()
    storages._roots.clear()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``small_disk("size=2m")`` mounts a tmpfs with those options and returns its path
    (a real full disk for the fault tests; skipped where mounting needs root and we are not)."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        target = tmp_path / f"disk{len(mounted)}"
        target.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], check=False)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto S3 server over HTTP for the whole test session; yields its endpoint URL."""
    import _s3  # tests/_s3.py

    server, endpoint = _s3.start_moto_server()
    yield endpoint
    server.stop()


@pytest.fixture
def s3_endpoint(moto_server: str) -> Iterator[str]:
    """The moto endpoint, with AWS_ENDPOINT_URL and test credentials set for this test only."""
    import _s3

    with _s3.aws_test_env(moto_server):
        _s3.clear_s3fs_instances()
        yield moto_server
    _s3.clear_s3fs_instances()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket on the moto server."""
    import _s3

    return _s3.create_bucket(s3_endpoint)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """Prefect's temporary server for this session, with heartbeats and telemetry off (tests/_prefect.py)."""
    import _prefect

    _prefect.acquire()
    yield
    _prefect.release()


@pytest.fixture(autouse=True)
def lamin_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own LAMIN_HOME and no current instance."""
    home = tmp_path / "lamin-home"
    monkeypatch.setenv("LAMIN_HOME", str(home))
    monkeypatch.delenv("LAMIN_INSTANCE", raising=False)
    monkeypatch.delenv("LAMIN_VERBOSITY", raising=False)
    _reset_process_state()
    yield home
    _reset_process_state()


def _pg_available() -> bool:
    try:
        with sa.create_engine(f"{PG_SERVER}/postgres").connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure to connect means no server to test against
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database for this test session, dropped at the end."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_SERVER}")
        pytest.skip(f"PostgreSQL is not reachable at {PG_SERVER}")
    name = f"lamin_flows_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        from lamin_flows.registry.db import dispose_all

        dispose_all()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    empty_pg_schema(pg_url)
    return pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """None (SQLite) or an empty PostgreSQL database: run a test on both registries."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg_db")


@pytest.fixture
def ln(tmp_path: Path, db_url: str | None):  # noqa: ANN201
    """``lamin_flows`` with a fresh instance (storage ``tmp_path/data``), on SQLite and PostgreSQL."""
    import lamin_flows

    lamin_flows.setup.init(storage=tmp_path / "data", db=db_url, name="test")
    return lamin_flows


@pytest.fixture
def ln_sqlite(tmp_path: Path):  # noqa: ANN201
    """``lamin_flows`` with a fresh SQLite instance (storage ``tmp_path/data``)."""
    import lamin_flows

    lamin_flows.setup.init(storage=tmp_path / "data", name="test")
    return lamin_flows
