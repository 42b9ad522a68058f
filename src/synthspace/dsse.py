"""DSSE envelopes (Dead Simple Signing Envelope v1) with Ed25519 signatures.

Envelope JSON: {"payloadType", "payload" (standard base64), "signatures": [{"keyid", "sig"}]}.
The signature is over PAE = "DSSEv1" SP len(type) SP type SP len(body) SP body.
Verification checks signatures over the exact payload bytes before anything parses them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError

from synthspace.canonical_json import canonicalize
from synthspace.errors import DSSEError
from synthspace.keys import key_id, raw_public_key

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def b64decode(text: str, what: str = "value") -> bytes:
    """Decode standard or URL-safe base64 (both allowed by the DSSE spec); raises DSSEError."""
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DSSEError(f"envelope {what} is not valid base64 ({exc})") from None


class Signature(BaseModel):
    keyid: str
    sig: str

    model_config = ConfigDict(extra="forbid")


class Envelope(BaseModel):
    payloadType: str
    payload: str
    signatures: list[Signature]

    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> bytes:
        """Compact, stable JSON bytes of the envelope."""
        return canonicalize(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes | str) -> Envelope:
        """Parse envelope JSON; raises DSSEError on malformed input or bad base64."""
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DSSEError(f"envelope is not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise DSSEError("envelope must be a JSON object with payloadType, payload and signatures")
        try:
            env = cls.model_validate(raw, strict=True)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'envelope'}: {e['msg']}" for e in exc.errors()
            )
            raise DSSEError(f"malformed DSSE envelope: {problems}") from None
        env.payload_bytes()  # reject bad base64 now, not at first use
        for i, s in enumerate(env.signatures):
            b64decode(s.sig, f"signatures[{i}].sig")
        return env

    def payload_bytes(self) -> bytes:
        """The decoded payload bytes. UNVERIFIED: use verify() before trusting them."""
        return b64decode(self.payload, "payload")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding; lengths are byte lengths in ASCII decimal."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sign(payload: bytes, payload_type: str, keys: Sequence[Ed25519PrivateKey]) -> Envelope:
    """Sign with one or more keys; keyid = synthspace.keys.key_id(key)."""
    if not keys:
        raise DSSEError("signing a DSSE envelope needs at least one private key")
    message = pae(payload_type, payload)
    return Envelope(
        payloadType=payload_type,
        payload=base64.b64encode(payload).decode("ascii"),
        signatures=[
            Signature(keyid=key_id(k), sig=base64.b64encode(k.sign(message)).decode("ascii")) for k in keys
        ],
    )


def verify(envelope: Envelope, trusted: Mapping[str, Ed25519PublicKey], threshold: int = 1) -> bytes:
    """Verify at least `threshold` distinct trusted keys signed PAE(type, payload).

    `trusted` maps key id -> public key. Returns the verified payload bytes; raises DSSEError
    (a VerificationError) otherwise. Nothing is parsed before verification.
    """
    if threshold < 1:
        raise DSSEError(f"threshold must be at least 1, got {threshold}")
    if threshold > len(trusted):
        raise DSSEError(f"threshold {threshold} exceeds the {len(trusted)} trusted key(s) given")
    payload = envelope.payload_bytes()
    message = pae(envelope.payloadType, payload)
    # Count distinct public keys, not signature entries or key ids: the same key listed twice,
    # or under two ids, must not satisfy a threshold of two.
    verified: set[bytes] = set()
    untrusted: list[str] = []
    for sig in envelope.signatures:
        if sig.keyid in trusted:
            candidates = [trusted[sig.keyid]]
        elif sig.keyid == "":  # the DSSE keyid is an optional hint; without it try every key
            candidates = list(trusted.values())
        else:
            untrusted.append(sig.keyid)
            continue
        try:
            raw_sig = b64decode(sig.sig, "signature")
        except DSSEError:
            continue
        for pub in candidates:
            raw_pub = raw_public_key(pub)
            if raw_pub in verified:
                continue
            try:
                pub.verify(raw_sig, message)
            except InvalidSignature:
                continue
            verified.add(raw_pub)
            break
    if len(verified) >= threshold:
        return payload
    detail = f"{len(verified)} valid signature(s) from trusted keys, {threshold} required"
    if untrusted:
        detail += f"; signed by untrusted key id(s) {', '.join(sorted(set(untrusted)))}"
    if not envelope.signatures:
        detail += "; the envelope has no signatures"
    raise DSSEError(f"DSSE envelope does not verify: {detail}")


_Payload = TypeVar("_Payload", bound=BaseModel)


def parse_verified_payload(
    envelope: Envelope,
    verified_payload: bytes,
    *,
    payload_type: str,
    model: type[_Payload],
    what: str,
    error: Callable[[str], Exception],
) -> _Payload:
    """The typed payload of an envelope whose signature `verify` accepted: its payloadType must
    be `payload_type` and its JSON must validate as `model`; otherwise `error(message)` is
    raised, the message naming `what` (e.g. "an agreement") and every field that failed."""
    if envelope.payloadType != payload_type:
        raise error(f"payloadType is {envelope.payloadType!r}, {what} has {payload_type!r}")
    try:
        return model.model_validate_json(verified_payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}" for e in exc.errors()
        )
        raise error(f"malformed {what.split(' ', 1)[1]} payload: {problems}") from None
