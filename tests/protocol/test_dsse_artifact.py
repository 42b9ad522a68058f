"""DSSE envelopes (PAE vector, t-of-n, tampering) and signed artifacts."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from synthspace import artifact, dsse, keys
from synthspace.errors import DSSEError, StatementError, VerificationError
from synthspace.lineage import DigestSet, Statement


def test_pae_spec_example() -> None:
    # secure-systems-lab/dsse protocol.md, "Test vectors".
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert dsse.pae("t\u00e9", "\u4e2d".encode()) == b"DSSEv1 3 t\xc3\xa9 3 \xe4\xb8\xad"
    assert dsse.pae("", b"") == b"DSSEv1 0  0 "


def _trusted(*ks: Ed25519PrivateKey) -> dict:
    return {keys.key_id(k): k.public_key() for k in ks}


def test_sign_verify_round_trip_and_json() -> None:
    k = keys.generate_private_key()
    env = dsse.sign(b"hello world", "http://example.com/HelloWorld", [k])
    assert env.signatures[0].keyid == keys.key_id(k)
    assert base64.b64decode(env.payload) == b"hello world"
    # The signature is a plain Ed25519 signature over PAE.
    k.public_key().verify(base64.b64decode(env.signatures[0].sig), dsse.pae(env.payloadType, b"hello world"))
    data = env.to_json()
    assert data.startswith(b'{"payload":"aGVsbG8gd29ybGQ=","payloadType":')
    again = dsse.Envelope.from_json(data)
    assert again == env
    assert dsse.Envelope.from_json(data.decode()).to_json() == data
    assert dsse.verify(again, _trusted(k)) == b"hello world"


def test_url_safe_base64_payload_is_accepted() -> None:
    k = keys.generate_private_key()
    payload = b"\xfb\xff\xfe" * 5  # encodes with '+' and '/' in standard base64
    env = dsse.sign(payload, "x", [k])
    assert "+" in env.payload or "/" in env.payload
    url = env.model_copy(update={"payload": base64.urlsafe_b64encode(payload).decode().rstrip("=")})
    assert dsse.verify(url, _trusted(k)) == payload


def test_threshold_counts_distinct_keys() -> None:
    a, b, c = (keys.generate_private_key() for _ in range(3))
    env = dsse.sign(b"p", "t", [a, b])
    trusted = _trusted(a, b, c)
    assert dsse.verify(env, trusted, threshold=2) == b"p"
    with pytest.raises(DSSEError, match="2 valid signature"):
        dsse.verify(env, trusted, threshold=3)
    # Duplicating one signature must not satisfy a 2-of-n threshold.
    dup = env.model_copy(update={"signatures": [env.signatures[0], env.signatures[0]]})
    with pytest.raises(DSSEError, match="1 valid signature"):
        dsse.verify(dup, trusted, threshold=2)
    # Nor may the same key trusted under two ids.
    alias = {keys.key_id(a): a.public_key(), "alias": a.public_key()}
    renamed = dsse.Signature(keyid="alias", sig=env.signatures[0].sig)
    dup2 = env.model_copy(update={"signatures": [env.signatures[0], renamed]})
    with pytest.raises(DSSEError):
        dsse.verify(dup2, alias, threshold=2)
    with pytest.raises(DSSEError, match="threshold"):
        dsse.verify(env, trusted, threshold=0)
    with pytest.raises(DSSEError, match="exceeds"):
        dsse.verify(env, _trusted(a), threshold=2)


def test_untrusted_and_empty_keyid() -> None:
    a, b = keys.generate_private_key(), keys.generate_private_key()
    env = dsse.sign(b"p", "t", [a])
    with pytest.raises(DSSEError, match="untrusted key id"):
        dsse.verify(env, _trusted(b))
    # A blank keyid is only a missing hint: the signature still verifies against the right key.
    blank = env.model_copy(update={"signatures": [dsse.Signature(keyid="", sig=env.signatures[0].sig)]})
    assert dsse.verify(blank, _trusted(b, a)) == b"p"
    # The right key id but another key's signature fails.
    forged = env.model_copy(
        update={"signatures": [dsse.Signature(keyid=keys.key_id(a), sig=dsse.sign(b"p", "t", [b]).signatures[0].sig)]}
    )
    with pytest.raises(DSSEError):
        dsse.verify(forged, _trusted(a, b))
    with pytest.raises(DSSEError, match="no signatures"):
        dsse.verify(env.model_copy(update={"signatures": []}), _trusted(a))


def _flip_b64(text: str, i: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[i % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.integers(min_value=0, max_value=10_000), st.sampled_from(["payload", "sig", "type"]))
def test_any_tampering_is_rejected(payload: bytes, pos: int, field: str) -> None:
    k = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    env = dsse.sign(payload, "application/vnd.in-toto+json", [k])
    if field == "payload":
        bad = env.model_copy(update={"payload": _flip_b64(env.payload, pos)})
    elif field == "sig":
        bad = env.model_copy(update={"signatures": [dsse.Signature(keyid=env.signatures[0].keyid, sig=_flip_b64(env.signatures[0].sig, pos))]})
    else:
        bad = env.model_copy(update={"payloadType": env.payloadType + "x"})
    with pytest.raises(DSSEError):
        dsse.verify(bad, _trusted(k))


@pytest.mark.parametrize(
    "text, match",
    [
        (b"not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"payloadType":"t","payload":"aGk=","signatures":[]', "not valid JSON"),
        (b'{"payloadType":"t","payload":"aGk="}', "signatures"),
        (b'{"payloadType":"t","payload":"%%%","signatures":[]}', "base64"),
        (b'{"payloadType":"t","payload":"aGk=","signatures":[{"keyid":"k","sig":"!!"}]}', "base64"),
        (b'{"payloadType":1,"payload":"aGk=","signatures":[]}', "payloadType"),
        (b'{"payloadType":"t","payload":"aGk=","signatures":[],"extra":1}', "extra"),
    ],
)
def test_malformed_envelopes(text: bytes, match: str) -> None:
    with pytest.raises(DSSEError, match=match):
        dsse.Envelope.from_json(text)


def test_sign_needs_a_key() -> None:
    with pytest.raises(DSSEError):
        dsse.sign(b"p", "t", [])


# ---- artifacts ------------------------------------------------------------------------


def test_sign_and_open_statement(fixed_key: Ed25519PrivateKey, statement: Statement) -> None:
    env = artifact.sign_statement(statement, fixed_key)
    assert env.payloadType == dsse.INTOTO_PAYLOAD_TYPE
    payload = base64.b64decode(env.payload)
    assert payload == statement.to_json_bytes()
    assert json.loads(payload)["_type"] == "https://in-toto.io/Statement/v1"
    assert artifact.artifact_id(env) == hashlib.sha256(payload).hexdigest()
    assert artifact.artifact_id(env.to_json()) == artifact.artifact_id(env)
    opened = artifact.open_statement(env.to_json(), _trusted(fixed_key))
    assert opened == statement
    # Ed25519 is deterministic and the payload canonical: the same statement, the same envelope.
    assert artifact.sign_statement(statement, fixed_key).to_json() == env.to_json()


def test_artifact_id_ignores_signatures_but_not_lineage(fixed_key: Ed25519PrivateKey, statement: Statement) -> None:
    other = keys.generate_private_key()
    one = artifact.sign_statement(statement, fixed_key)
    two = artifact.sign_statement(statement, [fixed_key, other])
    assert artifact.artifact_id(one) == artifact.artifact_id(two)
    changed = statement.model_copy(update={"predicate": statement.predicate.model_copy(update={"title": "other"})})
    assert artifact.artifact_id(artifact.sign_statement(changed, fixed_key)) != artifact.artifact_id(one)


def test_open_statement_verifies_before_parsing(fixed_key: Ed25519PrivateKey) -> None:
    # A payload that is not even JSON: a DSSE error (signature) must come before any parse error.
    env = dsse.sign(b"\xff not json", dsse.INTOTO_PAYLOAD_TYPE, [keys.generate_private_key()])
    with pytest.raises(DSSEError):
        artifact.open_statement(env, _trusted(fixed_key))
    good = dsse.sign(b"\xff not json", dsse.INTOTO_PAYLOAD_TYPE, [fixed_key])
    with pytest.raises(StatementError, match="not UTF-8 JSON"):
        artifact.open_statement(good, _trusted(fixed_key))


def _signed_raw(raw: dict, key: Ed25519PrivateKey) -> dsse.Envelope:
    return dsse.sign(json.dumps(raw).encode(), dsse.INTOTO_PAYLOAD_TYPE, [key])


def test_open_statement_rejects_wrong_types(fixed_key: Ed25519PrivateKey, statement: Statement) -> None:
    trusted = _trusted(fixed_key)
    raw = json.loads(statement.to_json_bytes())
    with pytest.raises(StatementError, match="predicateType"):
        artifact.open_statement(_signed_raw({**raw, "predicateType": "https://slsa.dev/provenance/v1"}, fixed_key), trusted)
    with pytest.raises(StatementError, match="_type"):
        artifact.open_statement(_signed_raw({**raw, "_type": "https://in-toto.io/Statement/v0.1"}, fixed_key), trusted)
    with pytest.raises(StatementError, match="unexpected|extra|Extra"):
        artifact.open_statement(_signed_raw({**raw, "surprise": 1}, fixed_key), trusted)
    with pytest.raises(StatementError, match="repeats the key"):
        dup = statement.to_json_bytes()[:-1] + b',"predicateType":"x"}'
        artifact.open_statement(dsse.sign(dup, dsse.INTOTO_PAYLOAD_TYPE, [fixed_key]), trusted)
    other_type = dsse.sign(statement.to_json_bytes(), "application/json", [fixed_key])
    with pytest.raises(StatementError, match="payloadType"):
        artifact.open_statement(other_type, trusted)
    assert issubclass(StatementError, VerificationError)


def test_check_subject(tmp_path, fixed_key: Ed25519PrivateKey, statement: Statement) -> None:
    data = b"parquet bytes"
    subject = statement.subject[0].model_copy(update={"digest": DigestSet(sha256=hashlib.sha256(data).hexdigest())})
    st_ = statement.model_copy(update={"subject": [subject]})
    artifact.check_subject(st_, data)
    artifact.check_subject(st_, data, name="data.parquet")
    f = tmp_path / "d"
    f.write_bytes(data)
    artifact.check_subject(st_, f)
    with pytest.raises(StatementError, match="matches no signed subject"):
        artifact.check_subject(st_, data + b"!")
    with pytest.raises(StatementError, match="no subject named"):
        artifact.check_subject(st_, data, name="other.parquet")
