"""DSSE envelopes (Dead Simple Signing Envelope v1) with Ed25519 signatures.

Envelope JSON: {"payloadType", "payload" (standard base64), "signatures": [{"keyid", "sig"}]}.
The signature is over PAE = "DSSEv1" SP len(type) SP type SP len(body) SP body.
Verification checks signatures over the exact payload bytes before anything parses them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class Signature(BaseModel):
    keyid: str
    sig: str


class Envelope(BaseModel):
    payloadType: str
    payload: str
    signatures: list[Signature]

    def to_json(self) -> bytes:
        """Compact, stable JSON bytes of the envelope."""
        raise NotImplementedError

    @classmethod
    def from_json(cls, data: bytes | str) -> Envelope:
        """Parse envelope JSON; raises DSSEError on malformed input or bad base64."""
        raise NotImplementedError


def pae(payload_type: str, payload: bytes) -> bytes:
    raise NotImplementedError


def sign(payload: bytes, payload_type: str, keys: Sequence[Ed25519PrivateKey]) -> Envelope:
    """Sign with one or more keys; keyid = synthspace.keys.key_id(key)."""
    raise NotImplementedError


def verify(envelope: Envelope, trusted: Mapping[str, Ed25519PublicKey], threshold: int = 1) -> bytes:
    """Verify at least `threshold` distinct trusted keys signed PAE(type, payload).

    `trusted` maps key id -> public key. Returns the verified payload bytes; raises DSSEError
    (a VerificationError) otherwise. Nothing is parsed before verification.
    """
    raise NotImplementedError
