"""Keys (file mode, round trips, key-id vector) and RFC 8785 canonical JSON."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from synthspace import canonical_json, keys
from synthspace.errors import CanonicalJSONError, KeyFileError, SynthspaceError

# RFC 8032 section 7.1, TEST 1.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
# sha256 of RFC8032_PUBLIC, computed outside Python with `xxd -r -p | sha256sum`.
RFC8032_KEY_ID = "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"


def test_key_id_vector() -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    assert keys.raw_public_key(key) == RFC8032_PUBLIC
    assert keys.key_id(key) == RFC8032_KEY_ID
    assert keys.key_id(key.public_key()) == RFC8032_KEY_ID


def test_save_is_0600_and_round_trips(tmp_path: Path) -> None:
    key = keys.generate_private_key()
    path = tmp_path / "nested" / "dir" / "artifact.pem"
    old = os.umask(0)  # a permissive umask must not make the key world-readable
    try:
        keys.save_private_key(key, path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = keys.load_private_key(path)
    assert keys.key_id(loaded) == keys.key_id(key)
    assert [p.name for p in path.parent.iterdir()] == ["artifact.pem"]  # no temp left behind


def test_save_over_existing_world_readable_file_tightens_mode(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text("old")
    path.chmod(0o644)
    keys.save_private_key(keys.generate_private_key(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_public_pem_round_trip() -> None:
    key = keys.generate_private_key()
    pem = keys.public_key_pem(key)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert pem == keys.public_key_pem(key.public_key())
    assert keys.key_id(keys.load_public_key_pem(pem)) == keys.key_id(key)
    assert keys.key_id(keys.load_public_key_pem(pem.encode())) == keys.key_id(key)
    assert keys.public_key_from_raw(keys.raw_public_key(key)).public_bytes_raw() == keys.raw_public_key(key)


def test_load_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="nope.pem"):
        keys.load_private_key(tmp_path / "nope.pem")


def test_load_garbage_and_wrong_algorithm(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(KeyFileError, match="garbage.pem"):
        keys.load_private_key(garbage)
    ec = generate_private_key(SECP256R1())
    ec_path = tmp_path / "ec.pem"
    ec_path.write_bytes(
        ec.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with pytest.raises(KeyFileError, match="not an Ed25519"):
        keys.load_private_key(ec_path)
    ec_pub = ec.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyFileError, match="not an Ed25519"):
        keys.load_public_key_pem(ec_pub)
    with pytest.raises(KeyFileError):
        keys.load_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(KeyFileError):
        keys.public_key_from_raw(b"\x00" * 31)
    assert issubclass(KeyFileError, SynthspaceError)


# RFC 8785 section 3.2.2 example (input) and its canonical form (section 3.2.3).
RFC8785_INPUT = r'''{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}'''
RFC8785_OUTPUT = (
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
).encode("utf-8")


def test_rfc8785_example() -> None:
    assert canonical_json.canonicalize(json.loads(RFC8785_INPUT)) == RFC8785_OUTPUT


def test_key_order_is_utf16_code_units() -> None:
    # RFC 8785 3.2.3: keys sort by UTF-16 code units, so U+1F600 (surrogates D83D..) sorts
    # before U+FB33 although its code point is larger.
    out = canonical_json.canonicalize({"\ufb33": 1, "\U0001f600": 2, "a": 3})
    assert out == '{"a":3,"\U0001f600":2,"\ufb33":1}'.encode()


def test_models_are_dumped_in_json_mode() -> None:
    class M(BaseModel):
        b: int
        a: str

    assert canonical_json.canonicalize(M(b=1, a="x")) == b'{"a":"x","b":1}'
    assert canonical_json.canonicalize({"m": [M(b=2, a="y")]}) == b'{"m":[{"a":"y","b":2}]}'
    assert canonical_json.digest({"b": 1, "a": "x"}) == canonical_json.digest(M(b=1, a="x"))


def test_digest_and_sha256_vectors(tmp_path: Path) -> None:
    # sha256("abc") from FIPS 180-2.
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert canonical_json.sha256_hex(b"abc") == abc
    # canonical bytes of {"b":2,"a":1} are '{"a":1,"b":2}'
    assert canonical_json.digest({"b": 2, "a": 1}) == "sha256:" + canonical_json.sha256_hex(b'{"a":1,"b":2}')
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc")
    assert canonical_json.file_sha256(p) == abc
    assert canonical_json.file_sha256(str(p), chunk_size=1) == abc


def test_non_json_values_raise_named_error() -> None:
    for bad in (math.nan, math.inf, 2**60, {1: "int key"}, object()):
        with pytest.raises(CanonicalJSONError):
            canonical_json.canonicalize(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    # integral floats >= 2**53 print without exponent and parse back as (out-of-domain) ints
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-(2.0**52), max_value=2.0**52)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_is_a_fixed_point_and_parses_back(value: object) -> None:
    out = canonical_json.canonicalize(value)
    parsed = json.loads(out)
    assert canonical_json.canonicalize(parsed) == out
    assert parsed == value or value != value  # floats such as -0.0 compare equal; NaN is excluded


def test_save_errors_are_named(tmp_path: Path) -> None:
    target = tmp_path / "a-directory"
    target.mkdir()
    (target / "child").write_text("x")
    with pytest.raises(KeyFileError, match="a-directory"):
        keys.save_private_key(keys.generate_private_key(), target)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(KeyFileError, match="cannot write"):
        keys.save_private_key(keys.generate_private_key(), blocker / "k.pem")
    assert sorted(p.name for p in target.iterdir()) == ["child"]  # no temp file left behind


def test_encrypted_private_key_is_refused_with_a_named_error(tmp_path: Path) -> None:
    key = keys.generate_private_key()
    p = tmp_path / "enc.pem"
    p.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
        )
    )
    with pytest.raises(KeyFileError, match="enc.pem"):
        keys.load_private_key(p)
