"""``lamin verify`` with one unreadable subfolder: that folder is reported, the rest is checked.

Root reads every folder, so the check runs in a child process that drops to user ``nobody``
after setting up (imports and the instance as root; the instance's files then handed to nobody,
except one folder, which stays root's with mode 0700).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import lamin_flows as ln
    from lamin_flows.verify import verify

    shared = Path(sys.argv[1])
    source = shared / "src"
    for folder in ("open", "secret"):
        (source / folder).mkdir(parents=True)
        for i in range(3):
            (source / folder / f"{i}.txt").write_text(f"{folder} {i}")
    ln.setup.init(storage=shared / "data", name="perm")
    ln.save(ln.File.from_dir(source, key="run"))
    (shared / "data" / "run" / "open" / "0.txt").write_text("changed behind the record")
    for dirpath, dirnames, filenames in os.walk(shared):
        for name in dirnames + filenames + ["."]:
            os.chown(os.path.join(dirpath, name), 65534, 65534)
    os.chown(shared / "data" / "run" / "secret", 0, 0)
    os.chmod(shared / "data" / "run" / "secret", 0o700)
    os.setgid(65534); os.setuid(65534)
    report = verify(min_age=0)
    print(json.dumps({"findings": [[f.kind, f.key, f.detail] for f in report.findings], "records": report.records}))
    """
)


@pytest.fixture
def shared() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="lamin-verify-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_an_unreadable_folder_is_reported_and_the_rest_is_checked(shared: Path) -> None:
    import json

    if os.geteuid() != 0:
        pytest.skip("needs root, to run the check as another user")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMIN_")} | {"LAMIN_HOME": str(shared / "home")}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(shared)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    kinds = {(kind, key) for kind, key, _ in result["findings"]}
    # the unreadable folder, by name, not the whole storage; its records are not called "missing"
    assert ("unreachable", "run/secret") in kinds, result
    assert not any(kind == "unreachable" and key is None for kind, key in kinds), result
    assert not any(kind == "missing" for kind, _ in kinds), result
    detail = next(d for kind, key, d in result["findings"] if key == "run/secret")
    assert "cannot be read" in detail and "3 records" in detail
    # the readable rest was checked: the changed file is found
    assert ("corrupt", "run/open/0.txt") in kinds, result
