"""RFC 9421 request authentication against enrolled request keys, with a DB nonce store."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from synthspace.coordinator.errors import CoordinatorError, UnauthorizedError
from synthspace.coordinator.models import Org, RequestNonce, utcnow
from synthspace.coordinator.replay_cache import ReplayCache, check_nonce
from synthspace.coordinator.services.orgs import active_request_key
from synthspace.errors import SynthspaceError
from synthspace.http_signatures import BodyDigest, HeaderSource

PRUNE_EVERY_S = 60.0


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


def authenticate_headers(
    sessions: sessionmaker[Session],
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
    from synthspace import http_signatures, keys

    resolved: dict[str, str] = {}

    def resolve_key(keyid: str) -> Ed25519PublicKey:
        with sessions() as session:
            key = active_request_key(session, keyid)
            resolved[keyid] = key.org_name
            return keys.load_public_key_pem(key.public_key_pem)

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
    org = resolved.get(verified.keyid)
    if org is None:  # verify_request_headers resolved it, so this only happens if it did not call us
        with sessions() as session:
            org = active_request_key(session, verified.keyid).org_name
    with sessions() as session:
        record = session.get(Org, org)
        is_operator = bool(record and record.is_operator)
    return Principal(org=org, key_id=verified.keyid, is_operator=is_operator), digest


def check_body_digest(digest: BodyDigest) -> None:
    """The streamed body must match the signed Content-Digest; UnauthorizedError otherwise."""
    try:
        digest.check()
    except SynthspaceError as exc:
        raise UnauthorizedError(str(exc), code="invalid_signature") from exc
