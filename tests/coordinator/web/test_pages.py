"""The catalog pages over HTTP from a real coordinator on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import XSS, WebCatalog, agreements_required, start_server

ROW = re.compile(r'class="artifact-row( retracted)?" data-artifact-id="([0-9a-f]{64})"')
SVG_NS = "{http://www.w3.org/2000/svg}"


def rows(web: WebCatalog, **params: str) -> dict[str, bool]:
    """artifact id -> retracted, for the rows of one list page."""
    r = web.page("/catalog", **params)
    assert r.status_code == 200, r.text[:500]
    return {m.group(2): bool(m.group(1)) for m in ROW.finditer(r.text)}


def ids(web: WebCatalog, *labels: str) -> set[str]:
    return {web.artifacts[label].artifact_id for label in labels}


def test_root_redirects_to_the_catalog_and_css_is_served(web: WebCatalog) -> None:
    r = web.page("/")
    assert r.status_code in (302, 307) and r.headers["location"] == "/catalog"
    css = web.page("/catalog/static/catalog.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"] and ".badge-retracted" in css.text


def test_pages_forbid_scripts_and_framing(web: WebCatalog) -> None:
    for path in ("/catalog", f"/catalog/artifacts/{web.artifacts['clause-qa'].artifact_id}",
                 f"/catalog/artifacts/{web.artifacts['clause-qa'].artifact_id}/lineage.svg",
                 "/catalog/log", "/catalog/federated", "/catalog/orgs", "/catalog/artifacts/" + "0" * 64):
        r = web.page(path)
        csp = r.headers.get("content-security-policy", "")
        assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
        assert r.headers.get("x-content-type-options") == "nosniff"
        assert "<script" not in r.text.replace("&lt;script", ""), f"{path} must not contain script elements"


def test_list_shows_every_artifact_and_marks_the_retracted_one(web: WebCatalog) -> None:
    found = rows(web)
    assert set(found) == ids(web, "clause-qa", "triage", "filtered", "adapter", "withdrawn")
    assert [aid for aid, gone in found.items() if gone] == [web.artifacts["withdrawn"].artifact_id]
    page = web.page("/catalog").text
    assert "5 artifacts from 3 organisations, 1 retracted." in page
    assert page.index("Withdrawn intake notes") < page.index("Contract clause QA"), "newest first"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "triage"}, ("triage", "adapter")),
        ({"q": "nurse"}, ("triage",)),
        ({"q": "CLAUSE"}, ("clause-qa", "filtered")),
        ({"q": "co-trained"}, ("adapter",)),
        ({"org": "acme-legal"}, ("clause-qa", "filtered")),
        ({"task": "legal-qa"}, ("clause-qa", "filtered")),
        ({"locale": "en_US"}, ("triage", "withdrawn")),
        ({"license": "CC0-1.0"}, ("triage",)),
        ({"tag": "qa"}, ("clause-qa",)),
        ({"tag": "health", "status": "active"}, ("triage",)),
        ({"kind": "model-adapter"}, ("adapter",)),
        ({"kind": "derived-dataset", "org": "acme-legal"}, ("filtered",)),
        ({"status": "retracted"}, ("withdrawn",)),
        ({"q": "clause", "locale": "en_US"}, ()),
    ],
)
def test_search_and_filters(web: WebCatalog, params: dict[str, str], expected: tuple[str, ...]) -> None:
    assert set(rows(web, **params)) == ids(web, *expected)
    if not expected:
        assert "No artifact matches this search." in web.page("/catalog", **params).text


def test_filter_dropdowns_offer_the_catalogs_values_and_keep_the_choice(web: WebCatalog) -> None:
    page = web.page("/catalog", org="kobe-health").text
    orgs = re.search(r'<select name="org".*?</select>', page, re.S)
    assert orgs and re.findall(r'<option value="([^"]+)"', orgs.group(0)) == ["acme-legal", "federation", "kobe-health"]
    assert '<option value="kobe-health" selected>' in orgs.group(0)
    tags = re.search(r'<select name="tag".*?</select>', page, re.S)
    assert tags and re.findall(r'<option value="([^"]+)"', tags.group(0)) == ["health", "legal", "lora", "qa"]


def test_pagination_walks_every_artifact_once(web: WebCatalog) -> None:
    seen: list[str] = []
    url: str | None = "/catalog?per_page=2&sort=oldest"
    pages = 0
    while url:
        r = httpx.get(web.url + url, timeout=30)
        assert r.status_code == 200
        seen += [m.group(2) for m in ROW.finditer(r.text)]
        nxt = re.search(r'<a href="([^"]+)" id="next-page">', r.text)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
        pages += 1
        assert pages < 10
    assert pages == 3
    assert seen == [web.artifacts[k].artifact_id for k in ("clause-qa", "triage", "filtered", "adapter", "withdrawn")]


@pytest.mark.parametrize(
    "params",
    [{"kind": "spaceship"}, {"status": "maybe"}, {"sort": "random"}, {"cursor": "not-a-cursor"}, {"per_page": "0"}, {"q": "x" * 300}],
)
def test_bad_list_parameters_get_a_400_page(web: WebCatalog, params: dict[str, str]) -> None:
    r = web.page("/catalog", **params)
    assert r.status_code == 400
    assert "text/html" in r.headers["content-type"] and 'id="error"' in r.text and "Traceback" not in r.text


def test_artifact_page_shows_metadata_verification_gates_and_schema(web: WebCatalog) -> None:
    clause = web.artifacts["clause-qa"]
    r = web.page(f"/catalog/artifacts/{clause.artifact_id}")
    assert r.status_code == 200
    page = r.text
    assert f'<code id="artifact-id">{clause.artifact_id}</code>' in page
    assert clause.subject_sha256 in page and "legal-qa" in page and "ja_JP" in page
    assert "All checks pass" in page and "Verification FAILED" not in page
    checks = dict(re.findall(r'data-check="([^"]+)"><td>[^<]+</td><td class="result">([^<]+)</td>', page))
    assert checks == {
        "Envelope signature": "pass", "Publisher key": "pass", "Data digest": "pass",
        "Log entry": "pass", "Log inclusion": "pass", "Retraction": "not retracted",
        "Usage policy": "as signed",
    }
    gates = re.findall(r'data-gate="([^"]+)">\s*<td>[^<]+</td><td>(yes|no)</td><td class="result">(pass|fail)', page)
    assert gates == [("seed_leakage", "yes", "pass"), ("pii", "yes", "pass"), ("quality", "no", "pass")]
    # Agreements are required (the default): schema and row count, no rows (not even escaped).
    assert 'id="preview"' not in page and "Clause 1 ends on notice." not in page and "pwned" not in page
    assert '<p class="muted" id="rows-withheld">14 rows, 4 columns.' in page
    assert "rows are served to enrolled organisations under a signed agreement" in page
    assert f"synthspace catalog pull {clause.artifact_id} --purpose PURPOSE" in page
    schema = re.search(r'<table class="schema" id="schema">.*?</table>', page, re.S)
    assert schema and re.findall(r"<tr><td>([^<]+)</td>", schema.group(0)) == [
        "record_id", "question", "answer", "persona_id"
    ]
    assert "12 private seeds" in page and "cdcdcdcd" in page
    # The signing key was revoked by a later rotation: still valid for this artifact, and said so.
    assert re.search(r"acme-legal&#39;s enrolled artifact key, valid at publication \(revoked later, ", page)


def test_lineage_links_both_ways_and_names_the_models_trained_on_it(web: WebCatalog) -> None:
    a = web.artifacts
    clause_page = web.page(f"/catalog/artifacts/{a['clause-qa'].artifact_id}").text
    assert f'class="child-link" href="/catalog/artifacts/{a["filtered"].artifact_id}"' in clause_page
    assert f'class="child-link" href="/catalog/artifacts/{a["adapter"].artifact_id}"' in clause_page
    filtered_page = web.page(f"/catalog/artifacts/{a['filtered'].artifact_id}").text
    assert f'class="parent-link" href="/catalog/artifacts/{a["clause-qa"].artifact_id}"' in filtered_page

    r = web.page(f"/catalog/artifacts/{a['filtered'].artifact_id}/lineage.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    svg = ET.fromstring(r.text)
    hrefs = {x.get("href") for x in svg.iter(f"{SVG_NS}a")}
    # filtered <- clause-qa -> adapter: the parent and the parent's other child are reachable...
    assert f"/catalog/artifacts/{a['clause-qa'].artifact_id}" in hrefs
    # ...while the focus itself is drawn but not linked.
    assert f"/catalog/artifacts/{a['filtered'].artifact_id}" not in hrefs
    edges = {(p.get("data-parent"), p.get("data-child")) for p in svg.iter(f"{SVG_NS}path") if p.get("data-parent")}
    assert (a["clause-qa"].artifact_id, a["filtered"].artifact_id) in edges

    adapter_svg = ET.fromstring(web.page(f"/catalog/artifacts/{a['adapter'].artifact_id}/lineage.svg").text)
    edges = {(p.get("data-parent"), p.get("data-child"), p.get("class")) for p in adapter_svg.iter(f"{SVG_NS}path") if p.get("data-parent")}
    assert edges == {
        (a["clause-qa"].artifact_id, a["adapter"].artifact_id, "edge edge-training-data"),
        (a["triage"].artifact_id, a["adapter"].artifact_id, "edge edge-training-data"),
    }


def test_retracted_artifact_page_says_so(web: WebCatalog) -> None:
    page = web.page(f"/catalog/artifacts/{web.artifacts['withdrawn'].artifact_id}").text
    assert 'id="retracted-banner"' in page and "contains a template bug" in page and "by the publisher" in page
    assert 'data-check="Retraction"><td>Retraction</td><td class="result">retracted' in page
    assert 'id="retracted-banner"' not in web.page(f"/catalog/artifacts/{web.artifacts['triage'].artifact_id}").text


def test_unknown_artifacts_get_a_404_page(web: WebCatalog) -> None:
    for path in ("/catalog/artifacts/" + "0" * 64, "/catalog/artifacts/not-hex", "/catalog/artifacts/" + "0" * 64 + "/lineage.svg"):
        r = web.page(path)
        assert r.status_code == 404 and "text/html" in r.headers["content-type"] and "No such artifact" in r.text


def test_log_page_proves_every_tree_head_consistent(web: WebCatalog) -> None:
    page = web.page("/catalog/log").text
    # 2 operator keys + 2 keys for each of 2 orgs + 5 publishes + 1 retraction + key rotation
    assert '<td id="tree-size">14</td>' in page and "Signature verifies" in page
    heads = re.findall(r'class="head entry-([a-z-]+)" data-index="(\d+)"', page)
    assert [int(i) for _, i in heads] == list(range(13, -1, -1))
    assert [t for t, _ in heads].count("publish") == 5 and [t for t, _ in heads][:3] == ["key-revoke", "key-add", "retract"]
    assert page.count('class="result pass"') == 14 and "NO:" not in page
    older = web.page("/catalog/log", before="5").text
    assert [int(i) for _, i in re.findall(r'class="head entry-([a-z-]+)" data-index="(\d+)"', older)] == [4, 3, 2, 1, 0]
    assert web.page("/catalog/log", before="abc").status_code == 400


def test_federated_page_plots_the_adapters_rounds(web: WebCatalog) -> None:
    page = web.page("/catalog/federated").text
    assert f'class="adapter-link" href="/catalog/artifacts/{web.artifacts["adapter"].artifact_id}"' in page
    assert "FedAvg" in page and "acme-legal" in page and "kobe-health" in page
    charts = re.findall(r"<svg [^>]*class=\"chart\".*?</svg>", page, re.S)
    assert len(charts) == 2  # train and evaluate
    for chart in charts:
        root = ET.fromstring(chart)
        (line,) = list(root.iter(f"{SVG_NS}polyline"))
        assert len(line.get("points", "").split()) == 2  # two rounds


def test_tampering_shows_as_failed_verification(web: WebCatalog) -> None:
    """The page re-verifies on each render: changed bytes on disk or in the DB show as 'fail'."""
    from sqlalchemy import update

    from synthspace.coordinator.models import Artifact
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.settings import CoordinatorSettings

    triage = web.artifacts["triage"]
    coord = Coordinator.open(CoordinatorSettings.load(web.home), migrate=False, verify=False)
    blob = coord.blobs.path_for(triage.subject_sha256)
    original = blob.read_bytes()
    try:
        blob.chmod(0o644)
        blob.write_bytes(original[:-20] + b"X" * 20)
        page = web.page(f"/catalog/artifacts/{triage.artifact_id}").text
        assert "Verification FAILED" in page
        assert re.search(r'data-check="Data digest"><td>Data digest</td><td class="result">fail', page)
        assert re.search(r'data-check="Envelope signature"><td>[^<]+</td><td class="result">pass', page)
    finally:
        blob.write_bytes(original)
    with coord.session() as session:
        row = session.get(Artifact, triage.artifact_id)
        assert row is not None
        envelope = row.envelope
        forged = envelope.replace(b'"sig":"', b'"sig":"AAAA', 1)
        session.execute(update(Artifact).where(Artifact.artifact_id == triage.artifact_id).values(envelope=forged))
        session.commit()
    try:
        page = web.page(f"/catalog/artifacts/{triage.artifact_id}").text
        assert re.search(r'data-check="Envelope signature"><td>[^<]+</td><td class="result">fail', page)
        assert re.search(r'data-check="Log entry"><td>[^<]+</td><td class="result">fail', page)
    finally:
        with coord.session() as session:
            session.execute(update(Artifact).where(Artifact.artifact_id == triage.artifact_id).values(envelope=envelope))
            session.commit()
        coord.close()
    assert "All checks pass" in web.page(f"/catalog/artifacts/{triage.artifact_id}").text


def test_organisation_pages_list_keys_with_validity(web: WebCatalog) -> None:
    page = web.page("/catalog/orgs").text
    rows = re.findall(r'data-org="([a-z0-9-]+)">.*?<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>\s*<td class="num"><a [^>]*>(\d+)</a>', page, re.S)
    assert rows == [("acme-legal", "2", "1", "2"), ("federation", "2", "0", "1"), ("kobe-health", "2", "0", "2")]
    acme = web.page("/catalog/orgs/acme-legal").text
    keys = re.findall(r'<tr class="key (active|revoked)" data-key-id="([0-9a-f]{64})">\s*<td>(\w+)</td>', acme)
    assert sorted((state, purpose) for state, _, purpose in keys) == [("active", "artifact"), ("active", "request"), ("revoked", "artifact")]
    assert "BEGIN PUBLIC KEY" in acme
    assert f'href="/catalog/artifacts/{web.artifacts["clause-qa"].artifact_id}"' in acme
    # The artifact page links its publisher's page.
    art = web.page(f"/catalog/artifacts/{web.artifacts['triage'].artifact_id}").text
    assert 'href="/catalog/orgs/kobe-health" id="org-link"' in art
    for bad in ("/catalog/orgs/nobody", "/catalog/orgs/Not_An_Org"):
        r = web.page(bad)
        assert r.status_code == 404 and "No such organisation" in r.text


# ---- an empty coordinator, and one with the pages switched off ---------------------------------


@pytest.fixture(scope="module")
def empty_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synthspace.coordinator.home import init_home

    home = tmp_path_factory.mktemp("web-empty")
    init_home(home, database_url=None, log_origin="empty.test/log")
    return home


@pytest.fixture
def empty_web(empty_home: Path) -> Iterator[WebCatalog]:
    web = WebCatalog(url="", home=empty_home, backend="sqlite")
    start_server(web)
    yield web
    web.stop()


def test_empty_catalog_pages(empty_web: WebCatalog) -> None:
    assert "The catalog is empty" in empty_web.page("/catalog").text
    assert 'id="no-runs"' in empty_web.page("/catalog/federated").text
    log = empty_web.page("/catalog/log").text
    assert '<td id="tree-size">2</td>' in log  # the operator org's two keys


def test_pages_can_be_switched_off(empty_home: Path) -> None:
    from synthspace.local_servers import CoordinatorProcess

    server = CoordinatorProcess(empty_home, log_level=None, extra_env={"SYNTHSPACE_WEB_CATALOG": "off"}).start()
    try:
        assert httpx.get(f"{server.url}/catalog", timeout=10).status_code == 404
        assert httpx.get(f"{server.url}/v1/log/checkpoint", timeout=10).status_code == 200
    finally:
        server.stop()


def test_row_preview_is_shown_when_agreements_are_not_required(web: WebCatalog) -> None:
    clause = web.artifacts["clause-qa"]
    with agreements_required(web, False):
        page = web.page(f"/catalog/artifacts/{clause.artifact_id}").text
        assert "First 10 of 14 rows." in page and 'id="rows-withheld"' not in page
        preview = re.search(r'<table class="preview" id="preview">.*?</table>', page, re.S)
        assert preview and preview.group(0).count("<tr>") == 11  # header + 10 rows
        assert "Clause 1 ends on notice." in preview.group(0)
        # Row values are text: the script in the data is escaped, never emitted as markup.
        assert XSS not in page and "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in page
    # switched back on (the fixture's default): withheld again
    assert 'id="rows-withheld"' in web.page(f"/catalog/artifacts/{clause.artifact_id}").text


def test_adapter_page_shows_its_training_record(web: WebCatalog) -> None:
    page = web.page(f"/catalog/artifacts/{web.artifacts['adapter'].artifact_id}").text
    assert "FedAvg · 2 rounds · base HuggingFaceTB/SmolLM2-135M-Instruct · acme-legal, kobe-health" in page
    assert '<span class="k">final_eval_loss</span> 2.02' in page
    assert 'id="preview"' not in page, "adapters are safetensors, not previewed as tables"
    assert 'id="run-link"' not in page, "no recorded run published this adapter"
