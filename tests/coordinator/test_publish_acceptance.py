"""Issue 14 item 5 at the coordinator: self-attested gates are refused with the acceptance code."""

from __future__ import annotations

import httpx

from synthspace.lineage import GateResult
from tests.coordinator.conftest import (
    CoordinatorServer,
    OrgIdentity,
    build_artifact,
    passing_gates,
    publish,
)


def _code(r: httpx.Response) -> str:
    assert r.status_code == 422, r.text
    return str(r.json()["error"])


def test_invented_gate_only_is_refused(server: CoordinatorServer, org: OrgIdentity) -> None:
    envelope, data = build_artifact(org, gates=[GateResult(name="trust_me", blocking=True, passed=True)])
    r = publish(org.client(), envelope, data)
    assert _code(r) == "gate_unknown"
    assert "pii" in r.json()["detail"]  # the missing required gate is named too


def test_pii_found_yet_passed_is_refused(server: CoordinatorServer, org: OrgIdentity) -> None:
    lying = [g for g in passing_gates() if g.name != "pii"]
    lying.append(GateResult(name="pii", blocking=True, passed=True, metrics={"records": 3, "records_with_pii": 2}))
    envelope, data = build_artifact(org, gates=lying)
    assert _code(publish(org.client(), envelope, data)) == "gate_inconsistent"


def test_derived_dataset_needs_gates_like_the_auditor(server: CoordinatorServer, org: OrgIdentity) -> None:
    envelope, data = build_artifact(org, gates=[], kind="derived-dataset")
    assert _code(publish(org.client(), envelope, data)) == "gates_missing"
    # positive control: the shared fixture's gates are accepted
    envelope, data = build_artifact(org)
    assert publish(org.client(), envelope, data).status_code in (200, 201)
