"""Browsing: filters, cursor pagination, sorting, retraction."""

from __future__ import annotations

import base64
import subprocess
import sys
from typing import Any

import httpx
import pytest

from synthspace.log_entries import RetractEntry, parse_entry
from tests.coordinator.conftest import (
    CoordinatorServer,
    OrgIdentity,
    build_artifact,
    enrol,
    publish,
)


@pytest.fixture(scope="module")
def catalog(server: CoordinatorServer) -> dict[str, Any]:
    """One org with 7 artifacts of varied metadata, another org with 2."""
    a, b = enrol(server), enrol(server)
    ids: dict[str, list[str]] = {a.name: [], b.name: []}
    specs = [
        dict(
            title="Alpha contracts",
            task="legal-qa",
            locale="ja_JP",
            tags=["legal"],
            license="CC-BY-4.0",
        ),
        dict(
            title="Beta leases",
            task="legal-qa",
            locale="en_US",
            tags=["legal", "lease"],
            license="CC-BY-4.0",
        ),
        dict(
            title="Gamma invoices",
            task="invoice-extraction",
            locale="ja_JP",
            tags=["finance"],
            license="CC0-1.0",
        ),
        dict(
            title="Delta tax",
            task="invoice-extraction",
            locale="ja_JP",
            tags=["finance"],
            description="消費税 questions",
        ),
        dict(title="Epsilon contracts", task="legal-qa", locale="ja_JP", tags=["legal"]),
        dict(title="Zeta 100% recall", task="legal-qa", locale="ja_JP", tags=[]),
        dict(title="Eta misc", task="other", locale="en_US", tags=["misc"]),
    ]
    client = a.client()
    for spec in specs:
        env, data = build_artifact(a, **spec)
        r = publish(client, env, data)
        assert r.status_code == 201, r.text
        ids[a.name].append(r.json()["artifact_id"])
    for i in range(2):
        env, data = build_artifact(b, title=f"Other {i}")
        ids[b.name].append(publish(b.client(), env, data).json()["artifact_id"])
    return {"a": a, "b": b, "ids": ids}


def _all_pages(client: httpx.Client, **params: Any) -> tuple[list[dict[str, Any]], int]:
    items, pages, cursor = [], 0, None
    while True:
        q = {**params, **({"cursor": cursor} if cursor else {})}
        r = client.get("/v1/artifacts", params=q)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            return items, pages


def test_cursor_pagination_walks_every_item_once(catalog: dict[str, Any]) -> None:
    a: OrgIdentity = catalog["a"]
    client = a.client()
    items, pages = _all_pages(client, org=a.name, limit=2)
    assert pages == 4
    assert [i["artifact_id"] for i in items] == list(
        reversed(catalog["ids"][a.name])
    )  # newest first
    oldest, _ = _all_pages(client, org=a.name, limit=3, sort="oldest")
    assert [i["artifact_id"] for i in oldest] == catalog["ids"][a.name]
    titled, _ = _all_pages(client, org=a.name, limit=2, sort="title")
    assert [i["title"] for i in titled] == sorted(i["title"] for i in items)


@pytest.mark.parametrize(
    "params,titles",
    [
        ({"task": "invoice-extraction"}, {"Gamma invoices", "Delta tax"}),
        ({"locale": "en_US"}, {"Beta leases", "Eta misc"}),
        ({"tag": "legal"}, {"Alpha contracts", "Beta leases", "Epsilon contracts"}),
        ({"license": "CC0-1.0"}, {"Gamma invoices"}),
        ({"q": "CONTRACTS"}, {"Alpha contracts", "Epsilon contracts"}),
        ({"q": "消費税"}, {"Delta tax"}),
        ({"q": "100%"}, {"Zeta 100% recall"}),
        ({"q": "_"}, set()),
        (
            {"task": "legal-qa", "locale": "ja_JP", "tag": "legal"},
            {"Alpha contracts", "Epsilon contracts"},
        ),
    ],
)
def test_filters(catalog: dict[str, Any], params: dict[str, str], titles: set[str]) -> None:
    a: OrgIdentity = catalog["a"]
    items, _ = _all_pages(a.client(), org=a.name, **params)
    assert {i["title"] for i in items} == titles


def test_created_range_and_org_filter(catalog: dict[str, Any]) -> None:
    a, b = catalog["a"], catalog["b"]
    client = a.client()
    items, _ = _all_pages(client, org=b.name)
    assert {i["artifact_id"] for i in items} == set(catalog["ids"][b.name])
    first_b = min(items, key=lambda i: i["log_index"])
    after, _ = _all_pages(client, created_after=first_b["published_at"], org=b.name)
    assert first_b["artifact_id"] in {i["artifact_id"] for i in after}
    before, _ = _all_pages(client, created_before=first_b["published_at"], org=b.name)
    assert before == []


def test_page_limits_and_bad_cursors(catalog: dict[str, Any]) -> None:
    client = catalog["a"].client()
    r = client.get("/v1/artifacts", params={"limit": 100000})
    assert r.status_code == 400 and r.json()["error"] == "limit_too_large"
    r = client.get("/v1/artifacts", params={"limit": 0})
    assert r.status_code == 422
    r = client.get("/v1/artifacts", params={"cursor": "%%%garbage"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_cursor"
    page = client.get("/v1/artifacts", params={"limit": 1, "sort": "title"}).json()
    r = client.get("/v1/artifacts", params={"cursor": page["next_cursor"], "sort": "newest"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_cursor"
    r = client.get("/v1/artifacts", params={"sort": "random"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"


def test_retraction_by_publisher_is_logged_and_shown(
    server: CoordinatorServer, catalog: dict[str, Any]
) -> None:
    a, b = catalog["a"], catalog["b"]
    target = catalog["ids"][a.name][-1]
    r = b.client().post(f"/v1/artifacts/{target}/retract", json={"reason": "not mine"})
    assert r.status_code == 403
    r = a.client().post(f"/v1/artifacts/{target}/retract", json={"reason": "mislabelled locale"})
    assert r.status_code == 200, r.text
    retraction = r.json()["retraction"]
    assert retraction["by"] == "publisher" and retraction["reason"] == "mislabelled locale"
    leaf = httpx.get(
        f"{server.url}/v1/log/entries",
        params={"start": retraction["log_index"], "end": retraction["log_index"] + 1},
    ).json()
    entry = parse_entry(base64.b64decode(leaf["entries"][0]["leaf"]))
    assert (
        isinstance(entry, RetractEntry) and entry.artifact_id == target and entry.by == "publisher"
    )
    client = a.client()
    assert (
        client.get(f"/v1/artifacts/{target}").json()["retraction"]["reason"] == "mislabelled locale"
    )
    assert client.get(f"/v1/artifacts/{target}/data").status_code == 200  # nothing is deleted
    active, _ = _all_pages(client, org=a.name, status="active")
    assert target not in {i["artifact_id"] for i in active}
    retracted, _ = _all_pages(client, org=a.name, status="retracted")
    assert [i["artifact_id"] for i in retracted] == [target]
    r = client.post(f"/v1/artifacts/{target}/retract", json={"reason": "again"})
    assert r.status_code == 409 and r.json()["error"] == "already_retracted"
    r = client.post(f"/v1/artifacts/{target}/retract", json={"reason": ""})
    assert r.status_code == 422
    r = client.post(f"/v1/artifacts/{'f' * 64}/retract", json={"reason": "x"})
    assert r.status_code == 404


def test_operator_retracts_from_the_cli(server: CoordinatorServer, catalog: dict[str, Any]) -> None:
    a = catalog["a"]
    target = catalog["ids"][a.name][0]
    env = {"PATH": "/usr/bin:/bin"}  # no SYNTHSPACE_DATABASE_URL: config.json names the database
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthspace.cli.main",
            "coordinator",
            "retract",
            target,
            "--reason",
            "court order",
            "--home",
            str(server.home),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "retracted" in done.stdout
    detail = a.client().get(f"/v1/artifacts/{target}").json()
    assert (
        detail["retraction"]["by"] == "operator" and detail["retraction"]["reason"] == "court order"
    )
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthspace.cli.main",
            "coordinator",
            "retract",
            target,
            "--reason",
            "x",
            "--home",
            str(server.home),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert (
        again.returncode == 1
        and again.stderr.startswith("error: ")
        and "Traceback" not in again.stderr
    )
