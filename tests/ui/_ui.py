"""Helpers of the lamin ui tests: a free port, `lamin ui` as a subprocess, screenshots."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).parent
REPO = HERE.parents[1]
LAMIN = str(Path(sys.executable).parent / "lamin")
CHROMIUM = "/usr/bin/chromium"
N_FILES = 10_000
ARTIFACTS = REPO / ".ci" / "artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_ui(home: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """``lamin ui --port <free> *args`` as a subprocess; returns it and its URL once it answers."""
    port = free_port()
    env = {**os.environ, "LAMIN_HOME": str(home)}
    proc = subprocess.Popen(
        [LAMIN, "ui", "--port", str(port), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"lamin ui exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/api/labels", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"lamin ui did not answer on {url} within 60 s")


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot under .ci/artifacts/ (gitignored; docs/ keeps the committed copies)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path
