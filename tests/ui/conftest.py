"""One registry (a tracked pipeline and 10,000 Files), one `lamin ui` server and one headless
Chromium for all the UI tests: built once per session, only when tests/ui runs.

The browser is Debian's chromium (``/usr/bin/chromium``; ``.ci/run`` installs it). Without it
the browser tests fail under CI (``CI`` set) and are skipped elsewhere, saying why.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

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
    proc = subprocess.Popen([LAMIN, "ui", "--port", str(port), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
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


@pytest.fixture(scope="session")
def ui_registry(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The registry: LAMIN_HOME, and the ids of the records the tests look for."""
    root = tmp_path_factory.mktemp("ui")
    home = root / "home"
    env = {**os.environ, "LAMIN_HOME": str(home)}
    done = subprocess.run([sys.executable, str(HERE / "registry.py"), str(root / "data"), str(N_FILES)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    return {"home": home, **ids}


@pytest.fixture(scope="session")
def ui_url(ui_registry: dict[str, Any]) -> Iterator[str]:
    """The base URL of a `lamin ui` server on a free port, over the registry."""
    proc, url = start_ui(ui_registry["home"])
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's) driven by Playwright."""
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, ui_url: str) -> Iterator[Any]:
    """A fresh page (1400 x 860) whose relative URLs go to the server."""
    context = browser.new_context(base_url=ui_url, viewport={"width": 1400, "height": 860})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot under .ci/artifacts/ (gitignored; docs/ keeps the committed copies)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path
