"""Fixtures of the deployment tests: one real Prefect server for the session.

The server is `prefect server start` on a free port of 127.0.0.1 with its own PREFECT_HOME
(SQLite), started on first use and stopped at the end of the session, also when tests fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deployments._processes import PrefectServer, api, drain_prefect_workers, prefect_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A Prefect server for the whole session (it takes 10-20 s to start)."""
    with prefect_server(tmp_path_factory.mktemp("prefect-server")) as running:
        yield running


@pytest.fixture
def prefect_api(server: PrefectServer) -> Iterator[str]:
    """Prefect in this process talks to the session's server; yields its API URL."""
    with api(server.url):
        try:
            yield server.url
        finally:
            drain_prefect_workers()
