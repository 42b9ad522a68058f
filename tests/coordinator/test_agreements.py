"""Agreements (issue 16 item 3) against a real coordinator on SQLite and PostgreSQL: a pull
without an agreement is refused, a logged agreement lets it through and is verifiable from the
log entry alone, and every bad agreement is refused with its own code."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from synthspace.agreement import sign_agreement
from synthspace.log_entries import AgreementEntry, parse_entry
from synthspace.policy import Constraint, Rule, UsagePolicy, share_policy, unsigned_policy
from tests.coordinator.conftest import (
    BACKENDS,
    OrgIdentity,
    build_artifact,
    enrol,
    make_server,
    publish,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_databases: Any
) -> Any:
    srv = make_server(tmp_path_factory, pg_databases, request.param, require_agreements=True)
    try:
        yield srv
    finally:
        srv.stop()


def _published(server: Any, policy: UsagePolicy | None = None) -> tuple[OrgIdentity, str]:
    owner = enrol(server)
    envelope, data = build_artifact(owner, policy=policy)
    r = publish(owner.client(), envelope, data)
    assert r.status_code == 201, r.text
    return owner, r.json()["artifact_id"]


def _agree(
    consumer: OrgIdentity,
    aid: str,
    policy: UsagePolicy,
    *,
    purpose: str = "train",
    key: Any = None,
    org: str | None = None,
    time: datetime | None = None,
    policy_sha256: str | None = None,
) -> bytes:
    env = sign_agreement(
        key or consumer.artifact_key,
        artifact_id=aid,
        policy_sha256=policy_sha256 or policy.digest(),
        org=org or consumer.name,
        purpose=purpose,
        time=time,
    )
    return env.to_json()


def _post(consumer: OrgIdentity, envelope: bytes) -> Any:
    return consumer.client().post(
        "/v1/agreements", content=envelope, headers={"content-type": "application/json"}
    )


def test_pull_needs_a_logged_agreement(server: Any) -> None:
    owner, aid = _published(server)
    consumer = enrol(server)
    r = consumer.client().get(f"/v1/artifacts/{aid}/data")
    assert r.status_code == 403 and r.json()["error"] == "agreement_required", r.text
    assert (
        owner.client().get(f"/v1/artifacts/{aid}/data").status_code == 200
    )  # the publisher never needs one

    envelope = _agree(consumer, aid, unsigned_policy())  # published without a signed policy
    r = _post(consumer, envelope)
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["agreement_id"] == hashlib.sha256(envelope).hexdigest()
    assert (
        receipt["org"] == consumer.name
        and receipt["purpose"] == "train"
        and receipt["action"] == "use"
    )

    # The log entry alone lets anyone check the agreement offline: envelope digest, key, terms.
    entry = parse_entry(base64.b64decode(receipt["entry_leaf"]))
    assert isinstance(entry, AgreementEntry)
    assert (
        entry.envelope_sha256 == receipt["agreement_id"]
        and entry.key_id == consumer.artifact_key_id
    )
    assert entry.policy_sha256 == unsigned_policy().digest() and entry.artifact_id == aid
    served = httpx_get_entry(server, receipt["log_index"])
    assert served == base64.b64decode(receipt["entry_leaf"])
    from synthspace import dsse

    stored = consumer.client().get(f"/v1/agreements/{receipt['agreement_id']}")
    assert stored.status_code == 200 and stored.content == envelope
    dsse.verify(
        dsse.Envelope.from_json(stored.content), {entry.key_id: consumer.artifact_key.public_key()}
    )

    assert consumer.client().get(f"/v1/artifacts/{aid}/data").status_code == 200
    # The publisher sees who agreed to what and when; a third org sees neither list nor envelope.
    listed = owner.client().get(f"/v1/artifacts/{aid}/agreements").json()["agreements"]
    assert [(a["org"], a["purpose"]) for a in listed] == [(consumer.name, "train")]
    third = enrol(server)
    assert third.client().get(f"/v1/artifacts/{aid}/agreements").json()["agreements"] == []
    assert third.client().get(f"/v1/agreements/{receipt['agreement_id']}").status_code == 404
    assert third.client().get(f"/v1/artifacts/{aid}/data").json()["error"] == "agreement_required"


def httpx_get_entry(server: Any, index: int) -> bytes:
    import httpx

    r = httpx.get(
        f"{server.url}/v1/log/entries", params={"start": index, "end": index + 1}, timeout=30
    )
    assert r.status_code == 200, r.text
    body = r.json()
    return base64.b64decode(body["entries"][0]["leaf"] if "entries" in body else body[0]["leaf"])


def test_bad_agreements_are_refused_each_with_its_code(server: Any) -> None:
    consumer = enrol(server)
    other = enrol(server)
    past = datetime.now(UTC) - timedelta(days=1)
    policy = UsagePolicy(
        permission=[
            Rule(
                action="use",
                constraint=[
                    Constraint(leftOperand="purpose", operator="isAnyOf", rightOperand=["research"])
                ],
            )
        ],
    )
    _, aid = _published(server, policy)
    expired_policy = share_policy([consumer.name], ["use"], expires=past)
    _, expired_aid = _published(server, expired_policy)

    good = _agree(consumer, aid, policy, purpose="research")
    forged = json.loads(good)
    sig = bytearray(base64.b64decode(forged["signatures"][0]["sig"]))
    sig[0] ^= 1
    forged["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    cases = {
        "agreement_signature_invalid": json.dumps(forged).encode(),
        "agreement_wrong_key": _agree(
            consumer, aid, policy, purpose="research", key=other.artifact_key
        ),
        "agreement_wrong_org": _agree(consumer, aid, policy, purpose="research", org=other.name),
        "policy_mismatch": _agree(
            consumer, aid, policy, purpose="research", policy_sha256="sha256:" + "0" * 64
        ),
        "purpose_not_permitted": _agree(consumer, aid, policy, purpose="marketing"),
        "policy_expired": _agree(consumer, expired_aid, expired_policy, purpose="research"),
        "agreement_stale": _agree(consumer, aid, policy, purpose="research", time=past),
    }
    for code, envelope in cases.items():
        r = _post(consumer, envelope)
        assert 400 <= r.status_code < 500 and r.json()["error"] == code, (
            code,
            r.status_code,
            r.text,
        )
    # the request key (not the artifact key) does not make a valid agreement either
    r = _post(consumer, _agree(consumer, aid, policy, purpose="research", key=consumer.request_key))
    assert r.json()["error"] == "agreement_signature_invalid", r.text
    assert (
        consumer.client().get(f"/v1/artifacts/{aid}/data").json()["error"] == "agreement_required"
    )

    assert _post(consumer, good).status_code == 201
    r = _post(consumer, good)  # the same envelope again: a replay
    assert r.status_code == 409 and r.json()["error"] == "agreement_replayed", r.text
    assert consumer.client().get(f"/v1/artifacts/{aid}/data").status_code == 200
    # an org the policy does not name cannot see the artifact, so cannot agree to it
    hidden_policy = share_policy([other.name], ["use"])
    _, hidden = _published(server, hidden_policy)
    r = _post(consumer, _agree(consumer, hidden, hidden_policy, purpose="research"))
    assert r.status_code == 404 and r.json()["error"] == "unknown_artifact", r.text
    r = _post(consumer, b'{"payloadType": "x", "payload": "!!", "signatures": []}')
    assert r.status_code in (400, 422), r.text
