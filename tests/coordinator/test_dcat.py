"""`GET /v1/dcat` (issue 16 #6) on a real server, SQLite and PostgreSQL.

The catalog is DCAT-3 JSON-LD in the Dataspace Protocol 2025-1 Catalog shape; it lists exactly
the active artifacts the caller may see (the visibility rule of `GET /v1/artifacts`), each with
its signed usage policy as an ODRL Offer, and pages with a `Link: rel="next"` header.

rdflib parses it offline: the DSP context URL cannot be fetched in tests, so it is replaced by a
stand-in that maps the DSP terms the export uses to the IRIs the DSP 2025-1 context gives them
(Catalog/Dataset/Distribution/DataService -> dcat, hasPolicy and the ODRL rule terms -> odrl,
format -> dct:format). The prefixes the export adds travel inline and are used as served.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from synthspace.coordinator.dcat import DSPACE_CONTEXT
from synthspace.policy import Constraint, Rule, UsagePolicy, share_policy
from tests.coordinator.conftest import CoordinatorServer, build_artifact, enrol, publish

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
ODRL = "http://www.w3.org/ns/odrl/2/"
SS = "https://synthspace.dev/odrl/v1#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"

_SET = "@set"
DSP_STANDIN: dict[str, Any] = {
    "dct": DCT,
    "dcat": DCAT,
    "odrl": ODRL,
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dspace": "https://w3id.org/dspace/2025/1/",
    "Catalog": "dcat:Catalog",
    "Dataset": "dcat:Dataset",
    "Distribution": "dcat:Distribution",
    "DataService": "dcat:DataService",
    "Offer": "odrl:Offer",
    "participantId": {"@id": "dspace:participantId", "@type": "@id"},
    "service": {"@id": "dcat:service", "@container": _SET},
    "dataset": {"@id": "dcat:dataset", "@container": _SET},
    "distribution": {"@id": "dcat:distribution", "@container": _SET},
    "hasPolicy": {"@id": "odrl:hasPolicy", "@container": _SET},
    "format": {"@id": "dct:format", "@type": "@vocab"},
    "accessService": {"@id": "dcat:accessService"},
    "endpointURL": "dcat:endpointURL",
    "permission": {"@id": "odrl:permission", "@container": _SET},
    "prohibition": {"@id": "odrl:prohibition", "@container": _SET},
    "action": {"@id": "odrl:action", "@type": "@vocab"},
    "assignee": {"@id": "odrl:assignee", "@type": "@id"},
    "assigner": {"@id": "odrl:assigner", "@type": "@id"},
    "constraint": {"@id": "odrl:constraint", "@container": _SET},
    "leftOperand": {"@id": "odrl:leftOperand", "@type": "@vocab"},
    "operator": {"@id": "odrl:operator", "@type": "@vocab"},
    "rightOperand": "odrl:rightOperand",
}


@pytest.fixture(scope="module")
def space(server: CoordinatorServer) -> dict[str, Any]:
    owner, partner, outsider = enrol(server), enrol(server), enrol(server)
    expires = datetime.now(UTC) + timedelta(days=30)
    research_only = UsagePolicy(
        permission=[
            Rule(
                action="use",
                constraint=[
                    Constraint(leftOperand="purpose", operator="isAnyOf", rightOperand=["research"])
                ],
            )
        ],
        prohibition=[Rule(action="redistribute")],
    )
    specs = {
        "open": (owner, {"title": "DCAT open set"}),
        "restricted": (
            owner,
            {
                "title": "DCAT restricted set",
                "policy": share_policy([partner.name], ["use", "train"], expires=expires),
            },
        ),
        "research": (partner, {"title": "DCAT research set", "policy": research_only}),
        "retracted": (owner, {"title": "DCAT retracted set"}),
    }
    ids: dict[str, str] = {}
    data: dict[str, bytes] = {}
    for name, (who, predicate) in specs.items():
        env, blob = build_artifact(who, **predicate)
        r = publish(who.client(), env, blob)
        assert r.status_code == 201, r.text
        ids[name], data[name] = r.json()["artifact_id"], blob
    r = owner.client().post(f"/v1/artifacts/{ids['retracted']}/retract", json={"reason": "test"})
    assert r.status_code == 200, r.text
    return {
        "owner": owner,
        "partner": partner,
        "outsider": outsider,
        "ids": ids,
        "data": data,
        "expires": expires,
        "url": server.url,
    }


def crawl(client: httpx.Client, limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Every dataset of the catalog, following Link rel=next; and the number of pages."""
    params = {"limit": limit} if limit else {}
    r = client.get("/v1/dcat", params=params)
    datasets: list[dict[str, Any]] = []
    pages = 0
    while True:
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/ld+json")
        doc = r.json()
        assert doc["@context"][0] == "https://w3id.org/dspace/2025/1/context.jsonld"
        assert doc["@type"] == "Catalog"
        if limit:
            assert len(doc["dataset"]) <= limit
        datasets += doc["dataset"]
        pages += 1
        nxt = r.links.get("next")
        if not nxt:
            return datasets, pages
        r = client.get(nxt["url"])


def by_id(datasets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["dct:identifier"]: d for d in datasets}


def listed_active(client: httpx.Client) -> set[str]:
    ids: set[str] = set()
    params: dict[str, Any] = {"status": "active", "limit": 100}
    while True:
        page = client.get("/v1/artifacts", params=params).json()
        ids |= {a["artifact_id"] for a in page["items"]}
        if not page["next_cursor"]:
            return ids
        params["cursor"] = page["next_cursor"]


def test_catalog_holds_exactly_what_the_caller_may_see(space: dict[str, Any]) -> None:
    ids = space["ids"]
    seen = {}
    for who in ("owner", "partner", "outsider"):
        client = space[who].client()
        datasets, _ = crawl(client)
        seen[who] = set(by_id(datasets))
        # the same rule as the list endpoint: exactly its active artifacts
        assert seen[who] == listed_active(client), who
        assert ids["retracted"] not in seen[who]
    assert {ids["open"], ids["restricted"], ids["research"]} <= seen["owner"]
    assert {ids["open"], ids["restricted"], ids["research"]} <= seen["partner"]
    assert ids["restricted"] not in seen["outsider"]  # not an assignee of its policy
    assert {ids["open"], ids["research"]} <= seen["outsider"]  # positive control


def test_unsigned_requests_and_bad_parameters_are_refused(space: dict[str, Any]) -> None:
    with httpx.Client(base_url=space["url"], timeout=30) as anonymous:
        r = anonymous.get("/v1/dcat")
        assert r.status_code == 401, r.text
        assert "DCAT restricted" not in r.text
        op = anonymous.get("/openapi.json").json()["paths"]["/v1/dcat"]["get"]
        assert "application/ld+json" in op["responses"]["200"]["content"]
        assert {p["name"] for p in op["parameters"]} == {"cursor", "limit"}
    c = space["owner"].client()
    assert c.get("/v1/dcat", params={"limit": 10**6}).json()["error"] == "limit_too_large"
    for cursor in ("not-a-cursor", "e30", "eyJzIjoibmV3ZXN0IiwiayI6WzFdfQ"):
        r = c.get("/v1/dcat", params={"cursor": cursor})
        assert r.status_code == 400 and r.json()["error"] == "invalid_cursor", (cursor, r.text)
    assert c.get("/v1/dcat", params={"limit": 0}).status_code == 422
    assert c.get("/v1/dcat", params={"unknown": "x", "limit": 1}).status_code == 200


def test_pages_are_bounded_and_cover_the_catalog_once(space: dict[str, Any]) -> None:
    c = space["owner"].client()
    whole, _ = crawl(c)
    paged, pages = crawl(c, limit=1)
    assert pages == len(whole) >= 3
    assert [d["@id"] for d in paged] == [d["@id"] for d in whole]  # no loss, no duplicate


def test_each_dataset_carries_its_signed_policy_and_a_data_distribution(
    space: dict[str, Any],
) -> None:
    c = space["partner"].client()
    datasets = by_id(crawl(c)[0])
    url, ids = space["url"], space["ids"]
    restricted = datasets[ids["restricted"]]
    assert restricted["@type"] == "Dataset" and restricted["dct:title"] == "DCAT restricted set"
    (offer,) = restricted["hasPolicy"]
    assert offer["@type"] == "Offer"
    assert offer["assigner"] == f"{url}/orgs/{space['owner'].name}"
    assert "target" not in offer  # in a catalog the target is the dataset holding the offer
    actions = {p["action"] for p in offer["permission"]}
    assert actions == {"odrl:use", "ss:train"}
    for p in offer["permission"]:
        assert p["assignee"] == [f"{url}/orgs/{space['partner'].name}"]
        (c0,) = p["constraint"]
        assert (c0["leftOperand"], c0["operator"]) == ("odrl:dateTime", "odrl:lteq")
        assert c0["rightOperand"]["@value"] == space["expires"].isoformat()
    assert [p["action"] for p in offer["prohibition"]] == ["odrl:distribute"]

    research = datasets[ids["research"]]["hasPolicy"][0]
    assert research["permission"][0]["constraint"][0]["rightOperand"] == ["research"]
    assert research["permission"][0]["assignee"] == [f"{url}/groups/members"]
    default = datasets[ids["open"]]["hasPolicy"][0]  # no policy signed: the terms for unsigned artifacts
    assert {p["action"] for p in default["permission"]} == {"odrl:use", "ss:train", "ss:evaluate", "odrl:derive"}

    (dist,) = restricted["distribution"]
    assert dist["@type"] == "Distribution" and dist["format"] == "HttpData-PULL"
    assert dist["accessService"]["@type"] == "DataService"
    assert dist["accessService"]["endpointURL"] == f"{url}/v1/artifacts"
    data_url = dist["dcat:downloadURL"]["@id"]
    assert data_url == f"{url}/v1/artifacts/{ids['restricted']}/data"
    # the distribution leads to the data, served (by default) once the consumer's agreement to
    # the offered policy is logged
    refused = c.get(data_url)
    assert refused.status_code == 403 and refused.json()["error"] == "agreement_required"
    from synthspace.agreement import sign_agreement

    policy = share_policy([space["partner"].name], ["use", "train"], expires=space["expires"])
    envelope = sign_agreement(
        space["partner"].artifact_key, artifact_id=ids["restricted"], policy_sha256=policy.digest(),
        org=space["partner"].name, purpose="research",
    )
    agreed = c.post("/v1/agreements", content=envelope.to_json(), headers={"content-type": "application/json"})
    assert agreed.status_code in (201, 200), agreed.text
    got = c.get(data_url)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == dist["spdx:checksum"]["spdx:checksumValue"]
    assert got.content == space["data"]["restricted"]


def test_output_parses_as_json_ld_with_rdflib(space: dict[str, Any]) -> None:
    from rdflib import Graph, Literal, URIRef

    c = space["partner"].client()
    r = c.get("/v1/dcat")
    doc = r.json()
    assert DSPACE_CONTEXT in doc["@context"]
    doc["@context"] = [DSP_STANDIN if x == DSPACE_CONTEXT else x for x in doc["@context"]]
    g = Graph().parse(data=doc, format="json-ld")  # type: ignore[arg-type]
    url, ids = space["url"], space["ids"]

    def iri(x: str) -> URIRef:
        return URIRef(x)

    catalog = iri(f"{url}/v1/dcat")
    assert (catalog, iri(RDF_TYPE), iri(DCAT + "Catalog")) in g
    datasets = set(g.objects(catalog, iri(DCAT + "dataset")))
    for name in ("open", "restricted", "research"):
        ds = iri(f"{url}/v1/artifacts/{ids[name]}")
        assert ds in datasets, name
        assert (ds, iri(RDF_TYPE), iri(DCAT + "Dataset")) in g
        assert (ds, iri(DCT + "identifier"), Literal(ids[name])) in g
        policies = list(g.objects(ds, iri(ODRL + "hasPolicy")))
        assert len(policies) == 1, name
        assert (policies[0], iri(RDF_TYPE), iri(ODRL + "Offer")) in g
        (dist,) = g.objects(ds, iri(DCAT + "distribution"))
        assert (dist, iri(DCAT + "downloadURL"), iri(f"{url}/v1/artifacts/{ids[name]}/data")) in g
        assert (dist, iri(RDF_TYPE), iri(DCAT + "Distribution")) in g
    restricted = iri(f"{url}/v1/artifacts/{ids['restricted']}")
    (offer,) = g.objects(restricted, iri(ODRL + "hasPolicy"))
    actions = {
        g.value(rule, iri(ODRL + "action")) for rule in g.objects(offer, iri(ODRL + "permission"))
    }
    assert actions == {iri(ODRL + "use"), iri(SS + "train")}
    assignees = {
        a
        for rule in g.objects(offer, iri(ODRL + "permission"))
        for a in g.objects(rule, iri(ODRL + "assignee"))
    }
    assert assignees == {iri(f"{url}/orgs/{space['partner'].name}")}
    # the outsider's catalog graph has no triple about the restricted dataset
    doc2 = space["outsider"].client().get("/v1/dcat").json()
    doc2["@context"] = [DSP_STANDIN if x == DSPACE_CONTEXT else x for x in doc2["@context"]]
    g2 = Graph().parse(data=doc2, format="json-ld")  # type: ignore[arg-type]
    assert not list(g2.triples((restricted, None, None)))
    assert list(g2.triples((iri(f"{url}/v1/artifacts/{ids['open']}"), None, None)))
