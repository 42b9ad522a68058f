"""Policy versions (issue 16 items 1, 4, 5), on a real server, SQLite and PostgreSQL: a publisher
signs a restriction of its artifact's policy, logged as a `policy` entry; a widening, a forged
or replayed update and one by another org are refused; visibility, agreements, data and derive
follow the policy in force; a withdrawal stops every use and marks the descendants."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest

from synthspace.agreement import sign_agreement
from synthspace.lineage import Parent
from synthspace.log_entries import PolicyEntry, parse_entry
from synthspace.policy import UsagePolicy, share_policy
from synthspace.policy_versions import sign_policy_update, withdrawal_policy
from tests.coordinator.conftest import (
    CoordinatorServer,
    OrgIdentity,
    build_artifact,
    enrol,
    publish,
)

JSON = {"content-type": "application/json"}


def _post_update(who: OrgIdentity, aid: str, envelope: Any) -> httpx.Response:
    return who.client().post(f"/v1/artifacts/{aid}/policy", content=envelope.to_json(), headers=JSON)


def _agree(who: OrgIdentity, aid: str, digest: str, action: str = "use") -> httpx.Response:
    env = sign_agreement(
        who.artifact_key, artifact_id=aid, policy_sha256=digest, org=who.name, purpose="research", action=action  # type: ignore[arg-type]
    )
    return who.client().post("/v1/agreements", content=env.to_json(), headers=JSON)


def _log_size(server: CoordinatorServer) -> int:
    return int(httpx.get(f"{server.url}/v1/log/checkpoint", timeout=30).text.split("\n")[1])


@pytest.fixture(scope="module")
def story(server: CoordinatorServer) -> dict[str, Any]:
    """Publish X shared with a and b; a agrees and derives a child; then the steps under test."""
    owner, a, b, outsider = enrol(server), enrol(server), enrol(server), enrol(server)
    signed = share_policy([a.name, b.name], ["use", "train", "derive"])
    env, data = build_artifact(owner, title="Versioned contracts", tags=["versioned-tag"], policy=signed)
    r = publish(owner.client(), env, data)
    assert r.status_code == 201, r.text
    aid = r.json()["artifact_id"]
    link = Parent(artifact_id=aid, digest={"sha256": hashlib.sha256(data).hexdigest()})  # type: ignore[arg-type]
    assert _agree(a, aid, signed.digest()).status_code == 201
    child_env, child_data = build_artifact(a, kind="derived-dataset", title="Child of versioned", parents=[link])
    child = publish(a.client(), child_env, child_data)
    assert child.status_code == 201, child.text
    out: dict[str, Any] = dict(
        owner=owner, a=a, b=b, outsider=outsider, aid=aid, link=link, signed=signed,
        child=child.json()["artifact_id"],
    )  # fmt: skip

    # Refused updates, before any version exists; none may reach the log.
    size = _log_size(server)
    wider = share_policy([a.name, b.name, outsider.name], ["use", "train", "derive"])
    out["widened"] = _post_update(owner, aid, sign_policy_update(owner.artifact_key, artifact_id=aid, previous=signed, policy=wider, org=owner.name))
    narrower = share_policy([a.name], ["use"])
    by_other = sign_policy_update(a.artifact_key, artifact_id=aid, previous=signed, policy=narrower, org=a.name)
    out["by_other"] = _post_update(a, aid, by_other)
    forged = sign_policy_update(outsider.artifact_key, artifact_id=aid, previous=signed, policy=narrower, org=owner.name)
    out["forged"] = _post_update(owner, aid, forged)
    tampered = sign_policy_update(owner.artifact_key, artifact_id=aid, previous=signed, policy=narrower, org=owner.name)
    tampered_json = tampered.model_dump()
    tampered_json["payload"] = base64.b64encode(base64.b64decode(tampered.payload).replace(a.name.encode(), outsider.name.encode())).decode()
    out["tampered"] = owner.client().post(f"/v1/artifacts/{aid}/policy", json=tampered_json)
    out["size_after_refusals"] = (size, _log_size(server))

    # The restriction: only a, only use.
    update = sign_policy_update(
        owner.artifact_key, artifact_id=aid, previous=signed, policy=narrower, org=owner.name, reason="partner b left"
    )
    out["restricted"] = _post_update(owner, aid, update)
    out["narrower"] = narrower
    out["replayed"] = _post_update(owner, aid, update)
    return out


def test_refused_updates_never_reach_the_log(story: dict[str, Any]) -> None:
    assert story["widened"].status_code == 400 and story["widened"].json()["error"] == "policy_widened", story["widened"].text
    assert "permission use" in story["widened"].json()["detail"]
    assert story["by_other"].status_code == 403 and story["by_other"].json()["error"] == "not_publisher"
    assert story["forged"].status_code == 403 and story["forged"].json()["error"] == "policy_update_signature_invalid"
    assert story["tampered"].status_code == 403 and story["tampered"].json()["error"] == "policy_update_signature_invalid"
    before, after = story["size_after_refusals"]
    assert before == after


def test_restriction_is_logged_with_digests_only(server: CoordinatorServer, story: dict[str, Any]) -> None:
    r = story["restricted"]
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["version"] == 1 and body["withdrawn"] is False and body["reason"] == "partner b left"
    assert body["policy_sha256"] == story["narrower"].digest()
    assert body["previous_policy_sha256"] == story["signed"].digest()
    i = body["log_index"]
    leaf = story["owner"].client().get("/v1/log/entries", params={"start": i, "end": i + 1})
    assert leaf.status_code == 200, leaf.text
    raw = base64.b64decode(leaf.json()["entries"][0]["leaf"])
    entry = parse_entry(raw)
    assert isinstance(entry, PolicyEntry) and entry.policy_sha256 == story["narrower"].digest()
    assert story["a"].name.encode() not in raw  # the log reveals ids and digests, not the assignees
    # The history: the signed policy, the version with its signed envelope, the policy in force.
    hist = story["a"].client().get(f"/v1/artifacts/{story['aid']}/policy").json()
    assert hist["signed_policy_sha256"] == story["signed"].digest()
    assert hist["in_force_sha256"] == story["narrower"].digest() and len(hist["versions"]) == 1
    detail = story["a"].client().get(f"/v1/artifacts/{story['aid']}").json()
    assert detail["policy_version"] == 1 and UsagePolicy.model_validate(detail["policy_in_force"]) == story["narrower"]


def test_a_replayed_update_is_refused(story: dict[str, Any]) -> None:
    r = story["replayed"]
    assert r.status_code == 409 and r.json()["error"] == "policy_mismatch", r.text


def test_visibility_follows_the_policy_in_force(story: dict[str, Any]) -> None:
    aid = story["aid"]
    for path in ("", "/envelope", "/data", "/croissant", "/policy"):
        r = story["b"].client().get(f"/v1/artifacts/{aid}{path}")
        assert r.status_code == 404, (path, r.text)
    listed = story["b"].client().get("/v1/artifacts", params={"q": "Versioned contracts"}).json()["items"]
    assert aid not in {i["artifact_id"] for i in listed}
    # positive control: a, still an assignee, sees it and is served the data under the
    # agreement it signed to the earlier version (the new one only restricts it)
    assert aid in {i["artifact_id"] for i in story["a"].client().get("/v1/artifacts", params={"q": "Versioned contracts"}).json()["items"]}
    assert story["a"].client().get(f"/v1/artifacts/{aid}/data").status_code == 200


def test_agreements_and_derive_follow_the_policy_in_force(story: dict[str, Any]) -> None:
    aid, a = story["aid"], story["a"]
    stale = _agree(a, aid, story["signed"].digest())
    assert stale.status_code == 409 and stale.json()["error"] == "policy_mismatch", stale.text
    train = _agree(a, aid, story["narrower"].digest(), action="train")
    assert train.status_code == 403 and train.json()["error"] == "not_permitted", train.text
    assert _agree(a, aid, story["narrower"].digest()).status_code == 201  # positive control
    env, data = build_artifact(a, kind="derived-dataset", title="Late child", parents=[story["link"]])
    r = publish(a.client(), env, data)
    assert r.status_code == 422 and r.json()["error"] == "policy_forbids", r.text
    assert "derive" in r.json()["detail"]


def test_withdrawal_stops_every_use_and_marks_descendants(server: CoordinatorServer, story: dict[str, Any]) -> None:
    owner, a, aid = story["owner"], story["a"], story["aid"]
    withdraw = sign_policy_update(
        owner.artifact_key, artifact_id=aid, previous=story["narrower"],
        policy=withdrawal_policy(story["narrower"]), org=owner.name, reason="consent revoked",
    )  # fmt: skip
    r = _post_update(owner, aid, withdraw)
    assert r.status_code == 201 and r.json()["withdrawn"] is True, r.text
    # a still sees the entry (it learns of the withdrawal) but nothing more is permitted
    detail = a.client().get(f"/v1/artifacts/{aid}").json()
    assert detail["policy_withdrawn_at"] is not None
    data = a.client().get(f"/v1/artifacts/{aid}/data")
    assert data.status_code == 403 and data.json()["error"] == "policy_withdrawn", data.text
    agree = _agree(a, aid, withdrawal_policy(story["narrower"]).digest())
    assert agree.status_code == 403 and agree.json()["error"] == "policy_withdrawn", agree.text
    # the child published before the withdrawal is now built on withdrawn data
    child = a.client().get(f"/v1/artifacts/{story['child']}").json()
    assert [(w["artifact_id"], w["how"], w["reason"]) for w in child["withdrawn_ancestors"]] == [
        (aid, "policy withdrawn", "consent revoked")
    ]
    # the anonymous web catalog shows the child (every member may see it) but does not walk
    # through the restricted parent: no banner, no reason (its id is in the child's signed lineage)
    page = httpx.get(f"{server.url}/catalog/artifacts/{story['child']}", timeout=30)
    assert page.status_code == 200
    assert "consent revoked" not in page.text and "withdrawn-banner" not in page.text
    # the owner can still use its own data; a withdrawn policy cannot change again
    assert owner.client().get(f"/v1/artifacts/{aid}/data").status_code == 200
    again = sign_policy_update(
        owner.artifact_key, artifact_id=aid, previous=withdrawal_policy(story["narrower"]),
        policy=withdrawal_policy(story["narrower"]).model_copy(update={"prohibition": []}), org=owner.name,
    )  # fmt: skip
    r2 = _post_update(owner, aid, again)
    assert r2.status_code == 409 and r2.json()["error"] == "policy_withdrawn", r2.text


def test_a_public_withdrawal_shows_on_the_web_lineage(server: CoordinatorServer) -> None:
    from synthspace.policy import unsigned_policy

    owner, other = enrol(server), enrol(server)
    env, data = build_artifact(owner, title="Open parent to withdraw")
    parent = publish(owner.client(), env, data).json()["artifact_id"]
    link = Parent(artifact_id=parent, digest={"sha256": hashlib.sha256(data).hexdigest()})  # type: ignore[arg-type]
    env2, data2 = build_artifact(other, kind="derived-dataset", title="Open child", parents=[link])
    child = publish(other.client(), env2, data2).json()["artifact_id"]
    page = httpx.get(f"{server.url}/catalog/artifacts/{child}", timeout=30).text
    assert "withdrawn-banner" not in page  # control: nothing withdrawn yet
    update = sign_policy_update(
        owner.artifact_key, artifact_id=parent, previous=unsigned_policy(),
        policy=withdrawal_policy(unsigned_policy()), org=owner.name, reason="source licence ended",
    )  # fmt: skip
    assert _post_update(owner, parent, update).status_code == 201
    page = httpx.get(f"{server.url}/catalog/artifacts/{child}", timeout=30).text
    assert 'id="withdrawn-banner"' in page and "policy withdrawn" in page and "source licence ended" in page
    svg = httpx.get(f"{server.url}/catalog/artifacts/{child}/lineage.svg", timeout=30).text
    assert f'policy-withdrawn" data-artifact-id="{parent}"' in svg or "policy-withdrawn" in svg.split(parent)[0][-300:], svg
    assert 'built-on-withdrawn" data-artifact-id="' + child in svg
    own = httpx.get(f"{server.url}/catalog/artifacts/{parent}", timeout=30).text
    assert 'data-check="Usage policy"' in own and ">withdrawn<" in own


def test_dcat_and_croissant_offer_the_policy_in_force(server: CoordinatorServer) -> None:
    owner, a, b = enrol(server), enrol(server), enrol(server)
    signed = share_policy([a.name, b.name], ["use", "train"])
    env, data = build_artifact(owner, title="DCAT versioned", policy=signed)
    aid = publish(owner.client(), env, data).json()["artifact_id"]

    def offered() -> tuple[set[str], set[str]]:
        page = owner.client().get("/v1/dcat", params={"limit": 100}).json()
        (ds,) = [d for d in page["dataset"] if d["dct:identifier"] == aid]
        rules = ds["hasPolicy"][0]["permission"]
        return {n.rsplit("/", 1)[-1] for r in rules for n in r["assignee"]}, {r["action"] for r in rules}

    assert offered()[0] == {a.name, b.name}  # control: the signed policy
    narrower = share_policy([a.name], ["use"])
    update = sign_policy_update(owner.artifact_key, artifact_id=aid, previous=signed, policy=narrower, org=owner.name)
    assert _post_update(owner, aid, update).status_code == 201
    names, actions = offered()
    assert names == {a.name} and actions == {"odrl:use"}, actions
    perms = owner.client().get(f"/v1/artifacts/{aid}/croissant").json()["odrl:hasPolicy"]["permission"]
    assert [p["action"] for p in perms] == ["use"] and all(n.endswith(f"/orgs/{a.name}") for p in perms for n in p["assignee"])


def test_malformed_updates_get_a_clear_4xx(server: CoordinatorServer) -> None:
    from synthspace import dsse
    from synthspace.policy_versions import POLICY_UPDATE_PAYLOAD_TYPE

    owner = enrol(server)
    env, data = build_artifact(owner, title="Malformed updates target")
    aid = publish(owner.client(), env, data).json()["artifact_id"]
    c = owner.client()
    cases = {
        "bad base64": {"payloadType": POLICY_UPDATE_PAYLOAD_TYPE, "payload": "!!!", "signatures": []},
        "unsigned": {"payloadType": POLICY_UPDATE_PAYLOAD_TYPE, "payload": "e30=", "signatures": []},
        "not json": dsse.sign(b"not json", POLICY_UPDATE_PAYLOAD_TYPE, [owner.artifact_key]).model_dump(),
        "wrong type": dsse.sign(b"{}", "application/vnd.in-toto+json", [owner.artifact_key]).model_dump(),
        "empty payload": dsse.sign(b"{}", POLICY_UPDATE_PAYLOAD_TYPE, [owner.artifact_key]).model_dump(),
    }
    for name, body in cases.items():
        r = c.post(f"/v1/artifacts/{aid}/policy", json=body)
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
        assert r.json()["error"] in ("invalid_policy_update", "policy_update_signature_invalid", "invalid_request"), (name, r.text)
    r = c.post(f"/v1/artifacts/{aid}/policy", content=b"{" * 5000, headers=JSON)
    assert 400 <= r.status_code < 500, r.text
    r = c.post(f"/v1/artifacts/{'0' * 64}/policy", json=cases["not json"])
    assert r.status_code == 404 and r.json()["error"] == "unknown_artifact"
