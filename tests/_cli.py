"""The ``lamin`` command of this environment, run as a user would (tests/ is on sys.path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LAMIN = str(Path(sys.executable).parent / "lamin")


def run_cli(*args: str, home: Path | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``lamin *args`` with this process's environment (``LAMIN_HOME`` set to ``home`` if given),
    wide output and no terminal on stdin (so nothing prompts)."""
    env = {**os.environ, "COLUMNS": "200"}
    if home is not None:
        env["LAMIN_HOME"] = str(home)
    return subprocess.run([LAMIN, *args], capture_output=True, text=True, env=env, cwd=cwd, stdin=subprocess.DEVNULL)
