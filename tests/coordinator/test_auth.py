"""RFC 9421 request authentication: every rejection the coordinator must make."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from synthspace import keys
from synthspace.http_signatures import sign_request
from tests.coordinator.conftest import CoordinatorServer, OrgIdentity


def _get(server: CoordinatorServer, path: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", headers=headers)


def _signed_headers(
    server: CoordinatorServer, key: Any, path: str = "/v1/orgs", **kw: Any
) -> dict[str, str]:
    return sign_request("GET", f"{server.url}{path}", b"", key, **kw)


def test_signed_request_is_accepted(server: CoordinatorServer, org: OrgIdentity) -> None:
    r = _get(server, "/v1/orgs", _signed_headers(server, org.request_key))
    assert r.status_code == 200, r.text
    assert org.name in {o["org"] for o in r.json()["orgs"]}


def test_unsigned_request_is_rejected(server: CoordinatorServer) -> None:
    for path in ("/v1/orgs", "/v1/artifacts", "/v1/orgs/federation"):
        r = httpx.get(f"{server.url}{path}")
        assert r.status_code == 401 and r.json()["error"] == "signature_required"


def test_unknown_key_is_rejected(server: CoordinatorServer) -> None:
    r = _get(server, "/v1/orgs", _signed_headers(server, keys.generate_private_key()))
    assert r.status_code == 401 and r.json()["error"] == "unknown_key"


def test_artifact_key_cannot_sign_requests(server: CoordinatorServer, org: OrgIdentity) -> None:
    r = _get(server, "/v1/orgs", _signed_headers(server, org.artifact_key))
    assert r.status_code == 401 and r.json()["error"] == "unknown_key"


def test_bad_signature_is_rejected(server: CoordinatorServer, org: OrgIdentity) -> None:
    headers = _signed_headers(server, org.request_key)
    label, value = headers["Signature"].split("=", 1)
    sig = bytearray(__import__("base64").b64decode(value.strip(":")))
    sig[0] ^= 1
    headers["Signature"] = f"{label}=:{__import__('base64').b64encode(bytes(sig)).decode()}:"
    r = _get(server, "/v1/orgs", headers)
    assert r.status_code == 401 and "does not verify" in r.json()["detail"]


def test_signature_for_another_uri_is_rejected(server: CoordinatorServer, org: OrgIdentity) -> None:
    r = _get(server, "/v1/orgs", _signed_headers(server, org.request_key, path="/v1/artifacts"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_signature"


def test_wrong_content_digest_is_rejected(server: CoordinatorServer, org: OrgIdentity) -> None:
    body = b'{"reason": "x"}'
    headers = sign_request(
        "POST", f"{server.url}/v1/artifacts/{'0' * 64}/retract", body, org.request_key
    )
    r = httpx.post(
        f"{server.url}/v1/artifacts/{'0' * 64}/retract",
        content=b'{"reason": "y"}',
        headers={**headers, "content-type": "application/json"},
    )
    assert r.status_code == 401 and "Content-Digest" in r.json()["detail"]


def test_stale_created_is_rejected(server: CoordinatorServer, org: OrgIdentity) -> None:
    headers = _signed_headers(
        server, org.request_key, created=int(time.time()) - 301, lifetime_s=3600
    )
    r = _get(server, "/v1/orgs", headers)
    assert r.status_code == 401 and "stale" in r.json()["detail"]


def test_past_expires_is_rejected(server: CoordinatorServer, org: OrgIdentity) -> None:
    headers = _signed_headers(server, org.request_key, created=int(time.time()) - 20, lifetime_s=10)
    r = _get(server, "/v1/orgs", headers)
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_replayed_nonce_is_rejected(server: CoordinatorServer, org: OrgIdentity) -> None:
    headers = _signed_headers(server, org.request_key)
    assert _get(server, "/v1/orgs", headers).status_code == 200
    r = _get(server, "/v1/orgs", headers)
    assert r.status_code == 401 and "replayed" in r.json()["detail"]
    # the same nonce string under a fresh signature is a replay too
    nonce_headers = _signed_headers(server, org.request_key, nonce="fixed-nonce-1")
    assert _get(server, "/v1/orgs", nonce_headers).status_code == 200
    again = _signed_headers(server, org.request_key, nonce="fixed-nonce-1")
    assert _get(server, "/v1/orgs", again).status_code == 401


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h: {**h, "Signature-Input": "sig1=garbage((("},
        lambda h: {**h, "Signature": "sig1=:!!notbase64!!:"},
        lambda h: {k: v for k, v in h.items() if k != "Content-Digest"},
        lambda h: {
            **h,
            "Signature-Input": h["Signature-Input"].replace(
                'alg="ed25519"', 'alg="rsa-pss-sha512"'
            ),
        },
    ],
)
def test_malformed_signature_headers_are_401(
    server: CoordinatorServer, org: OrgIdentity, mutate: Any
) -> None:
    r = _get(server, "/v1/orgs", mutate(_signed_headers(server, org.request_key)))
    assert r.status_code == 401, r.text
    assert r.json()["error"] in {"invalid_signature", "signature_required"}


def test_key_rotation_and_revocation_over_the_api(
    server: CoordinatorServer, org: OrgIdentity
) -> None:
    client = org.client()
    new_request = keys.generate_private_key()
    r = client.post(
        f"/v1/orgs/{org.name}/keys",
        json={
            "purpose": "request",
            "public_key_pem": keys.public_key_pem(new_request),
            "revoke_previous": True,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["key_id"] == keys.key_id(new_request)
    # the old request key is now revoked: it cannot sign any more
    r = org.client().get("/v1/orgs")
    assert r.status_code == 401 and r.json()["error"] == "key_revoked"
    new_client = org.client(new_request)
    record = new_client.get(f"/v1/orgs/{org.name}").json()
    old = next(k for k in record["keys"] if k["key_id"] == keys.key_id(org.request_key))
    assert old["revoked_at"] is not None and old["revoke_reason"].startswith("rotated to")
    # the last active request key cannot be revoked by the org itself
    r = new_client.post(
        f"/v1/orgs/{org.name}/keys/{keys.key_id(new_request)}/revoke", json={"reason": "oops"}
    )
    assert r.status_code == 409 and r.json()["error"] == "last_request_key"
    # an org cannot manage another org's keys
    r = new_client.post(
        "/v1/orgs/federation/keys",
        json={
            "purpose": "artifact",
            "public_key_pem": keys.public_key_pem(keys.generate_private_key()),
        },
    )
    assert r.status_code == 403
    # revoke the artifact key: logged with an index
    r = new_client.post(
        f"/v1/orgs/{org.name}/keys/{org.artifact_key_id}/revoke", json={"reason": "compromised"}
    )
    assert r.status_code == 200 and r.json()["revoked_log_index"] > r.json()["added_log_index"]
    r = new_client.post(
        f"/v1/orgs/{org.name}/keys/{org.artifact_key_id}/revoke", json={"reason": "again"}
    )
    assert r.status_code == 409 and r.json()["error"] == "already_revoked"


# ---- issue 14 finding 1: body substitution through a repeated signed header ----------------


def _key_add_body(pem: str) -> bytes:
    import json

    return json.dumps({"purpose": "request", "public_key_pem": pem}).encode()


@pytest.mark.parametrize("order", ["attacker_first", "attacker_last"])
def test_repeated_content_digest_cannot_substitute_the_body(
    server: CoordinatorServer, org: OrgIdentity, order: str
) -> None:
    """A captured signed key-add request replayed with the attacker's body and a second
    Content-Digest line (the attack from issue 14): refused, and the attacker's key never works."""
    from synthspace.http_signatures import content_digest

    url = f"{server.url}/v1/orgs/{org.name}/keys"
    victim_body = _key_add_body(keys.public_key_pem(keys.generate_private_key()))
    signed = sign_request("POST", url, victim_body, org.request_key)
    attacker = keys.generate_private_key()
    evil_body = _key_add_body(keys.public_key_pem(attacker))
    digests = [("Content-Digest", content_digest(evil_body)), ("Content-Digest", signed["Content-Digest"])]
    if order == "attacker_last":
        digests.reverse()
    headers = [
        ("content-type", "application/json"),
        *digests,
        ("Signature-Input", signed["Signature-Input"]),
        ("Signature", signed["Signature"]),
    ]
    r = httpx.post(url, content=evil_body, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_signature" and "appears 2 times" in r.json()["detail"]
    probe = sign_request("GET", f"{server.url}/v1/orgs", b"", attacker)
    assert httpx.get(f"{server.url}/v1/orgs", headers=probe).status_code == 401
    # positive control: the same signed request, sent as signed, is accepted
    ok = httpx.post(
        url, content=victim_body, headers={**signed, "content-type": "application/json"}
    )
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize("header", ["Signature", "Signature-Input", "Content-Digest"])
def test_any_repeated_signature_header_is_refused(
    server: CoordinatorServer, org: OrgIdentity, header: str
) -> None:
    signed = _signed_headers(server, org.request_key)
    pairs = [*signed.items(), (header, signed[header])]  # the same value twice is still refused
    r = httpx.get(f"{server.url}/v1/orgs", headers=pairs)
    assert r.status_code == 401, r.text
    assert "appears 2 times" in r.json()["detail"]


# ---- issue 14 finding 6: the signed URI never comes from the Host header ---------------------


def test_signature_for_another_host_is_refused(server: CoordinatorServer, org: OrgIdentity) -> None:
    forged_host = f"evil.example:{server.port}"
    headers = sign_request("GET", f"http://{forged_host}/v1/orgs", b"", org.request_key)
    r = httpx.get(f"{server.url}/v1/orgs", headers={**headers, "Host": forged_host})
    assert r.status_code == 401 and r.json()["error"] == "invalid_signature", r.text
    # positive control: signed for the address the server listens on, with the same Host header
    ok = sign_request("GET", f"{server.url}/v1/orgs", b"", org.request_key)
    assert httpx.get(f"{server.url}/v1/orgs", headers={**ok, "Host": forged_host}).status_code == 200


def test_serving_on_every_interface_needs_public_url(server: CoordinatorServer) -> None:
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "synthspace.cli.main", "coordinator", "serve", "--home", str(server.home),
         "--host", "0.0.0.0", "--port", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode != 0 and "public_url" in run.stderr, run.stderr[-2000:]


# ---- request keys reused for a few seconds (issue 17 item 5) -------------------------------


def test_request_keys_are_read_once_per_ttl_and_dropped_by_clear(
    server: CoordinatorServer, org: OrgIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthspace.coordinator.services import auth

    reads: list[str] = []
    real = auth._request_key
    monkeypatch.setattr(auth, "_request_key", lambda s, k: reads.append(k) or real(s, k))
    coord = server.coordinator()
    try:
        kid = keys.key_id(org.request_key)
        cached = auth.RequestKeys(coord.sessions, ttl_s=60)
        assert cached.lookup(kid)[0] == org.name and cached.lookup(kid)[0] == org.name
        assert reads == [kid]  # the second lookup came from the cache
        cached.clear()
        cached.lookup(kid)
        assert reads == [kid, kid]
        uncached = auth.RequestKeys(coord.sessions, ttl_s=0)
        uncached.lookup(kid), uncached.lookup(kid)
        assert len(reads) == 4
        with pytest.raises(auth.UnauthorizedError):  # unknown keys are never cached as found
            cached.lookup("0" * 64)
    finally:
        coord.close()


@pytest.mark.parametrize("ttl_s", [0.0, 1.0])
def test_a_key_revoked_by_another_process_is_refused_within_the_cache_ttl(
    tmp_path_factory: pytest.TempPathFactory, pg_databases: Any, ttl_s: float
) -> None:
    """The operator revokes a request key from another process (the CLI does this): the server,
    which holds the key in its cache, refuses it at the latest `request_key_cache_s` later."""
    from synthspace.coordinator.services.orgs import revoke_key
    from tests.coordinator.conftest import enrol, make_server

    srv = make_server(tmp_path_factory, pg_databases, "sqlite", request_key_cache_s=ttl_s)
    try:
        org = enrol(srv)
        client = org.client()
        assert client.get("/v1/orgs").status_code == 200  # the key is now cached (ttl > 0)
        coord = srv.coordinator()
        try:
            with coord.session() as session:
                revoke_key(session, coord.log, org.name, keys.key_id(org.request_key), "stolen", operator=True)
        finally:
            coord.close()
        time.sleep(ttl_s + 0.5 if ttl_s else 0)
        r = client.get("/v1/orgs")
        assert r.status_code == 401 and r.json()["error"] == "key_revoked", r.text
    finally:
        srv.stop()
