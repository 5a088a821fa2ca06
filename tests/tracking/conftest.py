"""Fixtures: the Prefect test server shared by the whole session (see tests/_prefect.py)."""

from __future__ import annotations

from collections.abc import Iterator

import _prefect  # tests/_prefect.py; tests/ is on sys.path (rootdir conftest, no __init__.py)
import pytest


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """Prefect's temporary server for this session, with heartbeats and telemetry off."""
    _prefect.acquire()
    yield
    _prefect.release()
