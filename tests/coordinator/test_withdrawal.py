"""Withdrawal propagates (issue 16 item 5), on a real server, SQLite and PostgreSQL: an
artifact built on a retracted one (at any depth) names its withdrawn ancestors in the API
and on its web page; unrelated artifacts do not; an ancestor the caller may not see is
neither named nor walked through."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from synthspace.lineage import Parent
from synthspace.policy import share_policy
from tests.coordinator.conftest import (
    CoordinatorServer,
    OrgIdentity,
    build_artifact,
    enrol,
    publish,
)


def _publish(org: OrgIdentity, **predicate: Any) -> tuple[str, Parent]:
    env, data = build_artifact(org, **predicate)
    r = publish(org.client(), env, data)
    assert r.status_code == 201, r.text
    aid = r.json()["artifact_id"]
    return aid, Parent(artifact_id=aid, digest={"sha256": hashlib.sha256(data).hexdigest()})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def family(server: CoordinatorServer) -> dict[str, Any]:
    alpha, beta = enrol(server), enrol(server)
    root, root_link = _publish(alpha, title="Withdrawn root")
    child, child_link = _publish(beta, kind="derived-dataset", title="Child", parents=[root_link])
    grandchild, _ = _publish(
        alpha, kind="derived-dataset", title="Grandchild", parents=[child_link]
    )
    unrelated, _ = _publish(alpha, title="Unrelated")
    r = alpha.client().post(f"/v1/artifacts/{root}/retract", json={"reason": "mislabelled rows"})
    assert r.status_code == 200, r.text
    return dict(
        alpha=alpha, beta=beta, root=root, child=child, grandchild=grandchild, unrelated=unrelated
    )


def test_descendants_name_the_withdrawn_ancestor(family: dict[str, Any]) -> None:
    c = family["beta"].client()
    for aid in (family["child"], family["grandchild"]):
        body = c.get(f"/v1/artifacts/{aid}").json()
        assert [w["artifact_id"] for w in body["withdrawn_ancestors"]] == [family["root"]], body
        assert body["withdrawn_ancestors"][0]["reason"] == "mislabelled rows"
        assert body["withdrawn_ancestors"][0]["title"] == "Withdrawn root"
    # controls: the unrelated artifact, and the retracted root itself (it is withdrawn, not built on it)
    for aid in (family["unrelated"], family["root"]):
        assert c.get(f"/v1/artifacts/{aid}").json()["withdrawn_ancestors"] == []


def test_web_page_banner_and_lineage_graph(
    server: CoordinatorServer, family: dict[str, Any]
) -> None:
    page = httpx.get(f"{server.url}/catalog/artifacts/{family['grandchild']}", timeout=30)
    assert page.status_code == 200
    assert 'id="withdrawn-banner"' in page.text and "Built on withdrawn data" in page.text
    assert (
        f'href="/catalog/artifacts/{family["root"]}"' in page.text
        and "mislabelled rows" in page.text
    )
    svg = httpx.get(
        f"{server.url}/catalog/artifacts/{family['grandchild']}/lineage.svg", timeout=30
    ).text
    marked = {
        part.split('"')[0] for part in svg.split('built-on-withdrawn" data-artifact-id="')[1:]
    }
    assert marked == {family["child"], family["grandchild"]}, svg
    control = httpx.get(f"{server.url}/catalog/artifacts/{family['unrelated']}", timeout=30).text
    assert "withdrawn-banner" not in control and "built-on-withdrawn" not in control


def test_a_hidden_retracted_ancestor_is_not_leaked(server: CoordinatorServer) -> None:
    owner, partner, outsider = enrol(server), enrol(server), enrol(server)
    hidden, hidden_link = _publish(
        owner, title="Hidden source", policy=share_policy([partner.name], ["use", "derive"])
    )
    env, data = build_artifact(
        partner,
        kind="derived-dataset",
        title="Open child",
        parents=[hidden_link],
        policy=share_policy([outsider.name], ["use", "derive"]),
    )
    r = publish(partner.client(), env, data)
    assert r.status_code == 201, r.text
    child = r.json()["artifact_id"]
    assert (
        owner.client()
        .post(f"/v1/artifacts/{hidden}/retract", json={"reason": "secret reason"})
        .status_code
        == 200
    )
    seen_by_partner = partner.client().get(f"/v1/artifacts/{child}").json()
    assert [w["artifact_id"] for w in seen_by_partner["withdrawn_ancestors"]] == [
        hidden
    ]  # positive control
    r = outsider.client().get(f"/v1/artifacts/{child}")
    assert r.status_code == 200, r.text
    assert r.json()["withdrawn_ancestors"] == [] and "secret reason" not in r.text
