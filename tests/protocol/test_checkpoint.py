"""C2SP signed notes and checkpoints, against the Go sumdb/note and C2SP spec vectors."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from synthspace import checkpoint as cp
from synthspace import keys
from synthspace.errors import CheckpointError, VerificationError

# golang.org/x/mod/sumdb/note (package docs and note_test.go).
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
# https://c2sp.org/signed-note example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"


def go_private_key() -> Ed25519PrivateKey:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert seed[0] == 1
    return Ed25519PrivateKey.from_private_bytes(seed[1:])


def test_reference_verifier_keys_parse_and_round_trip() -> None:
    for vkey in (GO_VKEY, SPEC_VKEY):
        v = cp.Verifier.from_string(vkey)
        assert v.to_string() == vkey
    v = cp.Verifier.from_string(GO_VKEY)
    assert v.name == "PeterNeumann" and v.key_hash.hex() == "c74f20a3"
    assert cp.verifier_for("PeterNeumann", go_private_key()).to_string() == GO_VKEY


def test_reference_notes_verify_and_resign_identically() -> None:
    assert cp.verify_note(GO_NOTE, cp.Verifier.from_string(GO_VKEY)) == GO_TEXT
    assert cp.verify_note(SPEC_NOTE, cp.Verifier.from_string(SPEC_VKEY)) == "This is an example message.\n"
    # Ed25519 is deterministic: our signer reproduces Go's note byte for byte.
    assert cp.sign_note(GO_TEXT, "PeterNeumann", go_private_key()) == GO_NOTE


@pytest.mark.parametrize(
    "bad",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong hash
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX",  # key changed
        "PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # alg byte
        "PeterNeumanm+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # name
        "PeterNeumann+c74f20a3",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW==",
        "PeterNeumann+c74f20a3+%%%",
    ],
)
def test_mangled_verifier_keys_are_rejected(bad: str) -> None:
    with pytest.raises(CheckpointError):
        cp.Verifier.from_string(bad)


def test_every_substring_of_a_verifier_key_is_rejected() -> None:
    # Go's TestNewVerifier: no proper substring of a key is itself a valid key.
    for i in range(len(GO_VKEY)):
        for j in range(i + 1, len(GO_VKEY) + 1):
            if (i, j) != (0, len(GO_VKEY)):
                with pytest.raises(CheckpointError):
                    cp.Verifier.from_string(GO_VKEY[i:j])


def test_checkpoint_sign_and_open(fixed_key: Ed25519PrivateKey) -> None:
    root = bytes(range(32))
    c = cp.Checkpoint("synthspace.example/log", 42, root)
    assert c.body() == b"synthspace.example/log\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    note = cp.sign_checkpoint(c, "synthspace.example/log", fixed_key)
    text, sigs = cp.split_note(note)
    assert text.encode() == c.body()
    assert note.startswith(text + "\n\u2014 synthspace.example/log ")
    v = cp.verifier_for("synthspace.example/log", fixed_key.public_key())
    assert sigs == [("synthspace.example/log", sigs[0][1])] and sigs[0][1][:4] == v.key_hash
    assert cp.open_checkpoint(note, cp.Verifier.from_string(v.to_string())) == c


def test_checkpoint_tampering_and_wrong_keys(fixed_key: Ed25519PrivateKey) -> None:
    name = "log.example"
    c = cp.Checkpoint(name, 7, b"\x11" * 32)
    note = cp.sign_checkpoint(c, name, fixed_key)
    v = cp.verifier_for(name, fixed_key)
    for bad in (
        note.replace("\n7\n", "\n8\n"),
        note.replace("log.example\n", "log.exampl3\n", 1),
        note.replace("ERERER", "ERERES", 1),
    ):
        with pytest.raises(CheckpointError, match="does not verify"):
            cp.open_checkpoint(bad, v)
    other = keys.generate_private_key()
    with pytest.raises(CheckpointError, match="not signed by"):
        cp.open_checkpoint(note, cp.verifier_for(name, other))
    with pytest.raises(CheckpointError, match="not signed by"):
        cp.open_checkpoint(note, cp.verifier_for("other.name", fixed_key))
    # A bad signature claiming our key is an error even beside a good one.
    sig_line = note.split("\n\n")[1]
    raw = bytearray(base64.b64decode(sig_line.split(" ")[2]))
    raw[10] ^= 1
    forged_line = f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(CheckpointError, match="does not verify"):
        cp.open_checkpoint(note + forged_line, v)
    # Unknown co-signers (witnesses) are ignored.
    witness = cp.sign_note(c.body().decode(), "witness.example", other).split("\n\n")[1]
    assert cp.open_checkpoint(note + witness, v) == c


@pytest.mark.parametrize(
    "note, match",
    [
        ("origin\n1\nAAAA\n", "blank line"),
        ("origin\n1\n" + "A" * 44 + "\n\n", "not a signature line"),
        ("origin\n1\n" + "A" * 44 + "\n\n\u2014 x\n", "signature line"),
        ("origin\n1\n" + "A" * 44 + "\n\n\u2014 x AAAA\n", "too short"),
        ("origin\n1\n" + "A" * 44 + "\n\n\u2014 x !!!!\n", "base64"),
        ("origin\x07\n1\n" + "A" * 44 + "\n\n\u2014 x AAAAAAAA\n", "control"),
        ("origin\n1\n" + "A" * 44 + "\n\n- x AAAAAAAA\n", "not a signature line"),
    ],
)
def test_malformed_notes(note: str, match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        cp.split_note(note)


@pytest.mark.parametrize(
    "body, match",
    [
        ("o\n1\n", "3 lines|lines"),
        ("o\n01\n" + "A" * 43 + "=\n", "leading zeros"),
        ("o\n-1\n" + "A" * 43 + "=\n", "decimal"),
        ("o\n1\nAAAA\n", "32"),
        ("o\n1\n" + "A" * 43 + "=\next\n", "extension"),
        ("\n1\n" + "A" * 43 + "=\n", "empty"),
        ("o\n1\n" + "A" * 43 + "=", "newline"),
    ],
)
def test_malformed_checkpoint_bodies_are_rejected_even_when_signed(body: str, match: str, fixed_key: Ed25519PrivateKey) -> None:
    with pytest.raises(CheckpointError, match=match):
        cp.Checkpoint.from_body(body)
    if body.endswith("\n") and not body.startswith("\n"):
        note = cp.sign_note(body, "n", fixed_key)
        with pytest.raises(CheckpointError):
            cp.open_checkpoint(note, cp.verifier_for("n", fixed_key))


def test_bad_names_and_fields(fixed_key: Ed25519PrivateKey) -> None:
    for name in ("", "a b", "a+b", "a\x01"):
        with pytest.raises(CheckpointError):
            cp.verifier_for(name, fixed_key)
    with pytest.raises(CheckpointError):
        cp.Checkpoint("o", 1, b"short").body()
    with pytest.raises(CheckpointError):
        cp.Checkpoint("o", -1, b"\x00" * 32).body()
    with pytest.raises(CheckpointError):
        cp.Checkpoint("a\nb", 1, b"\x00" * 32).body()
    with pytest.raises(CheckpointError):
        cp.sign_note("no newline", "n", fixed_key)
    assert issubclass(CheckpointError, VerificationError)


@settings(max_examples=50, deadline=None)
@given(
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30),
    st.integers(0, 2**63),
    st.binary(min_size=32, max_size=32),
)
def test_property_round_trip(origin: str, size: int, root: bytes) -> None:
    key = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    c = cp.Checkpoint(origin, size, root)
    note = cp.sign_checkpoint(c, "log", key)
    assert cp.open_checkpoint(note, cp.verifier_for("log", key)) == c
