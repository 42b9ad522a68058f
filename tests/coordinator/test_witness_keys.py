"""Witness keys enrolled like every other key (issue 17): purpose `witness`, logged as a
KeyEntry, validated (well-formed vkey named <org>/witness, a URL), duplicates and revoked keys
refused with a 4xx; rotation and revocation through the one key path. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from synthspace import keys
from synthspace.log_entries import KeyEntry, parse_entry
from synthspace.witness import WitnessKey, witness_name_for
from tests.coordinator.conftest import CoordinatorServer, enrol, unique_org

URL = "http://127.0.0.1:8700"


def _vkey(org: str, key: Any = None) -> tuple[Any, str]:
    key = key or keys.generate_private_key()
    return key, WitnessKey.for_key(witness_name_for(org), key).to_string()


def _body(server: CoordinatorServer, org: str, **extra: Any) -> dict[str, Any]:
    return {
        "token": server.invite(org),
        "org": org,
        "artifact_public_key": keys.public_key_pem(keys.generate_private_key()),
        "request_public_key": keys.public_key_pem(keys.generate_private_key()),
        **extra,
    }


def _leaf(server: CoordinatorServer, index: int) -> KeyEntry:
    r = httpx.get(f"{server.url}/v1/log/entries", params={"start": index, "end": index + 1})
    entry = parse_entry(base64.b64decode(r.json()["entries"][0]["leaf"]))
    assert isinstance(entry, KeyEntry)
    return entry


def test_enrol_with_witness_key_logs_a_witness_key_entry(server: CoordinatorServer) -> None:
    org = unique_org()
    wkey, vkey = _vkey(org)
    r = httpx.post(
        f"{server.url}/v1/enrol", json=_body(server, org, witness_key=vkey, witness_url=URL + "/")
    )
    assert r.status_code == 201, r.text
    witness = [k for k in r.json()["keys"] if k["purpose"] == "witness"]
    assert len(witness) == 1
    assert witness[0]["witness_key"] == vkey and witness[0]["witness_url"] == URL
    assert witness[0]["key_id"] == keys.key_id(wkey)
    entry = _leaf(server, witness[0]["added_log_index"])
    assert (entry.type, entry.purpose, entry.org, entry.key_id) == (
        "key-add",
        "witness",
        org,
        keys.key_id(wkey),
    )
    assert keys.key_id(keys.load_public_key_pem(entry.public_key_pem)) == keys.key_id(wkey)
    # The other keys carry no witness fields.
    assert all(k["witness_key"] is None for k in r.json()["keys"] if k["purpose"] != "witness")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"witness_key": "not-a-vkey"}, 422, "invalid_key"),
        ({"witness_key": "x/witness+00000000+AAAA"}, 422, "invalid_key"),
        ({"witness_key": "OTHER"}, 422, "invalid_key"),  # a well-formed vkey named for another org
        ({"witness_url": None}, 400, "invalid_witness_url"),
        ({"witness_url": "ftp://example.org"}, 400, "invalid_witness_url"),
        ({"witness_key": None}, 400, "invalid_witness_url"),  # a URL without a key
    ],
)
def test_bad_witness_keys_are_4xx(
    server: CoordinatorServer, change: dict[str, Any], status: int, code: str
) -> None:
    org = unique_org()
    _, vkey = _vkey(org)
    extra: dict[str, Any] = {"witness_key": vkey, "witness_url": URL, **change}
    if extra["witness_key"] == "OTHER":
        extra["witness_key"] = _vkey("someone-else")[1]
    body = _body(server, org, **{k: v for k, v in extra.items() if v is not None})
    r = httpx.post(f"{server.url}/v1/enrol", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == code
    # Nothing was enrolled: the token is still good for a clean enrolment.
    r = httpx.post(f"{server.url}/v1/enrol", json={**body, "witness_key": vkey, "witness_url": URL})
    assert r.status_code == 201, r.text


def test_duplicate_revoked_and_rotated_witness_keys(server: CoordinatorServer) -> None:
    first = enrol(server)
    c = first.client()
    wkey, vkey = _vkey(first.name)
    add = {"purpose": "witness", "public_key_pem": vkey, "witness_url": URL}
    r = c.post(f"/v1/orgs/{first.name}/keys", json=add)
    assert r.status_code == 201 and r.json()["witness_key"] == vkey, r.text
    # The same key again, by the same org or (under its own name) by another org: 409.
    r = c.post(f"/v1/orgs/{first.name}/keys", json=add)
    assert r.status_code == 409 and r.json()["error"] == "key_exists"
    other = unique_org()
    r = httpx.post(
        f"{server.url}/v1/enrol",
        json=_body(server, other, witness_key=_vkey(other, wkey)[1], witness_url=URL),
    )
    assert r.status_code == 409 and r.json()["error"] == "key_exists"
    # The witness key may not be one of the org's own signing keys.
    same = _vkey(other, keys.generate_private_key())
    body = _body(server, other, witness_key=same[1], witness_url=URL)
    body["artifact_public_key"] = keys.public_key_pem(same[0])
    r = httpx.post(f"{server.url}/v1/enrol", json=body)
    assert r.status_code == 422 and r.json()["error"] == "invalid_key"
    # Rotation revokes the previous witness key, logged; the revoked key is never enrolled again.
    _, vkey2 = _vkey(first.name)
    r = c.post(
        f"/v1/orgs/{first.name}/keys",
        json={**add, "public_key_pem": vkey2, "revoke_previous": True},
    )
    assert r.status_code == 201, r.text
    rec = c.get(f"/v1/orgs/{first.name}").json()
    old = next(k for k in rec["keys"] if k["key_id"] == keys.key_id(wkey))
    assert old["revoked_at"] is not None and old["revoke_reason"].startswith("rotated to")
    revoke = _leaf(server, old["revoked_log_index"])
    assert (revoke.type, revoke.purpose) == ("key-revoke", "witness")
    r = c.post(f"/v1/orgs/{first.name}/keys", json=add)
    assert r.status_code == 409 and r.json()["error"] == "key_revoked"
    assert "revoked" in r.json()["detail"]
    # A witness key needs its URL, and a URL only goes with a witness key.
    _, vkey3 = _vkey(first.name)
    r = c.post(f"/v1/orgs/{first.name}/keys", json={"purpose": "witness", "public_key_pem": vkey3})
    assert r.status_code == 400 and r.json()["error"] == "invalid_witness_url"
    pem = keys.public_key_pem(keys.generate_private_key())
    r = c.post(
        f"/v1/orgs/{first.name}/keys",
        json={"purpose": "artifact", "public_key_pem": pem, "witness_url": URL},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_witness_url"
    # The coordinator's own full integrity check agrees: every key row equals its key-add entry.
    coord = server.coordinator()
    try:
        coord.verify_integrity("full")
    finally:
        coord.close()
