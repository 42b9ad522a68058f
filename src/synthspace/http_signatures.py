"""HTTP Message Signatures (RFC 9421) with alg ed25519, and Content-Digest (RFC 9530).

Covered components: "@method", "@target-uri", "content-digest"; parameters created, expires,
keyid, nonce, alg="ed25519". Signature label "sig1".
The client side is an httpx.Auth; the server side is a framework-free verify function the
coordinator calls from a FastAPI dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def content_digest(body: bytes) -> str:
    """'sha-256=:<base64>:' per RFC 9530."""
    raise NotImplementedError


@dataclass(frozen=True)
class VerifiedRequest:
    keyid: str
    created: int
    expires: int | None
    nonce: str | None


class Ed25519RequestAuth(httpx.Auth):
    """httpx auth hook: adds Content-Digest, Signature-Input and Signature to each request."""

    requires_request_body = True

    def __init__(self, key: Ed25519PrivateKey, keyid: str | None = None, lifetime_s: int = 300) -> None:
        raise NotImplementedError


def verify_request(
    method: str,
    target_uri: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve_key: Callable[[str], Ed25519PublicKey],
    now: int | None = None,
    max_age_s: int = 300,
    seen_nonce: Callable[[str, str], bool] | None = None,
) -> VerifiedRequest:
    """Verify a signed request; raises HTTPSignatureError (a VerificationError) naming the problem.

    `resolve_key(keyid)` returns the key or raises (unknown/revoked keys). `seen_nonce(keyid, nonce)`
    returns True if the pair was already used (the call also records it). The Content-Digest
    header must match `body`.
    """
    raise NotImplementedError
