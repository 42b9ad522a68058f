"""Enrolment with one-time tokens, key rotation and revocation, over a real server."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import httpx
import pytest

from synthspace import keys
from synthspace.log_entries import KeyEntry, parse_entry
from tests.coordinator.conftest import CoordinatorServer, enrol, unique_org


def _body(
    server: CoordinatorServer, org: str, token: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "token": token if token is not None else server.invite(org),
        "org": org,
        "artifact_public_key": keys.public_key_pem(keys.generate_private_key()),
        "request_public_key": keys.public_key_pem(keys.generate_private_key()),
        **extra,
    }


def _entries(server: CoordinatorServer, start: int = 0) -> list[Any]:
    size = httpx.get(f"{server.url}/healthz").json()["log_size"]
    r = httpx.get(f"{server.url}/v1/log/entries", params={"start": start, "end": size})
    assert r.status_code == 200, r.text
    return [parse_entry(base64.b64decode(e["leaf"])) for e in r.json()["entries"]]


def _supernode_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pub = ec.generate_private_key(ec.SECP384R1()).public_key()
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def test_enrol_records_org_keys_and_log_entries(server: CoordinatorServer) -> None:
    org = unique_org()
    supernode = _supernode_pem()
    body = _body(server, org, supernode_public_key=supernode, display_name="Acme Legal")
    r = httpx.post(f"{server.url}/v1/enrol", json=body)
    assert r.status_code == 201, r.text
    record = r.json()
    assert (
        record["org"] == org
        and record["display_name"] == "Acme Legal"
        and not record["is_operator"]
    )
    by_purpose = {k["purpose"]: k for k in record["keys"]}
    assert set(by_purpose) == {"artifact", "request", "supernode"}
    assert by_purpose["artifact"]["key_id"] == keys.key_id(
        keys.load_public_key_pem(body["artifact_public_key"])
    )
    assert by_purpose["supernode"]["public_key_pem"].strip() == supernode.strip()
    assert all(k["revoked_at"] is None for k in record["keys"])
    logged = [e for e in _entries(server) if isinstance(e, KeyEntry) and e.org == org]
    assert [(e.type, e.purpose) for e in logged] == [
        ("key-add", "artifact"),
        ("key-add", "request"),
        ("key-add", "supernode"),
    ]
    indices = sorted(k["added_log_index"] for k in record["keys"])
    assert indices == list(range(indices[0], indices[0] + 3))


def test_token_is_one_time(server: CoordinatorServer) -> None:
    org = unique_org()
    token = server.invite(org)
    assert httpx.post(f"{server.url}/v1/enrol", json=_body(server, org, token)).status_code == 201
    r = httpx.post(f"{server.url}/v1/enrol", json=_body(server, org, token))
    assert r.status_code == 401 and r.json()["error"] == "token_used"


def test_token_is_bound_to_its_org_and_unknown_tokens_fail(server: CoordinatorServer) -> None:
    token = server.invite(unique_org())
    r = httpx.post(f"{server.url}/v1/enrol", json=_body(server, unique_org(), token))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    r = httpx.post(
        f"{server.url}/v1/enrol", json=_body(server, unique_org(), "sst_not-a-real-token")
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_expired_token_is_rejected(server: CoordinatorServer) -> None:
    from synthspace.coordinator.models import utcnow
    from synthspace.coordinator.services.orgs import create_invite

    org = unique_org()
    coord = server.coordinator()
    try:
        with coord.session() as session:
            token, _ = create_invite(session, org, 60, now=utcnow() - timedelta(hours=1))
    finally:
        coord.close()
    r = httpx.post(f"{server.url}/v1/enrol", json=_body(server, org, token))
    assert r.status_code == 401 and r.json()["error"] == "token_expired"


@pytest.mark.parametrize(
    "change,code",
    [
        (
            {"artifact_public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
            "invalid_key",
        ),
        ({"request_public_key": "not a key"}, "invalid_key"),
        ({"supernode_public_key": "ssh-ed25519 garbage"}, "invalid_key"),
        ({"org": "Bad Org!"}, "invalid_request"),
        ({"unexpected": 1}, "invalid_request"),
        ({"token": 123}, "invalid_request"),
    ],
)
def test_bad_enrolment_bodies_are_4xx_json(
    server: CoordinatorServer, change: dict[str, Any], code: str
) -> None:
    body = _body(server, unique_org())
    body.update(change)
    r = httpx.post(f"{server.url}/v1/enrol", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"] == code


def test_same_key_for_both_purposes_and_reused_keys_are_rejected(server: CoordinatorServer) -> None:
    org = unique_org()
    pem = keys.public_key_pem(keys.generate_private_key())
    r = httpx.post(
        f"{server.url}/v1/enrol",
        json=_body(server, org, artifact_public_key=pem, request_public_key=pem),
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_key"
    first = enrol(server)
    body = _body(server, unique_org(), artifact_public_key=keys.public_key_pem(first.artifact_key))
    r = httpx.post(f"{server.url}/v1/enrol", json=body)
    assert r.status_code == 409 and r.json()["error"] == "key_exists"


def test_malformed_json_is_a_4xx(server: CoordinatorServer) -> None:
    r = httpx.post(
        f"{server.url}/v1/enrol", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"


def test_reenrolment_with_a_new_invite_revokes_old_keys(server: CoordinatorServer) -> None:
    ident = enrol(server)
    body = _body(server, ident.name)
    r = httpx.post(f"{server.url}/v1/enrol", json=body)
    assert r.status_code == 201, r.text
    keys_by_id = {k["key_id"]: k for k in r.json()["keys"]}
    old_art = keys.key_id(ident.artifact_key)
    assert keys_by_id[old_art]["revoked_at"] is not None
    assert keys_by_id[old_art]["revoke_reason"] == "re-enrolment"
    new_art = keys.key_id(keys.load_public_key_pem(body["artifact_public_key"]))
    assert keys_by_id[new_art]["revoked_at"] is None
