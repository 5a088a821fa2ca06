"""Fixtures of the security tests."""

from __future__ import annotations


import pytest


@pytest.fixture(scope="session")
def moto(moto_server: str) -> str:
    """The session's moto S3 server (tests/conftest.py); its endpoint URL."""
    return moto_server
