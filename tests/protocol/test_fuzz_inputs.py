"""Hostile input never escapes as anything but the module's named error.

The coordinator turns SynthspaceError into a 4xx; any other exception would be a 5xx, so the
parsers of envelopes, notes, verifier keys and signature headers are fuzzed here.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthspace import artifact, checkpoint, dsse, http_signatures, keys
from synthspace.errors import CheckpointError, DSSEError, HTTPSignatureError, StatementError

KEY = Ed25519PrivateKey.from_private_bytes(b"\x11" * 32)
TRUSTED = {keys.key_id(KEY): KEY.public_key()}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text built from the characters the formats use, so the fuzzer gets past the first byte.
sf_text = st.text(alphabet=st.sampled_from(list('sig1=();"@:, -_.*?abcdefghz0123456789AB+/\\\t\u00e9')), max_size=80)


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_envelope_parser(data: bytes) -> None:
    try:
        env = dsse.Envelope.from_json(data)
    except DSSEError:
        return
    with pytest.raises((DSSEError, StatementError)):
        artifact.open_statement(env, TRUSTED)


@FUZZ
@given(st.fixed_dictionaries({"payloadType": st.text(max_size=10), "payload": st.text(max_size=20),
                              "signatures": st.lists(st.fixed_dictionaries({"keyid": st.text(max_size=5), "sig": st.text(max_size=20)}), max_size=3)}))
def test_envelope_fields(raw: dict) -> None:
    import json

    try:
        env = dsse.Envelope.from_json(json.dumps(raw))
    except DSSEError:
        return
    with pytest.raises(DSSEError):
        dsse.verify(env, TRUSTED)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("o\n1 \u2014AZaz09+/=.\x00")), max_size=120))
def test_note_parser(note: str) -> None:
    v = checkpoint.verifier_for("o", KEY)
    with pytest.raises(CheckpointError):
        checkpoint.open_checkpoint(note, v)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("ab+0123456789cdefAZ/=\n ")), max_size=80))
def test_verifier_key_parser(text: str) -> None:
    try:
        checkpoint.Verifier.from_string(text)
    except CheckpointError:
        pass


@FUZZ
@given(sf_text, sf_text, sf_text)
def test_signature_header_parsers(sig_input: str, sig: str, digest: str) -> None:
    headers = {"Signature-Input": sig_input, "Signature": sig, "Content-Digest": digest}
    with pytest.raises(HTTPSignatureError):
        http_signatures.verify_request("POST", "http://h/x", headers, b"", TRUSTED.__getitem__, now=0)


@FUZZ
@given(st.text(max_size=60) | st.sampled_from(["HTTP://H:80/x", "http://h/x#frag", "http://h:81/x", "http://[::1/x"]))
def test_target_uri(uri: str) -> None:
    h = http_signatures.sign_request("GET", "http://h/x", b"", KEY, created=0, nonce="n")
    try:
        http_signatures.verify_request("GET", uri, h, b"", TRUSTED.__getitem__, now=0)
    except HTTPSignatureError:
        return
    # Only spellings of the signed URI may verify.
    assert http_signatures.normalize_target_uri(uri) == "http://h/x"
