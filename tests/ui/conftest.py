"""One registry (a tracked pipeline and 10,000 Files), one `lamin ui` server and one headless
Chromium for all the UI tests: built once per session, only when tests/ui runs.

The browser is Debian's chromium (``/usr/bin/chromium``; ``.ci/run`` installs it). Without it
the browser tests fail under CI (``CI`` set) and are skipped elsewhere, saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from _ui import CHROMIUM, HERE, N_FILES, start_ui  # tests/ui/_ui.py


@pytest.fixture(scope="session")
def ui_registry(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The registry: LAMIN_HOME, and the ids of the records the tests look for."""
    root = tmp_path_factory.mktemp("ui")
    home = root / "home"
    env = {**os.environ, "LAMIN_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, str(HERE / "registry.py"), str(root / "data"), str(N_FILES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's) driven by Playwright: per module, since Playwright's sync API keeps an
    event loop running in this thread while it is open (asyncio.run() in later tests would fail)."""
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
