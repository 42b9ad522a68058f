"""RFC 9421 request authentication against enrolled request keys, with a DB nonce store."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from synthspace import http_signatures, keys
from synthspace.coordinator.errors import CoordinatorError, UnauthorizedError
from synthspace.coordinator.models import Org, OrgKey, RequestNonce, utcnow
from synthspace.coordinator.replay_cache import ReplayCache, check_nonce
from synthspace.errors import SynthspaceError
from synthspace.http_signatures import BodyDigest, HeaderSource

PRUNE_EVERY_S = 60.0
MAX_CACHED_KEYS = 100_000


@dataclass(frozen=True)
class Principal:
    """Who signed a request."""

    org: str
    key_id: str
    is_operator: bool


class NonceStore:
    """Remembers (keyid, nonce) pairs until well after their signatures would be stale anyway."""

    def __init__(self, sessions: sessionmaker[Session], retain_s: int) -> None:
        self._sessions = sessions
        self._retain = timedelta(seconds=retain_s)
        self._last_prune = 0.0
        self._lock = threading.Lock()

    def seen(self, key_id: str, nonce: str) -> bool:
        """Record the pair; True when it was already recorded (a replay)."""
        check_nonce(nonce)
        self._maybe_prune()
        with self._sessions() as session:
            session.add(
                RequestNonce(key_id=key_id, nonce=nonce, expires_at=utcnow() + self._retain)
            )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return True
        return False

    def prune(self) -> int:
        with self._sessions() as session:
            result = session.execute(delete(RequestNonce).where(RequestNonce.expires_at < utcnow()))
            session.commit()
            return int(getattr(result, "rowcount", 0) or 0)

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_prune < PRUNE_EVERY_S:
                return
            self._last_prune = now
        self.prune()


class RequestKeys:
    """Enrolled request keys by key id, each reused for `ttl_s` seconds after it was read.

    Only found, unrevoked keys are kept (an unknown key id is read again next time). `clear()`
    drops them all; the API calls it after any key change it makes, so a revocation through this
    server applies at once, and one made by another process within `ttl_s`.
    """

    def __init__(self, sessions: sessionmaker[Session], ttl_s: float) -> None:
        self._sessions = sessions
        self.ttl_s = ttl_s
        self._found: dict[str, tuple[float, tuple[str, str, bool]]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by clear(): a read that began before it is not kept

    def lookup(self, key_id: str) -> tuple[str, str, bool]:
        """(org, PEM, org is operator); UnauthorizedError for an unknown or revoked key."""
        now = time.monotonic()
        hit = self._found.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        found = _request_key(self._sessions, key_id)
        if self.ttl_s > 0:
            with self._lock:
                if generation != self._generation:
                    return found
                if len(self._found) >= MAX_CACHED_KEYS:
                    self._found = {k: v for k, v in self._found.items() if v[0] > now}
                if len(self._found) < MAX_CACHED_KEYS:
                    self._found[key_id] = (now + self.ttl_s, found)
        return found

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._found = {}


def authenticate_headers(
    request_keys: RequestKeys,
    nonces: ReplayCache,
    *,
    method: str,
    target_uri: str,
    headers: HeaderSource,
    max_age_s: int,
) -> tuple[Principal, BodyDigest]:
    """Verify an RFC 9421 signature by an enrolled, unrevoked request key from the headers alone.

    Returns the principal and the BodyDigest the caller must stream the body through and
    `check()` (see `body_digest_error`). Raises UnauthorizedError naming the problem.
    """
    resolved: dict[str, tuple[str, bool]] = {}
    headers = http_signatures.field_lines(headers)  # (looked up about eight times below)

    def resolve_key(keyid: str) -> Ed25519PublicKey:
        org, pem, is_operator = request_keys.lookup(keyid)
        resolved[keyid] = (org, is_operator)
        return public_key_from_pem(pem)

    try:
        present = [http_signatures.single_header(headers, h) for h in ("signature", "signature-input")]
    except SynthspaceError as exc:
        raise UnauthorizedError(str(exc), code="invalid_signature") from exc
    if None in present:
        raise UnauthorizedError(
            "this endpoint needs an RFC 9421 signed request (Signature and Signature-Input headers) "
            "from an enrolled request key",
            code="signature_required",
        )
    try:
        verified, digest = http_signatures.verify_request_headers(
            method,
            target_uri,
            headers,
            resolve_key,
            max_age_s=max_age_s,
            seen_nonce=nonces.seen,
        )
    except CoordinatorError:
        raise
    except SynthspaceError as exc:
        raise UnauthorizedError(str(exc), code="invalid_signature") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise UnauthorizedError(
            f"malformed signature headers: {exc}", code="invalid_signature"
        ) from exc
    if verified.nonce is None:
        raise UnauthorizedError(
            "signed requests must carry a nonce parameter", code="nonce_required"
        )
    found = resolved.get(verified.keyid)
    if found is None:  # verify_request_headers resolved it, so this only happens if it did not call us
        org, _, is_operator = request_keys.lookup(verified.keyid)
    else:
        org, is_operator = found
    return Principal(org=org, key_id=verified.keyid, is_operator=is_operator), digest


@lru_cache(maxsize=4096)
def public_key_from_pem(pem: str) -> Ed25519PublicKey:
    """Parsed public keys, cached by their PEM text (a pure function of it: never stale)."""
    return keys.load_public_key_pem(pem)


def _request_key(sessions: sessionmaker[Session], key_id: str) -> tuple[str, str, bool]:
    """(org, PEM, org is operator) of the enrolled, unrevoked request key `key_id`: one query
    (RequestKeys reuses the answer for a few seconds)."""
    with sessions() as session:
        row = session.execute(
            select(OrgKey.org_name, OrgKey.purpose, OrgKey.public_key_pem, OrgKey.revoked_at, Org.is_operator)
            .join(Org, Org.name == OrgKey.org_name)
            .where(OrgKey.key_id == key_id)
        ).one_or_none()
    if row is None or row.purpose != "request":
        raise UnauthorizedError(f"unknown request key {key_id}", code="unknown_key")
    if row.revoked_at is not None:
        raise UnauthorizedError(
            f"request key {key_id} was revoked at {row.revoked_at.isoformat()}", code="key_revoked"
        )
    return row.org_name, row.public_key_pem, bool(row.is_operator)


def check_body_digest(digest: BodyDigest) -> None:
    """The streamed body must match the signed Content-Digest; UnauthorizedError otherwise."""
    try:
        digest.check()
    except SynthspaceError as exc:
        raise UnauthorizedError(str(exc), code="invalid_signature") from exc
