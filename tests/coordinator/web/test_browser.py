"""The catalog in a real browser: Debian's Chromium, headless, driven by Playwright.

Playwright is only the driver here (no browser download): it launches /usr/bin/chromium
(installed by `scripts/install.sh --dev`) against a real coordinator on 127.0.0.1.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import WebCatalog, agreements_required

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, web_sqlite: WebCatalog) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
    assert errors == [], f"browser errors: {errors}"


def row_titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#artifacts a.artifact-link").all_inner_texts()]


def test_catalog_loads_with_every_artifact(page: Any, web_sqlite: WebCatalog) -> None:
    response = page.goto(web_sqlite.url + "/")
    assert response.ok and page.url == web_sqlite.url + "/catalog"
    assert page.title() == "Catalog · synthspace"
    assert sorted(row_titles(page)) == sorted(a.title for a in web_sqlite.artifacts.values())
    # The stylesheet applied: the nav bar is dark.
    bg = page.evaluate("getComputedStyle(document.querySelector('header.top')).backgroundColor")
    assert bg == "rgb(15, 23, 42)"


def test_search_box_finds_by_free_text(page: Any, web_sqlite: WebCatalog) -> None:
    page.goto(web_sqlite.url + "/catalog")
    page.fill("#q", "clause")
    page.click("#search-button")
    page.wait_for_url("**/catalog?q=clause*")
    assert sorted(row_titles(page)) == ["Contract clause QA", "Filtered clause QA"]
    assert page.input_value("#q") == "clause"
    page.fill("#q", "no such words anywhere")
    page.press("#q", "Enter")
    page.wait_for_selector("#no-results")
    assert row_titles(page) == []
    page.click("#clear-filters")
    page.wait_for_url(web_sqlite.url + "/catalog")
    assert len(row_titles(page)) == 5


def test_filters_narrow_the_list(page: Any, web_sqlite: WebCatalog) -> None:
    page.goto(web_sqlite.url + "/catalog")
    page.select_option("#filter-org", "kobe-health")
    page.click("#search-button")
    page.wait_for_url("**org=kobe-health*")
    assert sorted(row_titles(page)) == ["Clinic triage dialogues", "Withdrawn intake notes"]
    page.select_option("#filter-status", "active")
    page.click("#search-button")
    page.wait_for_url("**status=active*")
    assert row_titles(page) == ["Clinic triage dialogues"]
    assert page.eval_on_selector("#filter-org", "el => el.value") == "kobe-health"

    page.goto(web_sqlite.url + "/catalog")
    page.select_option("#filter-kind", "model-adapter")
    page.click("#search-button")
    page.wait_for_url("**kind=model-adapter*")
    assert row_titles(page) == ["Federated legal+triage LoRA"]

    page.goto(web_sqlite.url + "/catalog")
    page.click("a.tag:text-is('qa')")
    page.wait_for_url("**tag=qa*")
    assert row_titles(page) == ["Contract clause QA"]


def test_links_lead_to_the_right_artifact(page: Any, web_sqlite: WebCatalog) -> None:
    for label in ("triage", "adapter", "filtered"):
        art = web_sqlite.artifacts[label]
        page.goto(web_sqlite.url + "/catalog")
        page.click(f"a.artifact-link:text-is('{art.title}')")
        page.wait_for_url(f"**/catalog/artifacts/{art.artifact_id}")
        assert page.inner_text("#artifact-id") == art.artifact_id
        assert page.inner_text("#artifact-title").startswith(art.title)
        assert page.inner_text("#verification-verdict") == "All checks pass"


def test_lineage_picture_links_to_the_parent(page: Any, web_sqlite: WebCatalog) -> None:
    filtered, clause = web_sqlite.artifacts["filtered"], web_sqlite.artifacts["clause-qa"]
    page.goto(f"{web_sqlite.url}/catalog/artifacts/{filtered.artifact_id}")
    svg = page.locator("#lineage svg.lineage")
    assert svg.is_visible()
    box = svg.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 50, "the picture is drawn, not empty"
    focus = page.locator(f'#lineage g.node.focus[data-artifact-id="{filtered.artifact_id}"]')
    assert focus.count() == 1
    parent = page.locator(f'#lineage a[href="/catalog/artifacts/{clause.artifact_id}"]')
    assert parent.count() == 1
    # Clicking the parent's box in the picture opens the parent.
    page.locator(f'#lineage g.node[data-artifact-id="{clause.artifact_id}"] rect').click()
    page.wait_for_url(f"**/catalog/artifacts/{clause.artifact_id}")
    assert page.inner_text("#artifact-id") == clause.artifact_id
    # From the parent, the picture shows both children, including the model trained on it.
    for child in ("filtered", "adapter"):
        aid = web_sqlite.artifacts[child].artifact_id
        assert page.locator(f'#lineage a[href="/catalog/artifacts/{aid}"]').count() == 1


def test_retracted_artifacts_are_marked(page: Any, web_sqlite: WebCatalog) -> None:
    gone = web_sqlite.artifacts["withdrawn"]
    page.goto(web_sqlite.url + "/catalog")
    row = page.locator(f'tr.artifact-row[data-artifact-id="{gone.artifact_id}"]')
    assert "retracted" in (row.get_attribute("class") or "")
    assert row.locator(".badge-retracted").inner_text() == "retracted"
    decoration = row.locator("a.artifact-link").evaluate("el => getComputedStyle(el).textDecorationLine")
    assert decoration == "line-through"
    row.locator("a.artifact-link").click()
    page.wait_for_url(f"**/{gone.artifact_id}")
    banner = page.locator("#retracted-banner")
    assert banner.is_visible() and "contains a template bug" in banner.inner_text()


def test_rows_are_withheld_by_default_schema_shown(page: Any, web_sqlite: WebCatalog) -> None:
    clause = web_sqlite.artifacts["clause-qa"]
    page.goto(f"{web_sqlite.url}/catalog/artifacts/{clause.artifact_id}")
    assert page.title() == "Contract clause QA · synthspace"
    assert page.locator("#preview").count() == 0
    note = page.locator("#rows-withheld")
    assert note.is_visible() and "under a signed agreement" in note.inner_text()
    assert page.locator("#schema tbody tr").count() == 4
    assert page.locator("#gates tr.gate").count() == 3


def test_data_preview_shows_script_as_text(page: Any, web_sqlite: WebCatalog) -> None:
    clause = web_sqlite.artifacts["clause-qa"]
    with agreements_required(web_sqlite, False):
        page.goto(f"{web_sqlite.url}/catalog/artifacts/{clause.artifact_id}")
        assert page.title() == "Contract clause QA · synthspace", "the script in the data did not run"
        cells = page.locator("#preview tbody tr").first.locator("td").all_inner_texts()
        assert "<script>document.title='pwned'</script>" in cells
        assert page.locator("#preview tbody tr").count() == 10
        assert page.locator("#rows-withheld").count() == 0


def test_log_and_federated_pages(page: Any, web_sqlite: WebCatalog) -> None:
    page.goto(web_sqlite.url + "/catalog")
    page.click("nav a:text-is('Transparency log')")
    page.wait_for_url("**/catalog/log")
    assert page.inner_text("#tree-size") == "14"
    assert page.locator("#heads tr.head").count() == 14
    assert page.locator("#heads td.result.pass").count() == 14
    page.click("nav a:text-is('Federated runs')")
    page.wait_for_url("**/catalog/federated")
    charts = page.locator("svg.chart")
    assert charts.count() == 2 and charts.first.is_visible()
    assert page.locator("svg.chart polyline").count() == 2
    page.click("a.adapter-link")
    page.wait_for_url(f"**/{web_sqlite.artifacts['adapter'].artifact_id}")


def test_publisher_page_shows_rotated_keys(page: Any, web_sqlite: WebCatalog) -> None:
    clause = web_sqlite.artifacts["clause-qa"]
    page.goto(f"{web_sqlite.url}/catalog/artifacts/{clause.artifact_id}")
    page.click("#org-link")
    page.wait_for_url("**/catalog/orgs/acme-legal")
    assert page.locator("#keys tr.key.active").count() == 2
    revoked = page.locator("#keys tr.key.revoked")
    assert revoked.count() == 1 and "artifact" in revoked.inner_text()
    page.click("#all-org-artifacts")
    page.wait_for_url("**/catalog?org=acme-legal*")
    assert sorted(row_titles(page)) == ["Contract clause QA", "Filtered clause QA"]
