"""Organisations and their keys: invitations, enrolment, rotation, revocation.

Every key change is a `KeyEntry` in the transparency log, appended in the same transaction
as the database change, so an auditor can replay which keys an org held at any log index.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.serialization import (
    load_pem_public_key,
    load_ssh_public_key,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from synthspace import dsse, keys
from synthspace.api_models import KeyPurpose, OrgRecord, is_org_name
from synthspace.api_models import OrgKey as OrgKeyOut
from synthspace.coordinator.errors import (
    ConflictError,
    ForbiddenError,
    InvalidArtifactError,
    InvalidRequestError,
    NotFoundError,
    UnauthorizedError,
)
from synthspace.coordinator.log_store import TransparencyLog
from synthspace.coordinator.models import Artifact, EnrolmentToken, LogState, Org, OrgKey, utcnow
from synthspace.errors import SynthspaceError
from synthspace.log_entries import KeyEntry
from synthspace.witness import (
    WitnessError,
    WitnessKey,
    check_witness_url,
    org_witness_key,
    witness_name_for,
)

TOKEN_PREFIX = "sst_"


class InvalidKeyError(InvalidArtifactError):
    code = "invalid_key"


def check_org_name(org: str) -> str:
    if not is_org_name(org):
        raise InvalidRequestError(
            f"invalid org name {org!r}: use 1-63 lowercase letters, digits and '-', starting with a letter or digit",
            code="invalid_org",
        )
    return org


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_invite(
    session: Session, org: str, ttl_s: int, now: datetime | None = None
) -> tuple[str, datetime]:
    """Create a one-time enrolment token for `org`; returns (token, expires_at). Only its hash is stored."""
    check_org_name(org)
    if ttl_s <= 0:
        raise InvalidRequestError("the token lifetime must be positive")
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=ttl_s)
    session.add(
        EnrolmentToken(
            token_sha256=token_hash(token), org_name=org, created_at=now, expires_at=expires
        )
    )
    session.commit()
    return token, expires


def ed25519_key_id(pem: str) -> str:
    """Key id of an Ed25519 PEM public key; raises InvalidKeyError when it is not one."""
    try:
        return keys.key_id(keys.load_public_key_pem(pem))
    except SynthspaceError as exc:
        raise InvalidKeyError(f"not an Ed25519 PEM public key: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise InvalidKeyError(f"not an Ed25519 PEM public key: {exc}") from exc


def supernode_key_id(text: str) -> str:
    """Flower SuperNode keys are ECDSA (PEM or OpenSSH); the id is sha256 of the stripped text."""
    data = text.strip().encode("utf-8")
    try:
        if data.startswith(b"-----BEGIN"):
            load_pem_public_key(data)
        else:
            load_ssh_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InvalidKeyError(
            f"supernode_public_key is neither a PEM nor an OpenSSH public key: {exc}"
        ) from exc
    return hashlib.sha256(data).hexdigest()


def witness_key_pem(org: str, vkey: str) -> str:
    """PEM of the Ed25519 key inside an org's witness vkey (named `<org>/witness`).

    Stored and logged as PEM like every Ed25519 key, so its key id follows the one rule; the
    vkey is rebuilt from (org, PEM). Raises InvalidKeyError on a malformed or misnamed vkey.
    """
    try:
        return keys.public_key_pem(org_witness_key(org, vkey).public_key)
    except (WitnessError, ValueError) as exc:
        raise InvalidKeyError(f"witness key: {exc}") from None


def witness_vkey(org: str, pem: str) -> str:
    """The C2SP vkey of an enrolled witness key (org and PEM as logged)."""
    return WitnessKey.for_key(witness_name_for(org), keys.load_public_key_pem(pem)).to_string()


def _witness_url(url: str | None) -> str:
    if not url:
        raise InvalidRequestError("a witness key needs its witness_url", code="invalid_witness_url")
    try:
        return check_witness_url(url)
    except WitnessError as exc:
        raise InvalidRequestError(str(exc), code="invalid_witness_url") from None


def _key_id_for(purpose: str, pem: str) -> str:
    return supernode_key_id(pem) if purpose == "supernode" else ed25519_key_id(pem)


def _add_key(
    session: Session,
    log: TransparencyLog,
    state: LogState,
    org: str,
    purpose: str,
    pem: str,
    now: datetime,
    witness_url: str | None = None,
) -> OrgKey:
    """Log and store one key; for purpose `witness`, `pem` is already the PEM of the vkey."""
    kid = _key_id_for(purpose, pem)
    existing = session.get(OrgKey, kid)
    if existing is not None and existing.revoked_at is not None:
        raise ConflictError(
            f"key {kid} was revoked at {existing.revoked_at.isoformat()}; a revoked key is never enrolled again: "
            "generate a new key",
            code="key_revoked",
        )
    if existing is not None:
        raise ConflictError(f"key {kid} is already enrolled; generate a new key", code="key_exists")
    text = pem.strip() + "\n"
    entry = KeyEntry.model_validate(
        {
            "time": now,
            "org": org,
            "type": "key-add",
            "key_id": kid,
            "purpose": purpose,
            "public_key_pem": text,
        }
    )
    appended = log.append(session, state, entry)
    key = OrgKey(
        key_id=kid,
        org_name=org,
        purpose=purpose,
        public_key_pem=text,
        witness_url=witness_url if purpose == "witness" else None,
        valid_from=now,
        added_log_index=appended.index,
    )
    session.add(key)
    return key


def _revoke(
    session: Session, log: TransparencyLog, state: LogState, key: OrgKey, reason: str, now: datetime
) -> None:
    entry = KeyEntry(
        time=now,
        org=key.org_name,
        type="key-revoke",
        key_id=key.key_id,
        purpose=key.purpose,  # type: ignore[arg-type]
        public_key_pem=key.public_key_pem,
    )
    appended = log.append(session, state, entry)
    key.revoked_at = now
    key.revoke_reason = reason
    key.revoked_log_index = appended.index


def _active_keys(session: Session, org: str, purpose: str | None = None) -> list[OrgKey]:
    q = select(OrgKey).where(OrgKey.org_name == org, OrgKey.revoked_at.is_(None))
    if purpose is not None:
        q = q.where(OrgKey.purpose == purpose)
    return list(session.execute(q).scalars())


def enrol_org(
    session: Session,
    log: TransparencyLog,
    *,
    token: str,
    org: str,
    artifact_public_key: str,
    request_public_key: str,
    supernode_public_key: str | None = None,
    display_name: str | None = None,
    witness_key: str | None = None,
    witness_url: str | None = None,
) -> Org:
    """Redeem an enrolment token: record the org and its keys (logged). Commits.

    A token issued for an org that is already enrolled re-enrols it: its active keys are
    revoked and the new ones added (recovery from lost keys, decided by the operator's invite).
    """
    check_org_name(org)
    # Validate keys before taking the log lock: bad input should not wait for writers.
    art_id = ed25519_key_id(artifact_public_key)
    req_id = ed25519_key_id(request_public_key)
    if art_id == req_id:
        raise InvalidKeyError("the artifact and request keys must be different keys")
    if supernode_public_key is not None:
        supernode_key_id(supernode_public_key)
    witness_pem = None
    if witness_key is not None:
        witness_pem = witness_key_pem(org, witness_key)
        witness_url = _witness_url(witness_url)
        if ed25519_key_id(witness_pem) in (art_id, req_id):
            raise InvalidKeyError("the witness key must differ from the artifact and request keys")
    elif witness_url is not None:
        raise InvalidRequestError("witness_url needs a witness_key", code="invalid_witness_url")
    now = utcnow()
    with log.writer(session) as state:
        record = session.get(EnrolmentToken, token_hash(token))
        if record is None or record.org_name != org:
            raise UnauthorizedError(
                "unknown enrolment token for this org; ask the operator for a new invite",
                code="invalid_token",
            )
        if record.used_at is not None:
            raise UnauthorizedError(
                "this enrolment token was already used; ask the operator for a new invite",
                code="token_used",
            )
        if record.expires_at <= now:
            raise UnauthorizedError(
                "this enrolment token has expired; ask the operator for a new invite",
                code="token_expired",
            )
        existing = session.get(Org, org)
        if existing is None:
            existing = Org(
                name=org, display_name=display_name or org, is_operator=False, enrolled_at=now
            )
            session.add(existing)
            session.flush()
        else:
            if existing.is_operator:
                raise ForbiddenError(
                    f"{org!r} is the operator org and cannot be enrolled over HTTP",
                    code="operator_org",
                )
            for key in _active_keys(session, org):
                _revoke(session, log, state, key, "re-enrolment", now)
            if display_name:
                existing.display_name = display_name
        _add_key(session, log, state, org, "artifact", artifact_public_key, now)
        _add_key(session, log, state, org, "request", request_public_key, now)
        if supernode_public_key is not None:
            _add_key(session, log, state, org, "supernode", supernode_public_key, now)
        if witness_pem is not None:
            _add_key(session, log, state, org, "witness", witness_pem, now, witness_url)
        record.used_at = now
        session.commit()
    return existing


def register_operator_org(
    session: Session,
    log: TransparencyLog,
    org: str,
    artifact_public_key: str,
    request_public_key: str,
) -> Org:
    """Enrol the coordinator's own org (done by `coordinator init`). Commits; idempotent."""
    check_org_name(org)
    now = utcnow()
    with log.writer(session) as state:
        existing = session.get(Org, org)
        if existing is not None:
            session.rollback()
            return existing
        record = Org(
            name=org,
            display_name=f"{org} (coordinator operator)",
            is_operator=True,
            enrolled_at=now,
        )
        session.add(record)
        session.flush()
        _add_key(session, log, state, org, "artifact", artifact_public_key, now)
        _add_key(session, log, state, org, "request", request_public_key, now)
        session.commit()
    return record


def add_key(
    session: Session,
    log: TransparencyLog,
    org: str,
    purpose: KeyPurpose,
    public_key_pem: str,
    revoke_previous: bool = False,
    witness_url: str | None = None,
) -> OrgKey:
    """Add (rotate in) a key for an enrolled org; optionally revoke its other keys of that purpose. Commits.

    A `witness` key arrives as its vkey (named `<org>/witness`) with the witness's URL.
    """
    if purpose == "witness":
        public_key_pem = witness_key_pem(org, public_key_pem)
        witness_url = _witness_url(witness_url)
    elif witness_url is not None:
        raise InvalidRequestError("witness_url only goes with purpose witness", code="invalid_witness_url")
    _key_id_for(purpose, public_key_pem)
    now = utcnow()
    with log.writer(session) as state:
        if session.get(Org, org) is None:
            raise NotFoundError(f"org {org!r} is not enrolled", code="unknown_org")
        previous = _active_keys(session, org, purpose) if revoke_previous else []
        key = _add_key(session, log, state, org, purpose, public_key_pem, now, witness_url)
        for old in previous:
            _revoke(session, log, state, old, f"rotated to {key.key_id}", now)
        session.commit()
    return key


def revoke_key(
    session: Session,
    log: TransparencyLog,
    org: str,
    key_id: str,
    reason: str,
    *,
    operator: bool = False,
) -> OrgKey:
    """Revoke one key of `org` (logged). Commits.

    An org may not revoke its last active request key over the API (it would lock itself
    out); the operator may (`synthspace coordinator revoke-key`).
    """
    now = utcnow()
    with log.writer(session) as state:
        key = session.get(OrgKey, key_id)
        if key is None or key.org_name != org:
            raise NotFoundError(f"org {org!r} has no key {key_id}", code="unknown_key")
        if key.revoked_at is not None:
            raise ConflictError(
                f"key {key_id} was already revoked at {key.revoked_at.isoformat()}",
                code="already_revoked",
            )
        if not operator and key.purpose == "request":
            others = [k for k in _active_keys(session, org, "request") if k.key_id != key_id]
            if not others:
                raise ConflictError(
                    "this is the org's last active request key; add a new one first (POST /v1/orgs/{org}/keys)",
                    code="last_request_key",
                )
        _revoke(session, log, state, key, reason or "revoked", now)
        session.commit()
    return key


def key_out(key: OrgKey) -> OrgKeyOut:
    return OrgKeyOut(
        key_id=key.key_id,
        purpose=key.purpose,  # type: ignore[arg-type]
        public_key_pem=key.public_key_pem,
        valid_from=key.valid_from,
        revoked_at=key.revoked_at,
        revoke_reason=key.revoke_reason,
        added_log_index=key.added_log_index,
        revoked_log_index=key.revoked_log_index,
        witness_key=witness_vkey(key.org_name, key.public_key_pem) if key.purpose == "witness" else None,
        witness_url=key.witness_url if key.purpose == "witness" else None,
    )


def org_record(session: Session, org: str) -> OrgRecord:
    record = session.get(Org, org)
    if record is None:
        raise NotFoundError(f"org {org!r} is not enrolled", code="unknown_org")
    keys = session.execute(
        select(OrgKey).where(OrgKey.org_name == org).order_by(OrgKey.added_log_index)
    ).scalars()
    count = session.execute(
        select(func.count()).select_from(Artifact).where(Artifact.org_name == org)
    ).scalar_one()
    return OrgRecord(
        org=record.name,
        display_name=record.display_name,
        is_operator=record.is_operator,
        enrolled_at=record.enrolled_at,
        keys=[key_out(k) for k in keys],
        artifact_count=int(count),
    )


def list_orgs(session: Session) -> list[OrgRecord]:
    names = session.execute(select(Org.name).order_by(Org.name)).scalars().all()
    return [org_record(session, n) for n in names]


def active_request_key(session: Session, key_id: str) -> OrgKey:
    """The enrolled, unrevoked request key `key_id`; raises UnauthorizedError otherwise."""
    key = session.get(OrgKey, key_id)
    if key is None or key.purpose != "request":
        raise UnauthorizedError(f"unknown request key {key_id}", code="unknown_key")
    if key.revoked_at is not None:
        raise UnauthorizedError(
            f"request key {key_id} was revoked at {key.revoked_at.isoformat()}", code="key_revoked"
        )
    return key


def active_witness(session: Session, org: str) -> OrgKey:
    """The org's newest unrevoked witness key; NotFoundError when it has none."""
    rows = [k for k in _active_keys(session, org, "witness")]
    if not rows:
        raise NotFoundError(f"org {org!r} has no active witness key enrolled", code="no_witness_key")
    return max(rows, key=lambda k: k.added_log_index)


class ArtifactKeys:
    """Each org's unrevoked artifact keys, read once and reused: no query per publish.

    A key's material and enrolment time never change, so a cached key can only be stale by a
    revocation, and the log writer decides that for every publish under its lock
    (`sequencer.integrate` refuses one whose key is revoked by then). A key id the cache does
    not hold (enrolled since) makes it read the org again, so a new key works at once.
    """

    def __init__(self, sessions: sessionmaker[Session], max_orgs: int = 100_000) -> None:
        self._sessions = sessions
        self._max_orgs = max_orgs
        self._by_org: dict[str, dict[str, tuple[str, datetime]]] = {}

    def valid_at(self, org: str, when: datetime, signer_ids: list[str]) -> dict[str, str]:
        """PEMs by key id of `org`'s artifact keys enrolled by `when` and not known revoked."""
        held = self._by_org.get(org)
        if held is None or not any(k in held for k in signer_ids):
            with self._sessions() as session:
                rows = session.execute(
                    select(OrgKey.key_id, OrgKey.public_key_pem, OrgKey.valid_from).where(
                        OrgKey.org_name == org,
                        OrgKey.purpose == "artifact",
                        OrgKey.revoked_at.is_(None),
                    )
                ).all()
            held = {r.key_id: (r.public_key_pem, r.valid_from) for r in rows}
            if held:  # (an unknown org is not kept)
                if len(self._by_org) >= self._max_orgs:
                    self._by_org = {}
                self._by_org[org] = held
        return {kid: pem for kid, (pem, valid_from) in held.items() if valid_from <= when}

    def forget(self, org: str) -> None:
        """Drop `org`'s keys (one of them was found revoked); the next publish reads them again."""
        self._by_org.pop(org, None)

    def clear(self) -> None:
        self._by_org = {}


def verify_with_artifact_key(
    session: Session, envelope: dsse.Envelope, org: str, now: datetime
) -> tuple[str, bytes] | None:
    """(key id, verified payload) when an artifact key of `org` active at `now` signed the
    envelope; None otherwise. What an org signs with its artifact key outside a publish
    (agreements, policy updates) is checked here."""
    for key in session.scalars(select(OrgKey).where(OrgKey.org_name == org, OrgKey.purpose == "artifact")):
        if not key.active_at(now):
            continue
        try:
            return key.key_id, dsse.verify(envelope, {key.key_id: keys.load_public_key_pem(key.public_key_pem)})
        except SynthspaceError:
            continue
    return None
