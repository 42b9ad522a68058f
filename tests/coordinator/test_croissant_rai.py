"""Croissant 1.1 export with RAI fields for synthetic data and the usage policy (issue 16 #6).

The fields come from the signed lineage predicate; the document parses as JSON-LD offline
(its context is inline) and the RAI/ODRL triples are there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from synthspace.lineage import GateResult, Generator, PersonaSource, SeedCommitment
from synthspace.policy import share_policy
from tests.coordinator.conftest import (
    CoordinatorServer,
    build_artifact,
    enrol,
    passing_gates,
    publish,
)

RAI = "http://mlcommons.org/croissant/RAI/"
ODRL = "http://www.w3.org/ns/odrl/2/"


@pytest.fixture(scope="module")
def published(server: CoordinatorServer) -> dict[str, Any]:
    owner, partner = enrol(server), enrol(server)
    gates = [*passing_gates(), GateResult(name="diversity", blocking=False, passed=True)]
    env, data = build_artifact(
        owner,
        gates=gates,
        generator=Generator(backend="transformers", model_id="HuggingFaceTB/SmolLM2-135M-Instruct"),
        seed_commitment=SeedCommitment(root="ab" * 32, count=450),
        persona_source=PersonaSource(kind="spec", locale="ja_JP", count=500),
        policy=share_policy(
            [partner.name], ["use", "train"], expires=datetime.now(UTC) + timedelta(days=9)
        ),
    )
    r = publish(owner.client(), env, data)
    assert r.status_code == 201, r.text
    return {"owner": owner, "partner": partner, "id": r.json()["artifact_id"], "url": server.url}


def test_croissant_has_rai_fields_for_synthetic_data(published: dict[str, Any]) -> None:
    doc = published["partner"].client().get(f"/v1/artifacts/{published['id']}/croissant").json()
    assert "http://mlcommons.org/croissant/1.1" in doc["conformsTo"]
    assert doc["rai:dataCollectionType"] == ["Synthetic data"]
    assert doc["synth:isSynthetic"] is True
    assert doc["rai:machineAnnotationTools"] == ["HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert doc["synth:generator"]["synth:modelId"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert doc["synth:gatesPassed"] == ["seed_leakage", "pii", "diversity"]
    assert "gate diversity passed (advisory)" in doc["rai:dataPreprocessingProtocol"]
    assert "450 private seed examples" in doc["rai:dataCollection"]
    assert "500 synthetic personas (ja_JP)" in doc["rai:dataCollection"]
    assert doc["rai:personalSensitiveInformation"].startswith("PII gate passed")
    policy = doc["odrl:hasPolicy"]
    assert policy["type"] == "Offer"
    assert {p["action"] for p in policy["permission"]} == {"use", "train"}
    assert policy["permission"][0]["assignee"] == [
        f"{published['url']}/orgs/{published['partner'].name}"
    ]


def test_croissant_parses_as_json_ld_with_rai_and_policy_triples(published: dict[str, Any]) -> None:
    from rdflib import Graph, Literal, URIRef

    doc = published["owner"].client().get(f"/v1/artifacts/{published['id']}/croissant").json()
    g = Graph().parse(data=doc, format="json-ld")  # type: ignore[arg-type]
    (ds,) = g.subjects(URIRef(RAI + "dataCollectionType"), Literal("Synthetic data", lang="en"))
    tools = set(g.objects(ds, URIRef(RAI + "machineAnnotationTools")))
    assert Literal("HuggingFaceTB/SmolLM2-135M-Instruct", lang="en") in tools
    (offer,) = g.objects(ds, URIRef(ODRL + "hasPolicy"))
    actions = {
        g.value(rule, URIRef(ODRL + "action"))
        for rule in g.objects(offer, URIRef(ODRL + "permission"))
    }
    assert actions == {URIRef(ODRL + "use"), URIRef("https://synthspace.dev/odrl/v1#train")}
