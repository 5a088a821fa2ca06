"""`lamin ui` in headless Chromium: search, a File's page and versions, lineage, navigation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from _ui import screenshot  # tests/ui/_ui.py

pytestmark = pytest.mark.slow


def _node_ids(page: Any) -> set[str]:
    page.wait_for_selector("#lineage[data-ready='1']")
    return set(page.eval_on_selector_all("#lineage .node", "els => els.map(e => e.dataset.node)"))


def test_search_finds_a_file_and_a_click_opens_its_page(page: Any, ui_registry: dict[str, Any]) -> None:
    page.goto("/files")
    assert page.locator("h1 .count").inner_text() == f"{int(ui_registry['n_files']):,}"
    assert page.locator("#files tbody tr").count() == 50  # one page of 10,006
    screenshot(page, "ui-files.png")
    page.fill("input[name=q]", "summary")
    page.press("input[name=q]", "Enter")
    page.wait_for_url(re.compile(r"/files\?.*q=summary"))
    links = page.locator("#files a.file-link")
    assert links.all_inner_texts() == ["reports/summary.csv"]
    links.first.click()
    page.wait_for_url(f"**/files/{ui_registry['summary']}")
    assert page.locator("h1.file-title").inner_text().startswith("reports/summary.csv")
    assert "version 2" in page.locator("h1.file-title").inner_text()


def test_search_reaches_descriptions(page: Any, ui_registry: dict[str, Any]) -> None:
    page.goto("/files?q=lane+A")
    assert page.locator("#files a.file-link").all_inner_texts() == ["raw/a.csv"]


def test_the_versions_list_shows_both_versions_of_a_rewritten_key(page: Any, ui_registry: dict[str, Any]) -> None:
    page.goto(f"/files/{ui_registry['summary']}")
    rows = page.locator("#versions tbody tr")
    assert rows.count() == 2
    assert [t.split()[:2] for t in rows.all_inner_texts()] == [["version", "1"], ["version", "2"]]
    assert "latest" in rows.nth(1).inner_text() and "report" in rows.nth(0).inner_text()
    rows.nth(0).locator("a", has_text="version 1").click()
    page.wait_for_url(f"**/files/{ui_registry['summary_v1']}")
    assert "older version" in page.locator("h1.file-title").inner_text()


def test_the_lineage_graph_shows_runs_and_inputs_and_a_click_navigates(page: Any, ui_registry: dict[str, Any]) -> None:
    page.goto(f"/files/{ui_registry['summary']}")
    page.click("#lineage-link")
    page.wait_for_url(f"**/lineage/file/{ui_registry['summary']}")
    nodes = _node_ids(page)
    for file_key in ("summary", "clean", "raw_a"):
        assert f"file:{ui_registry[file_key]}" in nodes
    assert f"run:{ui_registry['clean_run']}" in nodes
    labels = page.locator("#lineage .node.run text.name").all_text_contents()
    assert sorted(labels) == ["clean", "ingest", "report"]
    root = page.locator("#lineage .node.root")
    assert "reports/summary.csv" in root.text_content() and "version 2" in root.text_content()
    screenshot(page, "ui-lineage.png")
    page.click(f"#lineage .node[data-node='run:{ui_registry['clean_run']}']")
    page.wait_for_url(f"**/runs/{ui_registry['clean_run']}")
    assert page.locator("#inputs a.file-link").all_inner_texts() == ["raw/a.csv", "raw/b.csv"]
    assert page.locator("#outputs a.file-link").all_inner_texts() == ["clean/ab.parquet"]
    assert '"min_reads": 5' in page.locator("table.meta").inner_text()


def test_labels_are_never_cut_and_the_graph_fits_the_window(page: Any, ui_registry: dict[str, Any]) -> None:
    page.goto(f"/lineage/file/{ui_registry['summary']}")
    _node_ids(page)
    overflow = page.eval_on_selector_all(
        "#lineage .node",
        """els => els.filter(a => { const r = a.querySelector('rect').getBBox();
             return [...a.querySelectorAll('text')].some(t => t.getBBox().x + t.getBBox().width > r.x + r.width); })
           .map(a => a.dataset.node)""",
    )
    assert overflow == []
    box = page.locator("#canvas").bounding_box()
    for node in page.locator("#lineage .node rect").all():
        b = node.bounding_box()
        assert box["x"] <= b["x"] and b["x"] + b["width"] <= box["x"] + box["width"] + 1


def test_zoom_and_pan_change_the_view(page: Any, ui_registry: dict[str, Any]) -> None:
    page.goto(f"/lineage/file/{ui_registry['summary']}")
    _node_ids(page)
    before = page.get_attribute("#lineage", "viewBox")
    page.click("#zoom-in")
    zoomed = page.get_attribute("#lineage", "viewBox")
    assert float(zoomed.split()[2]) < float(before.split()[2])
    canvas = page.locator("#canvas").bounding_box()
    page.mouse.move(canvas["x"] + 100, canvas["y"] + 100)
    page.mouse.down()
    page.mouse.move(canvas["x"] + 300, canvas["y"] + 150, steps=5)
    page.mouse.up()
    panned = page.get_attribute("#lineage", "viewBox")
    assert float(panned.split()[0]) < float(zoomed.split()[0])  # dragged right: the view moved left
    assert page.url.endswith(f"/lineage/file/{ui_registry['summary']}")  # a drag is not a click
    page.click("#fit")
    assert page.get_attribute("#lineage", "viewBox") != panned


def test_a_fan_in_of_300_files_is_one_node_that_expands(page: Any, ui_registry: dict[str, Any]) -> None:
    page.goto(f"/lineage/file/{ui_registry['stats']}")
    nodes = _node_ids(page)
    assert len(nodes) == 4  # bulk_register -> 300 files -> aggregate -> stats.csv
    group = page.locator("#lineage .node.group")
    assert group.locator("text.name").text_content() == "300 files"
    group.click()
    page.wait_for_url(re.compile(r"expand="))
    assert len(_node_ids(page)) == 303


def test_a_failed_run_shows_its_error(page: Any, ui_registry: dict[str, Any]) -> None:
    page.goto("/runs?status=failed")
    page.click("a.run-link")
    page.wait_for_url(f"**/runs/{ui_registry['failed_run']}")
    assert "the QC threshold file is missing" in page.locator("pre.error").inner_text()
    assert page.locator(".status-failed").first.inner_text() == "failed"


def test_previews_of_a_csv_and_an_image(page: Any, ui_registry: dict[str, Any]) -> None:
    page.goto(f"/files/{ui_registry['raw_a']}")
    page.wait_for_selector("#preview table")
    assert page.locator("#preview th").all_inner_texts() == ["sample", "reads"]
    assert page.locator("#preview tbody tr").count() == 3
    page.goto(f"/files/{ui_registry['plot']}")
    width = page.eval_on_selector("img.preview", "img => img.complete ? img.naturalWidth : -1")
    assert width == 2  # the 2x2 PNG, served by the download link


def test_the_files_pages_follow_on(page: Any) -> None:
    page.goto("/files?sort=key")
    first = page.locator("#files a.file-link").all_inner_texts()
    assert first == sorted(first) and len(first) == 50
    # A click on a link starts a navigation but does not wait for it: wait
    # for the new URL and its table before reading rows (else the old page,
    # or a page between two documents, is read).
    page.click("#next-page")
    page.wait_for_url(re.compile(r"after="))
    page.wait_for_selector("#files a.file-link")
    second = page.locator("#files a.file-link").all_inner_texts()
    assert second == sorted(second) and second[0] > first[-1]
    page.click("th a.sort:has-text('size')")  # descending first
    page.wait_for_url(re.compile(r"sort=-size"))
    page.wait_for_selector("#files td.num")
    sizes = page.locator("#files td.num").all()
    assert len(sizes) == 50 and page.locator("th a.active").inner_text().startswith("size")
