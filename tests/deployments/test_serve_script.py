"""`deployments/serve.py` and `deployments/prefect.yaml` without a running server."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from deployments._processes import DEPLOYMENTS, child_env, free_port


@pytest.fixture(scope="module")
def serve() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lamin_serve_script", DEPLOYMENTS / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _serve(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOYMENTS / "serve.py"), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_without_a_server_it_says_what_to_run_and_exits(tmp_path: Path) -> None:
    out = _serve(["--interval", "5"], child_env(None, tmp_path / "prefect-home"))
    assert out.returncode == 2
    assert "prefect server start" in out.stderr and "export PREFECT_API_URL=http://127.0.0.1:4200/api" in out.stderr
    assert "Starting temporary server" not in out.stdout + out.stderr, "it must not fall back to a temporary server"


def test_with_an_unreachable_server_it_says_so_and_exits(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    out = _serve(["--interval", "5"], child_env(url, tmp_path / "prefect-home"))
    assert out.returncode == 2
    assert url in out.stderr and "prefect server start" in out.stderr


def test_params_are_json_if_they_parse(serve: ModuleType) -> None:
    args = serve.parse_args(
        ["--param", "landing=/data/in", "--param", "batch_size=100", "--param", "tag=null", "--instance", "prod"]
    )
    assert serve.parameter_overrides(args) == {
        "landing": "/data/in",
        "batch_size": 100,
        "tag": None,
        "instance": "prod",
    }
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        serve.parameter_overrides(serve.parse_args(["--param", "landing"]))


def test_the_served_deployments_are_those_of_prefect_yaml(serve: ModuleType) -> None:
    declared = yaml.safe_load((DEPLOYMENTS / "prefect.yaml").read_text())["deployments"]
    args = serve.parse_args([])
    built = [serve.to_deployment(entry, args, {}) for entry in serve.read_deployments(args.file, [])]
    assert [d.name for d in built] == [d["name"] for d in declared]
    assert {entry["entrypoint"] for entry in declared} == {
        "lamin_flows.tasks.flows.ingest_landing",  # scheduled
        "lamin_flows.tasks.new_files.process_new_files",  # triggered by lamin.file.saved events
    }
    for deployment, entry in zip(built, declared, strict=True):
        assert deployment.entrypoint == entry["entrypoint"]
        assert deployment.parameters == entry.get("parameters", {})
        assert deployment.tags == entry.get("tags", [])
        assert [s.schedule.cron for s in deployment.schedules] == [s["cron"] for s in entry.get("schedules") or []]
        assert entry["work_pool"]["name"] == "lamin-process"


def test_overrides_replace_schedule_and_parameters(serve: ModuleType) -> None:
    args = serve.parse_args(["--deployment", "nightly", "--interval", "5", "--param", "landing=/in", "--instance", "x"])
    (entry,) = serve.read_deployments(args.file, args.deployment)
    deployment = serve.to_deployment(entry, args, serve.parameter_overrides(args))
    assert deployment.name == "nightly"
    assert [s.schedule.interval.total_seconds() for s in deployment.schedules] == [5.0]
    assert deployment.parameters["landing"] == "/in" and deployment.parameters["instance"] == "x"
    assert deployment.parameters["tag"] == "nightly", "parameters not overridden keep their declared values"


def test_unknown_names_are_refused_with_the_known_ones(serve: ModuleType) -> None:
    args = serve.parse_args(["--deployment", "weekly"])
    with pytest.raises(SystemExit, match="nightly"):
        serve.read_deployments(args.file, args.deployment)
    (entry, *_) = serve.read_deployments(args.file, [])
    with pytest.raises(SystemExit, match="landing"):
        serve.to_deployment(entry, args, {"landng": "/typo"})


def test_the_installed_command_serves_the_packaged_prefect_yaml(tmp_path: Path) -> None:
    """`lamin deploy serve` is the same script from an installed package: the yaml ships inside it."""
    from lamin_flows.tasks import serve as packaged

    assert packaged.DEFAULT_FILE.is_file() and packaged.DEFAULT_FILE.parent.name == "tasks"
    assert (DEPLOYMENTS / "prefect.yaml").resolve() == packaged.DEFAULT_FILE.resolve()  # one file, not a copy
    out = subprocess.run(["lamin", "deploy", "serve", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("usage: lamin deploy serve") and "--deployment" in out.stdout
    out = subprocess.run(
        ["lamin", "deploy", "serve", "--interval", "5"],
        env=child_env(None, tmp_path / "ph"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "prefect server start" in out.stderr
