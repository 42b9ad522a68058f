"""Access control from usage policies (issue 16 #2), on a real server, SQLite and PostgreSQL.

A policy that names assignees makes the artifact invisible to every other org: 404 on show,
envelope, data and croissant (the same 404 as an unknown id), absent from lists and searches,
and absent from the anonymous web catalog; its publish log entry stays readable (ids, digests).
"""

from __future__ import annotations

from typing import Any

import pytest

from synthspace.policy import share_policy
from tests.coordinator.conftest import CoordinatorServer, build_artifact, enrol, publish


@pytest.fixture(scope="module")
def shared(server: CoordinatorServer) -> dict[str, Any]:
    owner, partner, outsider = enrol(server), enrol(server), enrol(server)
    env, data = build_artifact(
        owner,
        title="Restricted hospital notes",
        tags=["restricted-tag"],
        task="restricted-task",
        policy=share_policy([partner.name], ["use", "train"]),
    )
    r = publish(owner.client(), env, data)
    assert r.status_code == 201, r.text
    restricted = r.json()["artifact_id"]
    env2, data2 = build_artifact(owner, title="Open hospital notes")
    r2 = publish(owner.client(), env2, data2)
    assert r2.status_code == 201, r2.text
    return {
        "owner": owner,
        "partner": partner,
        "outsider": outsider,
        "restricted": restricted,
        "open": r2.json()["artifact_id"],
        "log_index": r.json()["log_index"],
    }


PATHS = ("", "/envelope", "/data", "/croissant")


def test_assignee_and_publisher_see_the_restricted_artifact(shared: dict[str, Any]) -> None:
    from synthspace.agreement import sign_agreement
    from synthspace.policy import UsagePolicy

    rid = shared["restricted"]
    # The assignee sees it; its data needs an agreement first (agreements are required by
    # default): 403 agreement_required, not the 404 an outsider gets.
    r = shared["partner"].client().get(f"/v1/artifacts/{rid}/data")
    assert r.status_code == 403 and r.json()["error"] == "agreement_required", r.text
    detail = shared["partner"].client().get(f"/v1/artifacts/{rid}").json()
    policy = UsagePolicy.model_validate(detail["statement"]["predicate"]["policy"])
    envelope = sign_agreement(
        shared["partner"].artifact_key, artifact_id=rid, policy_sha256=policy.digest(),
        org=shared["partner"].name, purpose="train", action="train",
    )
    agreed = shared["partner"].client().post(
        "/v1/agreements", content=envelope.to_json(), headers={"content-type": "application/json"}
    )
    assert agreed.status_code == 201, agreed.text
    for who in ("owner", "partner"):
        c = shared[who].client()
        for path in PATHS:
            r = c.get(f"/v1/artifacts/{rid}{path}")
            assert r.status_code == 200, (who, path, r.text)
        listed = {a["artifact_id"] for a in c.get("/v1/artifacts", params={"q": "hospital"}).json()["items"]}
        assert shared["restricted"] in listed and shared["open"] in listed


def test_outsider_gets_404_like_an_unknown_id(shared: dict[str, Any]) -> None:
    c = shared["outsider"].client()
    unknown = "0" * 64
    for path in PATHS:
        r = c.get(f"/v1/artifacts/{shared['restricted']}{path}")
        u = c.get(f"/v1/artifacts/{unknown}{path}")
        assert r.status_code == 404 == u.status_code, (path, r.text)
        assert r.json().keys() == u.json().keys()
        assert r.text.replace(shared["restricted"], unknown) == u.text  # same body but the id
        assert "Restricted" not in r.text
    assert c.get(f"/v1/artifacts/{shared['open']}").status_code == 200  # positive control
    retract = c.post(f"/v1/artifacts/{shared['restricted']}/retract", json={"reason": "x"})
    retract_unknown = c.post(f"/v1/artifacts/{unknown}/retract", json={"reason": "x"})
    assert retract.status_code == 404 == retract_unknown.status_code, retract.text
    # positive control: on a visible artifact of another org the refusal is 403, not 404
    assert c.post(f"/v1/artifacts/{shared['open']}/retract", json={"reason": "x"}).status_code == 403


def test_outsider_lists_and_searches_do_not_show_it(shared: dict[str, Any]) -> None:
    c = shared["outsider"].client()
    for params in (
        {"q": "hospital"},
        {"org": shared["owner"].name},
        {"tag": "restricted-tag"},
        {"task": "restricted-task"},
        {"sort": "title"},
        {"status": "active"},
    ):
        items = c.get("/v1/artifacts", params={**params, "limit": 100}).json()["items"]
        ids = {a["artifact_id"] for a in items}
        assert shared["restricted"] not in ids, params
    ids = {a["artifact_id"] for a in c.get("/v1/artifacts", params={"q": "hospital"}).json()["items"]}
    assert shared["open"] in ids  # positive control: the filter is not hiding everything


def test_web_catalog_shows_only_public_artifacts(server: CoordinatorServer, shared: dict[str, Any]) -> None:
    import httpx

    with httpx.Client(base_url=server.url, timeout=60.0) as web:
        page = web.get("/catalog", params={"q": "hospital"})
        assert page.status_code == 200
        assert "Open hospital notes" in page.text  # positive control
        assert "Restricted hospital notes" not in page.text and shared["restricted"] not in page.text
        rid = shared["restricted"]
        assert web.get(f"/catalog/artifacts/{rid}").status_code == 404
        assert web.get(f"/catalog/artifacts/{shared['open']}").status_code == 200  # positive control
        home = web.get("/catalog").text + web.get(f"/catalog/orgs/{shared['owner'].name}").text
        assert "Restricted hospital notes" not in home and "restricted-task" not in home


def test_log_entry_of_restricted_artifact_reveals_ids_and_digests_only(shared: dict[str, Any]) -> None:
    import base64

    from synthspace.log_entries import PublishEntry, parse_entry

    c = shared["outsider"].client()
    r = c.get("/v1/log/entries", params={"start": shared["log_index"], "end": shared["log_index"] + 1})
    assert r.status_code == 200, r.text
    raw = base64.b64decode(r.json()["entries"][0]["leaf"])
    entry = parse_entry(raw)
    assert isinstance(entry, PublishEntry) and entry.artifact_id == shared["restricted"]
    assert b"Restricted" not in raw and b"restricted-tag" not in raw
