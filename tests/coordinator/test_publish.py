"""Publishing over a real server: receipts that verify, idempotency, and every rejection."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import pytest

from synthspace import checkpoint
from synthspace import transparency_log as tlog
from synthspace.artifact import sign_statement
from synthspace.dsse import Envelope
from synthspace.lineage import GateResult, Parent
from synthspace.log_entries import PublishEntry, parse_entry
from tests.coordinator.conftest import (
    CoordinatorServer,
    OrgIdentity,
    build_artifact,
    enrol,
    make_statement,
    parquet_bytes,
    passing_gates,
    publish,
)


def verify_receipt(server: CoordinatorServer, receipt: dict[str, Any]) -> None:
    """Check a receipt the way an auditor does: checkpoint signature, then inclusion."""
    verifier = checkpoint.Verifier.from_string(
        httpx.get(f"{server.url}/v1/log/verifier-key").text.strip()
    )
    cp = checkpoint.open_checkpoint(receipt["checkpoint"], verifier)
    proof = receipt["inclusion_proof"]
    assert cp.size == proof["size"]
    leaf = base64.b64decode(receipt["entry_leaf"])
    tlog.verify_inclusion(
        tlog.leaf_hash(leaf),
        proof["index"],
        proof["size"],
        [bytes.fromhex(h) for h in proof["hashes"]],
        cp.root,
    )


def test_publish_returns_a_verifiable_receipt(server: CoordinatorServer, org: OrgIdentity) -> None:
    client = org.client()
    envelope, data = build_artifact(org, rows=4)
    r = publish(client, envelope, data)
    assert r.status_code == 201, r.text
    receipt = r.json()
    verify_receipt(server, receipt)
    entry = parse_entry(base64.b64decode(receipt["entry_leaf"]))
    assert isinstance(entry, PublishEntry)
    assert entry.org == org.name and entry.key_id == org.artifact_key_id
    assert entry.subject_sha256 == hashlib.sha256(data).hexdigest()
    assert entry.envelope_sha256 == hashlib.sha256(envelope).hexdigest()
    assert (
        receipt["artifact_id"]
        == hashlib.sha256(Envelope.from_json(envelope).payload_bytes()).hexdigest()
    )

    aid = receipt["artifact_id"]
    detail = client.get(f"/v1/artifacts/{aid}").json()
    assert (
        detail["org"] == org.name
        and detail["record_count"] == 4
        and detail["log_index"] == receipt["log_index"]
    )
    assert [g["name"] for g in detail["gates"]] == ["seed_leakage", "pii"]
    assert detail["statement"]["predicate"]["producer"]["org"] == org.name
    assert client.get(f"/v1/artifacts/{aid}/envelope").content == envelope
    got = client.get(f"/v1/artifacts/{aid}/data")
    assert got.status_code == 200 and got.content == data
    croissant = client.get(f"/v1/artifacts/{aid}/croissant").json()
    assert croissant["@type"] == "sc:Dataset"
    assert croissant["distribution"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    fields = {f["name"]: f["dataType"] for f in croissant["recordSet"][0]["field"]}
    assert fields == {
        "record_id": "sc:Text",
        "question": "sc:Text",
        "answer_score": "sc:Float",
        "persona_id": "sc:Text",
    }


def test_republishing_is_idempotent(server: CoordinatorServer, org: OrgIdentity) -> None:
    client = org.client()
    envelope, data = build_artifact(org)
    first = publish(client, envelope, data)
    assert first.status_code == 201
    size_after_first = httpx.get(f"{server.url}/healthz").json()["log_size"]
    second = publish(client, envelope, data)
    assert second.status_code == 201
    assert second.json() == first.json()
    assert httpx.get(f"{server.url}/healthz").json()["log_size"] == size_after_first


def test_publishing_in_process_uses_the_same_service(server: CoordinatorServer) -> None:
    """The operator org (set up by init) publishes without HTTP, as the Flower ServerApp will."""
    from synthspace.coordinator.settings import CoordinatorSettings

    settings = CoordinatorSettings.load(server.home)
    operator = OrgIdentity.operator(settings, server.url)
    envelope, data = build_artifact(operator)
    coord = server.coordinator()
    try:
        receipt = coord.publish(settings.operator_org, envelope, data)
    finally:
        coord.close()
    verify_receipt(server, receipt.model_dump())
    r = operator.client().get(f"/v1/artifacts/{receipt.artifact_id}")
    assert r.status_code == 200 and r.json()["org"] == settings.operator_org


def _expect(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == code, r.text


def test_envelope_signed_by_another_orgs_key_is_forbidden(
    server: CoordinatorServer, org: OrgIdentity
) -> None:
    other = enrol(server)
    envelope, data = build_artifact(other)  # valid, but other's
    _expect(publish(org.client(), envelope, data), 403, "key_not_owned")


def test_tampered_payload_fails_signature(server: CoordinatorServer, org: OrgIdentity) -> None:
    envelope, data = build_artifact(org)
    env = json.loads(envelope)
    payload = json.loads(base64.b64decode(env["payload"]))
    payload["predicate"]["title"] = "tampered"
    env["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    _expect(publish(org.client(), json.dumps(env).encode(), data), 422, "invalid_signature")


def test_data_not_matching_subject_is_rejected(server: CoordinatorServer, org: OrgIdentity) -> None:
    envelope, _ = build_artifact(org)
    _expect(publish(org.client(), envelope, parquet_bytes(3, salt="other")), 422, "digest_mismatch")


def test_failed_gate_blocks_publishing(server: CoordinatorServer, org: OrgIdentity) -> None:
    gates = [
        *passing_gates(),
        GateResult(name="pii", blocking=True, passed=False, metrics={"hits": 2}),
    ]
    envelope, data = build_artifact(org, gates=gates)
    r = publish(org.client(), envelope, data)
    _expect(r, 422, "gates_failed")
    assert "pii" in r.json()["detail"]
    nonblocking = [*passing_gates(), GateResult(name="quality", blocking=False, passed=False)]
    envelope, data = build_artifact(org, gates=nonblocking)
    _expect(publish(org.client(), envelope, data), 422, "gates_failed")
    envelope, data = build_artifact(org, gates=[])
    _expect(publish(org.client(), envelope, data), 422, "gates_missing")


def test_statement_with_wrong_producer_is_rejected(
    server: CoordinatorServer, org: OrgIdentity
) -> None:
    from synthspace.lineage import Producer

    data = parquet_bytes(3)
    st = make_statement(
        org,
        data,
        record_count=3,
        producer=Producer(org="someone-else", artifact_key_id=org.artifact_key_id, software="x"),
    )
    _expect(
        publish(org.client(), sign_statement(st, org.artifact_key).to_json(), data),
        422,
        "producer_mismatch",
    )


def test_payload_that_is_not_a_statement_is_rejected(
    server: CoordinatorServer, org: OrgIdentity
) -> None:
    from synthspace.dsse import INTOTO_PAYLOAD_TYPE, sign

    env = sign(
        b'{"_type": "https://in-toto.io/Statement/v1", "subject": []}',
        INTOTO_PAYLOAD_TYPE,
        [org.artifact_key],
    )
    _expect(publish(org.client(), env.to_json(), parquet_bytes()), 422, "invalid_statement")


def test_non_parquet_data_and_wrong_record_count_are_rejected(
    server: CoordinatorServer, org: OrgIdentity
) -> None:
    blob = b"id,question\n1,hello\n"
    envelope, _ = build_artifact(org, data=blob)
    _expect(publish(org.client(), envelope, blob), 422, "invalid_data")
    data = parquet_bytes(5)
    envelope, _ = build_artifact(org, data=data, record_count=7)
    _expect(publish(org.client(), envelope, data), 422, "record_count_mismatch")


def test_unknown_parent_is_rejected_and_known_parent_links(
    server: CoordinatorServer, org: OrgIdentity
) -> None:
    client = org.client()
    ghost = Parent(artifact_id="ab" * 32, digest={"sha256": "cd" * 32})  # type: ignore[arg-type]
    envelope, data = build_artifact(org, parents=[ghost], kind="derived-dataset")
    _expect(publish(client, envelope, data), 422, "unknown_parent")
    penv, pdata = build_artifact(org)
    parent_id = publish(client, penv, pdata).json()["artifact_id"]
    link = Parent(artifact_id=parent_id, digest={"sha256": hashlib.sha256(pdata).hexdigest()})  # type: ignore[arg-type]
    envelope, data = build_artifact(org, parents=[link], kind="derived-dataset")
    r = publish(client, envelope, data)
    assert r.status_code == 201, r.text
    child_id = r.json()["artifact_id"]
    assert [
        p["artifact_id"] for p in client.get(f"/v1/artifacts/{child_id}").json()["parents"]
    ] == [parent_id]
    assert [
        c["artifact_id"] for c in client.get(f"/v1/artifacts/{parent_id}").json()["children"]
    ] == [child_id]


def test_revoked_artifact_key_cannot_publish(server: CoordinatorServer) -> None:
    org = enrol(server)
    client = org.client()
    r = client.post(
        f"/v1/orgs/{org.name}/keys/{org.artifact_key_id}/revoke", json={"reason": "lost laptop"}
    )
    assert r.status_code == 200
    envelope, data = build_artifact(org)
    _expect(publish(client, envelope, data), 403, "key_revoked")


@pytest.mark.parametrize(
    "envelope,code",
    [
        (b"{not json", "invalid_envelope"),
        (
            b'{"payloadType": "application/vnd.in-toto+json", "payload": "***", "signatures": []}',
            "invalid_envelope",
        ),
        (
            b'{"payloadType": "text/plain", "payload": "aGk=", "signatures": [{"keyid": "k", "sig": "aGk="}]}',
            "invalid_envelope",
        ),
        (
            b'{"payloadType": "application/vnd.in-toto+json", "payload": "aGk=", "signatures": [], "x": 1}',
            "invalid_envelope",
        ),
    ],
)
def test_malformed_envelopes_are_422(
    server: CoordinatorServer, org: OrgIdentity, envelope: bytes, code: str
) -> None:
    _expect(publish(org.client(), envelope, parquet_bytes()), 422, code)


def test_multipart_problems_are_400(server: CoordinatorServer, org: OrgIdentity) -> None:
    client = org.client()
    envelope, data = build_artifact(org)
    _expect(
        client.post("/v1/artifacts", files={"envelope": ("e.json", envelope)}), 400, "bad_multipart"
    )
    _expect(client.post("/v1/artifacts", json={"envelope": "x"}), 400, "bad_multipart")
    _expect(
        client.post(
            "/v1/artifacts",
            data={"envelope": envelope.decode(), "data": "abc"},
            files={"x": ("x", b"1")},
        ),
        400,
        "bad_multipart",
    )


def test_oversize_upload_is_413(server: CoordinatorServer, org: OrgIdentity) -> None:
    envelope, _ = build_artifact(org)
    big = b"PAR1" + b"\0" * (3 * 1024 * 1024) + b"PAR1"  # the test server's limit is 2 MiB
    r = publish(org.client(), envelope, big)
    _expect(r, 413, "payload_too_large")


def test_missing_artifact_is_404(server: CoordinatorServer, org: OrgIdentity) -> None:
    client = org.client()
    for suffix in ("", "/envelope", "/data", "/croissant"):
        _expect(client.get(f"/v1/artifacts/{'e' * 64}{suffix}"), 404, "unknown_artifact")
    _expect(client.get("/v1/artifacts/not-an-id"), 422, "invalid_request")
