"""Fixtures of the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.helpers import make_source


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 small files in 20 folders, outside every storage; made once, read by every kill test."""
    return make_source(tmp_path_factory.mktemp("reliability") / "source")
