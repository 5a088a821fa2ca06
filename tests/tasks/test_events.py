"""Prefect events of saved Files: off without a Prefect API, off when told, harmless when the server is down.

Each case runs in a fresh interpreter: whether Prefect is imported, and what its settings say,
is decided per process. Delivery to a real server is tested in tests/deployments/test_data_triggers.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

SAVE_THREE = """
import sys, time
import lamin_flows as ln
ln.setup.init(storage=sys.argv[1] + "/data")
for i in range(3):
    path = f"{sys.argv[1]}/f{i}.txt"
    open(path, "w").write(str(i))
    ln.File(path, key=f"raw/f{i}.txt").save()
from lamin_flows.tracking import events
assert events.flush(60)
print("saved", ln.File.select(key__startswith="raw/").count())
print("prefect imported", "prefect" in sys.modules)
print("stats", events.stats)
"""


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LAMIN_PREFECT"))}
    base.update(
        LAMIN_HOME=str(tmp_path / "home"),
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SAVE_THREE), str(tmp_path)],
        env=base,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when this returns: nothing listens there


def test_without_a_prefect_api_a_save_imports_no_prefect_and_queues_nothing(tmp_path: Path) -> None:
    out = _run(tmp_path)
    assert out.returncode == 0, out.stderr
    assert "saved 3" in out.stdout and "prefect imported False" in out.stdout
    assert "'queued': 0" in out.stdout


def test_lamin_prefect_events_false_turns_them_off_even_with_an_api(tmp_path: Path) -> None:
    out = _run(tmp_path, PREFECT_API_URL=f"http://127.0.0.1:{_dead_port()}/api", LAMIN_PREFECT_EVENTS="false")
    assert out.returncode == 0, out.stderr
    assert "saved 3" in out.stdout and "prefect imported False" in out.stdout and "'queued': 0" in out.stdout
    assert "could not send" not in out.stderr


def test_an_unreachable_server_never_fails_a_save_and_warns_once(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_dead_port()}/api"
    out = _run(tmp_path, PREFECT_API_URL=url)
    assert out.returncode == 0, out.stderr
    assert "saved 3" in out.stdout and "'queued': 3" in out.stdout and "'sent': 0" in out.stdout
    assert out.stderr.count("could not send lamin_flows events") == 1, out.stderr
    assert url in out.stderr and "LAMIN_PREFECT_EVENTS=false" in out.stderr


def test_the_version_label_is_there_only_when_the_file_has_a_version() -> None:
    from lamin_flows.tasks.events import file_event_fields

    context = {"roots": {"S1": "/data"}, "instance": "inst", "flow_run_id": None}
    row = ("F1", "raw/a.csv", ".csv", 12, "h", "S1", "R1", "T1", "a.csv", None)
    fields = file_event_fields(row, context)
    assert "lamin.file.version" not in fields["resource"]
    assert fields["resource"]["lamin.storage.root"] == "/data" and fields["resource"]["lamin.file.size"] == "12"
    assert [r["prefect.resource.role"] for r in fields["related"]] == ["run", "transform"]  # no flow run
    versioned = file_event_fields((*row[:-1], 3), context)
    assert versioned["resource"]["lamin.file.version"] == "3"
