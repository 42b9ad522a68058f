"""Agreements: check a consumer's signed agreement against the artifact's policy, log it, and
tell the data endpoint whether an org has agreed (docs/governance.md, "Agreements").

One rule per concern: permission is `policy.decide` (through `agreement.agreement_problem`),
visibility is `catalog.visible_to`. Every refusal is a 4xx with its own code.
"""

from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from synthspace import dsse
from synthspace.agreement import (
    DATA_ACTIONS,
    FRESHNESS,
    MAX_ENVELOPE_BYTES,
    AgreementError,
    AgreementPayload,
    agreement_problem,
    parse_agreement,
)
from synthspace.api_models import AgreementReceipt, AgreementRecord, InclusionProof
from synthspace.canonical_json import sha256_hex
from synthspace.coordinator.errors import (
    ConflictError,
    CoordinatorError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
)
from synthspace.coordinator.log_store import TransparencyLog
from synthspace.coordinator.models import (
    Agreement,
    Artifact,
    LogLeaf,
    OrgKey,
    PolicyVersionRow,
    utcnow,
)
from synthspace.coordinator.services.auth import Principal
from synthspace.coordinator.services.catalog import get_artifact, policy_in_force, signed_policy
from synthspace.coordinator.services.orgs import verify_with_artifact_key
from synthspace.errors import SynthspaceError
from synthspace.log_entries import AgreementEntry
from synthspace.policy import UseRequest, decide

_STATUS = {
    "invalid_agreement": InvalidRequestError,
    "agreement_signature_invalid": ForbiddenError,
    "agreement_wrong_key": ForbiddenError,
    "agreement_wrong_org": ForbiddenError,
    "policy_mismatch": ConflictError,
    "policy_expired": ForbiddenError,
    "purpose_not_permitted": ForbiddenError,
    "not_permitted": ForbiddenError,
    "agreement_replayed": ConflictError,
    "agreement_stale": ConflictError,
    "artifact_retracted": ConflictError,
    "policy_withdrawn": ForbiddenError,
}


def _error(exc: AgreementError) -> CoordinatorError:
    return _STATUS.get(exc.code, ForbiddenError)(str(exc), code=exc.code)


def _verify_signature(
    session: Session, envelope: dsse.Envelope, org: str, now: datetime
) -> tuple[str, bytes]:
    """(signing key id, verified payload): an artifact key of `org` active now must have signed."""
    verified = verify_with_artifact_key(session, envelope, org, now)
    if verified is not None:
        return verified
    keyids = [s.keyid for s in envelope.signatures]
    other = session.scalars(
        select(OrgKey).where(OrgKey.key_id.in_(keyids), OrgKey.org_name != org)
    ).first()
    if other is not None:
        raise AgreementError(
            f"the agreement is signed by a key of {other.org_name!r}; sign with {org!r}'s own artifact key",
            "agreement_wrong_key",
        )
    raise AgreementError(
        f"the agreement's signature does not verify against an active artifact key of {org!r}",
        "agreement_signature_invalid",
    )


def record_agreement(
    session: Session, log: TransparencyLog, principal: Principal, envelope_json: bytes
) -> AgreementReceipt:
    """Check the agreement `principal` submitted and append its `agreement` entry. Commits."""
    try:
        return _record(session, log, principal, envelope_json)
    except AgreementError as exc:
        raise _error(exc) from None


def _record(
    session: Session, log: TransparencyLog, principal: Principal, envelope_json: bytes
) -> AgreementReceipt:
    if len(envelope_json) > MAX_ENVELOPE_BYTES:
        raise AgreementError(
            f"an agreement envelope is at most {MAX_ENVELOPE_BYTES} bytes", "invalid_agreement"
        )
    try:
        envelope = dsse.Envelope.from_json(envelope_json)
    except SynthspaceError as exc:
        raise AgreementError(str(exc), "invalid_agreement") from None
    now = utcnow()
    key_id, payload_bytes = _verify_signature(session, envelope, principal.org, now)
    payload = parse_agreement(envelope, payload_bytes)
    if payload.org != principal.org:
        raise AgreementError(
            f"the agreement names org {payload.org!r} but {principal.org!r} submitted it",
            "agreement_wrong_org",
        )
    if abs(now - payload.time) > FRESHNESS:
        raise AgreementError(
            f"the agreement was signed at {payload.time.isoformat()}, more than "
            f"{int(FRESHNESS.total_seconds())} s from the coordinator's time {now.isoformat()}: sign a new one",
            "agreement_stale",
        )
    digest = sha256_hex(envelope_json)
    with log.writer(session) as state:
        if session.get(Agreement, digest) is not None:
            raise AgreementError(
                f"agreement {digest} was already logged (a replay)", "agreement_replayed"
            )
        row = get_artifact(session, payload.artifact_id, viewer=principal)
        if row.retracted_at is not None:
            raise AgreementError(
                f"artifact {row.artifact_id} was retracted; it cannot be agreed to",
                "artifact_retracted",
            )
        if row.policy_withdrawn_at is not None:
            raise AgreementError(
                f"the publisher withdrew the usage policy of {row.artifact_id} at "
                f"{row.policy_withdrawn_at.isoformat()}; it cannot be agreed to",
                "policy_withdrawn",
            )
        problem = agreement_problem(
            payload,
            artifact_id=row.artifact_id,
            policy=policy_in_force(session, row),
            publisher=row.org_name,
            now=now,
        )
        if problem is not None:
            raise problem
        entry = AgreementEntry(
            time=now,
            org=principal.org,
            artifact_id=row.artifact_id,
            envelope_sha256=digest,
            key_id=key_id,
            policy_sha256=payload.policy_sha256,
            action=payload.action,
            purpose=payload.purpose,
            signed_time=payload.time,
        )
        appended = log.append(session, state, entry)
        agreement = Agreement(
            envelope_sha256=digest,
            artifact_id=row.artifact_id,
            org_name=principal.org,
            key_id=key_id,
            action=payload.action,
            purpose=payload.purpose,
            policy_sha256=payload.policy_sha256,
            signed_at=payload.time,
            logged_at=now,
            log_index=appended.index,
            envelope=envelope_json,
        )
        session.add(agreement)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise AgreementError(
                f"agreement {digest} was already logged (a replay)", "agreement_replayed"
            ) from None
    return receipt_for(session, log, agreement)


def record(a: Agreement) -> AgreementRecord:
    return AgreementRecord(
        agreement_id=a.envelope_sha256,
        artifact_id=a.artifact_id,
        org=a.org_name,
        key_id=a.key_id,
        action=a.action,
        purpose=a.purpose,
        policy_sha256=a.policy_sha256,
        signed_at=a.signed_at,
        logged_at=a.logged_at,
        log_index=a.log_index,
    )


def receipt_for(session: Session, log: TransparencyLog, a: Agreement) -> AgreementReceipt:
    size = a.log_index + 1
    leaf = session.execute(select(LogLeaf.leaf).where(LogLeaf.idx == a.log_index)).scalar_one()
    proof = log.inclusion_proof(session, a.log_index, size)
    return AgreementReceipt(
        **record(a).model_dump(),
        entry_leaf=base64.b64encode(bytes(leaf)).decode("ascii"),
        inclusion_proof=InclusionProof(
            index=a.log_index, size=size, hashes=[h.hex() for h in proof]
        ),
        checkpoint=log.checkpoint(session, size),
    )


def _may_read(a: Agreement, publisher: str, viewer: Principal) -> bool:
    return viewer.is_operator or viewer.org in (a.org_name, publisher)


def get_agreement(session: Session, agreement_id: str, viewer: Principal) -> tuple[Agreement, str]:
    """The agreement and its artifact's publisher; 404 for anyone but the consumer, the
    publisher and the operator (the log entry itself stays public)."""
    found = session.execute(
        select(Agreement, Artifact.org_name)
        .join(Artifact, Artifact.artifact_id == Agreement.artifact_id)
        .where(Agreement.envelope_sha256 == agreement_id)
    ).one_or_none()
    if found is None or not _may_read(found[0], found[1], viewer):
        raise NotFoundError(f"agreement {agreement_id} is not known", code="unknown_agreement")
    return found[0], found[1]


def list_agreements(
    session: Session, artifact_id: str, viewer: Principal, limit: int = 1000
) -> list[AgreementRecord]:
    """The publisher and the operator see every agreement to the artifact; others their own."""
    row = get_artifact(session, artifact_id, viewer=viewer)
    q = select(Agreement).where(Agreement.artifact_id == artifact_id)
    if not viewer.is_operator and viewer.org != row.org_name:
        q = q.where(Agreement.org_name == viewer.org)
    return [record(a) for a in session.scalars(q.order_by(Agreement.log_index).limit(limit))]


def _refuse_withdrawn(row: Artifact) -> None:
    if row.policy_withdrawn_at is not None:
        raise ForbiddenError(
            f"the publisher withdrew the usage policy of {row.artifact_id} at "
            f"{row.policy_withdrawn_at.isoformat()}: its data is no longer served",
            code="policy_withdrawn",
        )


def require_agreement(session: Session, row: Artifact, viewer: Principal) -> None:
    """Before data is served: the publisher and the operator never need an agreement; any
    other org needs a logged agreement (action use, train, evaluate or derive: each needs the
    bytes) whose terms the policy still permits now."""
    if viewer.is_operator or viewer.org == row.org_name:
        return
    agreements = list(
        session.scalars(
            select(Agreement)
            .where(
                Agreement.artifact_id == row.artifact_id,
                Agreement.org_name == viewer.org,
                Agreement.action.in_(DATA_ACTIONS),
            )
            .order_by(Agreement.log_index.desc())
            .limit(50)
        )
    )
    if not agreements:
        raise ForbiddenError(
            f"{viewer.org!r} has no logged agreement to use artifact {row.artifact_id}: sign one first "
            f"(`synthspace catalog agree {row.artifact_id} --purpose PURPOSE`, or POST /v1/agreements)",
            code="agreement_required",
        )
    _refuse_withdrawn(row)
    policy = policy_in_force(session, row)
    # An agreement to an earlier version still counts while the policy in force (which only
    # ever restricts its predecessors) permits its terms now.
    chain = {signed_policy(row).digest()} | set(
        session.scalars(select(PolicyVersionRow.policy_sha256).where(PolicyVersionRow.artifact_id == row.artifact_id))
    )

    first: AgreementError | None = None
    now = utcnow()
    for a in agreements:
        terms = AgreementPayload(
            artifact_id=a.artifact_id,
            policy_sha256=policy.digest() if a.policy_sha256 in chain else a.policy_sha256,
            org=a.org_name,
            action=a.action,  # type: ignore[arg-type]  # one of DATA_ACTIONS (the query's filter)
            purpose=a.purpose,
            time=a.signed_at,
            nonce="0" * 32,
        )
        problem = agreement_problem(
            terms, artifact_id=row.artifact_id, policy=policy, publisher=row.org_name, now=now
        )
        if problem is None:
            return
        first = first or problem
    assert first is not None
    raise _error(first)


def require_permitted_without_agreement(session: Session, row: Artifact, viewer: Principal) -> None:
    """With `require_agreements = false`: the policy in force must still permit the org one of
    the data actions now (not withdrawn, not expired, not prohibited). Only a purpose term is
    left unchecked -- without an agreement nobody declared a purpose."""
    if viewer.is_operator or viewer.org == row.org_name:
        return
    _refuse_withdrawn(row)
    policy = policy_in_force(session, row)
    now = utcnow()
    reasons: list[str] = []
    for action in DATA_ACTIONS:
        decision = decide(policy, UseRequest(org=viewer.org, action=action, time=now, rounds=0), publisher=row.org_name)
        if decision.permitted or decision.failed == ("purpose",):
            return
        reasons.append(decision.reason)
    code = "policy_expired" if any("expired" in r for r in reasons) else "not_permitted"
    raise ForbiddenError(
        f"the usage policy of {row.artifact_id} permits {viewer.org!r} none of {', '.join(DATA_ACTIONS)} now: {reasons[0]}",
        code=code,
    )
