"""The JSON API of `lamin ui` over HTTP (httpx against the real server and registry file)."""

from __future__ import annotations

import subprocess
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from _ui import start_ui  # tests/ui/_ui.py


def get(url: str, path: str, **params: Any) -> Any:
    response = httpx.get(url + path, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_files_pages_by_key_set_cover_every_file_once(ui_url: str, ui_registry: dict[str, Any]) -> None:
    seen: list[str] = []
    created: list[str] = []
    cursor = None
    while True:
        params = {"limit": 500, **({"after": cursor} if cursor else {})}
        listing = get(ui_url, "/api/files", **params)
        seen += [f["id"] for f in listing["files"]]
        created += [f["created_at"] for f in listing["files"]]
        cursor = listing["next"]
        if cursor is None:
            break
    assert listing["total"] == int(ui_registry["n_files"]) == len(seen) == len(set(seen))
    assert created == sorted(created, reverse=True)  # newest first by default


@pytest.mark.parametrize("sort", ["key", "-key", "size", "-size", "suffix", "version", "created_at"])
def test_every_sort_pages_in_order(ui_url: str, sort: str) -> None:
    name = sort.lstrip("-")
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(4):  # 4 pages of 7 rows of the Files under bulk/part_01/ (1,000)
        params = {"sort": sort, "limit": 7, "q": "part_01/", **({"after": cursor} if cursor else {})}
        listing = get(ui_url, "/api/files", **params)
        rows += listing["files"]
        cursor = listing["next"]
    keys = [(r[name], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=sort.startswith("-")) and len(set(keys)) == 28


def test_filters(ui_url: str, ui_registry: dict[str, Any]) -> None:
    def keys(**params: Any) -> list[str]:
        return sorted(f["key"] for f in get(ui_url, "/api/files", limit=500, **params)["files"])

    assert keys(tag="nightly") == keys(project="Atlas") == ["raw/a.csv", "raw/b.csv"]
    assert keys(suffix=".csv") == ["aggregate/stats.csv", "raw/a.csv", "raw/b.csv", "reports/summary.csv"]
    assert keys(transform="ingest") == ["raw/a.csv", "raw/b.csv", "raw/plot.png"]
    assert keys(run=ui_registry["clean_run"]) == ["clean/ab.parquet"]
    assert keys(q="LANE a") == ["raw/a.csv"]  # the description, case-insensitive
    storage = get(ui_url, "/api/files", limit=1)["files"]
    today = date.today()
    assert get(ui_url, "/api/files", since=(today + timedelta(days=2)).isoformat())["total"] == 0
    assert get(ui_url, "/api/files", until=(today + timedelta(days=1)).isoformat())["total"] == int(
        ui_registry["n_files"]
    )
    assert storage and get(ui_url, "/api/files", tag="nightly", suffix=".png")["total"] == 0


def test_a_file_with_its_versions_runs_and_labels(ui_url: str, ui_registry: dict[str, Any]) -> None:
    detail = get(ui_url, f"/api/files/{ui_registry['summary']}")
    assert detail["file"]["key"] == "reports/summary.csv" and detail["file"]["version"] == "2"
    assert [v["version"] for v in detail["versions"]] == ["1", "2"]
    assert [v["id"] for v in detail["versions"]] == [ui_registry["summary_v1"], ui_registry["summary"]]
    assert all(v["run"]["transform"] == "report" for v in detail["versions"])
    assert detail["versions"][0]["run"]["id"] != detail["versions"][1]["run"]["id"]
    assert detail["file"]["path"].endswith("reports/summary.csv") and detail["file"]["hash_type"] == "md5"
    raw = get(ui_url, f"/api/files/{ui_registry['raw_a']}")
    assert raw["tags"] == ["nightly"] and raw["projects"] == ["Atlas"]
    assert sorted(r["transform"] for r in raw["read_by"]) == ["clean"]


def test_download_and_preview(ui_url: str, ui_registry: dict[str, Any]) -> None:
    response = httpx.get(f"{ui_url}/files/{ui_registry['raw_a']}/download")
    assert response.status_code == 200 and response.text == "sample,reads\ns1,10\ns2,20\ns3,30\n"
    assert 'filename="a.csv"' in response.headers["content-disposition"]
    parquet = get(ui_url, f"/files/{ui_registry['clean']}/preview")
    assert parquet["columns"][:2] == ["sample", "reads"] and parquet["total_rows"] == 4
    assert [row[0] for row in parquet["rows"]] == ["s1", "s2", "s3", "s4"]


def test_runs_and_a_run(ui_url: str, ui_registry: dict[str, Any]) -> None:
    runs = get(ui_url, "/api/runs")
    assert runs["total"] == 7
    assert sorted(r["transform"] for r in runs["runs"]) == sorted(
        ["ingest", "clean", "report", "report", "bulk_register", "aggregate", "broken"]
    )
    failed = get(ui_url, "/api/runs", status="failed")["runs"]
    assert [r["id"] for r in failed] == [ui_registry["failed_run"]] and "QC threshold" in failed[0]["error"]
    run = get(ui_url, f"/api/runs/{ui_registry['clean_run']}")
    assert run["run"]["params"] == {"min_reads": 5} and run["run"]["status"] == "completed"
    assert [f["key"] for f in run["inputs"]] == ["raw/a.csv", "raw/b.csv"] and run["n_inputs"] == 2
    assert [f["key"] for f in run["outputs"]] == ["clean/ab.parquet"]
    assert run["run"]["duration_s"] >= 0 and run["run"]["prefect_url"] is None  # not a Prefect flow run
    bulk = next(r for r in runs["runs"] if r["transform"] == "bulk_register")
    many = get(ui_url, f"/api/runs/{bulk['id']}")
    assert many["n_outputs"] == 10_000 and len(many["outputs"]) == 200  # the first 200, with the count


def test_transforms_and_labels(ui_url: str) -> None:
    transforms = get(ui_url, "/api/transforms")["transforms"]
    assert {t["name"]: t["runs"] for t in transforms}["report"] == 2
    one = get(ui_url, f"/api/transforms/{transforms[0]['id']}")
    assert one["n_runs"] == transforms[0]["runs"] and one["versions"]
    labels = get(ui_url, "/api/labels")
    assert labels["tags"] == [{"id": labels["tags"][0]["id"], "name": "nightly", "files": 2}]
    assert [(p["name"], p["files"]) for p in labels["projects"]] == [("Atlas", 2)]


def test_lineage_layout_points_right_without_overlaps_or_crossings(ui_url: str, ui_registry: dict[str, Any]) -> None:
    graph = get(ui_url, f"/api/lineage/file/{ui_registry['summary']}")
    nodes = {n["node"]: n for n in graph["nodes"]}
    assert graph["n_files"] == 4 and graph["n_runs"] == 3 and len(graph["edges"]) == 7
    for edge in graph["edges"]:
        source, target = nodes[edge["source"]], nodes[edge["target"]]
        assert source["x"] + source["width"] < target["x"], edge
    boxes = sorted(nodes.values(), key=lambda n: (n["x"], n["y"]))
    for a in boxes:
        for b in boxes:
            if a is not b and a["x"] == b["x"]:
                assert abs(a["y"] - b["y"]) >= a["height"], (a, b)
    segments = [(nodes[e["source"]], nodes[e["target"]]) for e in graph["edges"]]
    for s1, t1 in segments:  # between two neighbouring layers, edges cross iff their ends swap order
        for s2, t2 in segments:
            if s1["x"] == s2["x"] and t1["x"] == t2["x"]:
                assert (s1["y"] - s2["y"]) * (t1["y"] - t2["y"]) >= 0, (
                    s1["label"],
                    t1["label"],
                    s2["label"],
                    t2["label"],
                )


def test_lineage_of_a_run_downstream_and_expanded(ui_url: str, ui_registry: dict[str, Any]) -> None:
    run = get(ui_url, f"/api/lineage/run/{ui_registry['clean_run']}")
    labels = sorted(n["label"] for n in run["nodes"])
    assert labels == ["clean", "clean/ab.parquet", "ingest", "raw/a.csv", "raw/b.csv"]
    down = get(ui_url, f"/api/lineage/file/{ui_registry['raw_a']}", downstream=1)
    assert {"clean", "report", "reports/summary.csv", "clean/ab.parquet"} <= {n["label"] for n in down["nodes"]}
    assert "broken" not in {n["label"] for n in down["nodes"]}  # broken read raw/b.csv only
    fan = get(ui_url, f"/api/lineage/file/{ui_registry['stats']}")
    group = next(n for n in fan["nodes"] if n["kind"] == "group")
    assert len(group["members"]) == 300 and len(fan["nodes"]) == 4
    expanded = get(ui_url, f"/api/lineage/file/{ui_registry['stats']}", expand=group["expand"])
    assert len(expanded["nodes"]) == 303 and len(expanded["edges"]) == 601


def test_errors_say_what_to_fix(ui_url: str) -> None:
    response = httpx.get(f"{ui_url}/api/files", params={"sort": "hash"})
    assert response.status_code == 400 and "sort by one of" in response.json()["error"]
    response = httpx.get(f"{ui_url}/api/files", params={"after": "garbage"})
    assert response.status_code == 400 and "first page" in response.json()["error"]
    response = httpx.get(f"{ui_url}/api/files", params={"since": "yesterday"})
    assert response.status_code == 400 and "2026-11-26" in response.json()["error"]
    response = httpx.get(f"{ui_url}/api/files/nope")
    assert response.status_code == 404 and "'nope'" in response.json()["error"]
    page = httpx.get(f"{ui_url}/runs/nope")
    assert page.status_code == 404 and "no Run with id" in page.text
    assert httpx.post(f"{ui_url}/api/files").status_code == 405  # read-only


def test_server_time_is_reported(ui_url: str) -> None:
    response = httpx.get(f"{ui_url}/files")
    assert response.status_code == 200 and response.headers["server-timing"].startswith("app;dur=")


def test_binding_beyond_loopback_warns_that_there_is_no_authentication(ui_registry: dict[str, Any]) -> None:
    proc, _ = start_ui(ui_registry["home"], "--host", "0.0.0.0")
    proc.terminate()
    _, err = proc.communicate(timeout=20)
    assert "no authentication" in err and "0.0.0.0" in err


def test_without_an_instance_the_command_says_how_to_make_one(tmp_path) -> None:
    from _cli import run_cli

    done = run_cli("ui", "--port", "1", home=tmp_path / "empty-home")
    assert done.returncode == 1 and "error:" in done.stderr and "lamin init" in done.stderr


def test_prefect_ui_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from lamin_flows.config import prefect_ui_url

    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api/")
    assert prefect_ui_url() == "http://127.0.0.1:4200"
    monkeypatch.setenv("PREFECT_UI_URL", "https://prefect.example.org/")
    assert prefect_ui_url() == "https://prefect.example.org"
    monkeypatch.delenv("PREFECT_UI_URL")
    monkeypatch.delenv("PREFECT_API_URL")
    assert prefect_ui_url() is None


def test_importing_lamin_flows_does_not_import_the_app() -> None:
    import sys

    code = "import sys, lamin_flows; print([m for m in ('lamin_flows.ui', 'starlette', 'uvicorn') if m in sys.modules])"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )
