"""The app in-process (Starlette's TestClient) on SQLite and PostgreSQL: key-set pages over NULLs."""

from __future__ import annotations

from typing import Any

import pytest


def _client() -> Any:
    from starlette.testclient import TestClient

    from lamin_flows.ui import create_app

    return TestClient(create_app())


def _all_pages(client: Any, **params: Any) -> list[dict[str, Any]]:
    rows, cursor = [], None
    while True:
        listing = client.get("/api/files", params={**params, **({"after": cursor} if cursor else {})}).json()
        rows += listing["files"]
        cursor = listing["next"]
        if cursor is None:
            return rows


@pytest.mark.parametrize("sort", ["size", "-size", "key", "-created_at"])
def test_pages_cover_every_file_once_with_empty_sizes(ln, sort: str) -> None:
    storage_id = ln.Storage.select().one().id
    sizes = [None, 5, 5, None, 1, 9, 5, None, 3, 9, None]
    ln.save(
        [
            ln.File(
                key=f"k/{i:02d}.txt",
                storage_id=storage_id,
                suffix=".txt",
                size=size,
                hash=f"h{i:021d}",
                hash_type="md5",
            )
            for i, size in enumerate(sizes)
        ]
    )
    expected = [f["id"] for f in _client().get("/api/files", params={"sort": sort, "limit": 500}).json()["files"]]
    assert len(expected) == len(sizes)
    rows = _all_pages(_client(), sort=sort, limit=2)
    assert [r["id"] for r in rows] == expected  # the same order in pages of 2 as in one page
    if sort.lstrip("-") == "size":
        known = [r["size"] for r in rows if r["size"] is not None]
        assert known == sorted(known, reverse=sort.startswith("-"))
        assert [r["size_human"] for r in rows if r["size"] is None] == ["?"] * 4


def test_pages_render_on_both_databases(ln) -> None:
    ln.Tag(name="t1").save()
    client = _client()
    for path in ("/files", "/runs", "/transforms", "/labels"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
    assert client.get("/files?q=nothing-matches").text.count("no files match") == 1


def test_a_prefect_flow_run_links_to_the_prefect_ui(ln, monkeypatch: pytest.MonkeyPatch) -> None:
    from lamin_flows.tracking.prefect_runs import REFERENCE_TYPE

    transform = ln.Transform(name="nightly", version="1", type="flow").save()
    run = ln.Run(transform=transform, status="completed", reference="0f1e2d3c", reference_type=REFERENCE_TYPE).save()
    plain = ln.Run(transform=transform, status="failed", error="boom").save()
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_UI_URL", "https://prefect.example.org/")
    client = _client()
    link = "https://prefect.example.org/runs/flow-run/0f1e2d3c"
    assert client.get(f"/api/runs/{run.id}").json()["run"]["prefect_url"] == link
    assert client.get(f"/api/runs/{plain.id}").json()["run"]["prefect_url"] is None
    assert f'href="{link}"' in client.get(f"/runs/{run.id}").text and f'href="{link}"' in client.get("/runs").text
    monkeypatch.delenv("PREFECT_UI_URL")
    assert client.get(f"/api/runs/{run.id}").json()["run"]["prefect_url"] is None  # nothing known: no link


def test_keys_and_descriptions_are_escaped_on_every_page(ln_sqlite) -> None:
    ln = ln_sqlite
    storage_id = ln.Storage.select().one().id
    file = ln.File(
        key="odd/<img src=x onerror=alert(1)>.txt",
        storage_id=storage_id,
        suffix=".txt",
        size=1,
        hash="h" * 22,
        hash_type="md5",
        description="<script>alert('x')</script>",
    ).save()
    client = _client()
    for path in ("/files", f"/files/{file.id}", f"/lineage/file/{file.id}"):
        text = client.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in text, path


def test_preview_and_download_from_a_bucket(s3_bucket: str, tmp_path) -> None:
    import pandas as pd

    import lamin_flows as ln

    ln.setup.init(storage=f"s3://{s3_bucket}/project")
    source = tmp_path / "table.csv"
    source.write_text("a,b\n1,2\n3,4\n")
    csv = ln.File(source, key="tables/table.csv").save()
    parquet = ln.File(pd.DataFrame({"x": [1, 2, 3]}), key="tables/x.parquet").save()
    client = _client()
    download = client.get(f"/files/{csv.id}/download")
    assert download.status_code == 200 and download.text == "a,b\n1,2\n3,4\n"
    assert client.get(f"/files/{csv.id}/preview").json()["rows"] == [["1", "2"], ["3", "4"]]
    assert client.get(f"/files/{parquet.id}/preview").json()["total_rows"] == 3
    detail = client.get(f"/api/files/{csv.id}").json()["file"]
    assert detail["path"] == f"s3://{s3_bucket}/project/tables/table.csv"
