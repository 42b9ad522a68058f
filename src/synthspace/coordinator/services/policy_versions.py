"""Policy versions: the policy in force for an artifact, and a publisher's signed restriction or
withdrawal of it, checked and logged as a `policy` entry (docs/governance.md, "Policy versions").

One rule per concern: what may follow what is `policy_versions.update_problem`; who sees the
artifact afterwards is `policy_versions.visibility_policy` stored as `visible_to_all` +
`artifact_assignees` (read by `catalog.visible_to`). Every refusal is a 4xx with its own code.
"""

from __future__ import annotations

import base64

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from synthspace import dsse
from synthspace.api_models import PolicyHistory, PolicyVersionRecord
from synthspace.canonical_json import sha256_hex
from synthspace.coordinator.errors import (
    ConflictError,
    CoordinatorError,
    ForbiddenError,
    InvalidRequestError,
)
from synthspace.coordinator.log_store import TransparencyLog
from synthspace.coordinator.models import (
    Artifact,
    ArtifactAssignee,
    PolicyVersionRow,
    utcnow,
)
from synthspace.coordinator.services.auth import Principal
from synthspace.coordinator.services.catalog import get_artifact, policy_in_force, signed_policy
from synthspace.coordinator.services.orgs import verify_with_artifact_key
from synthspace.errors import SynthspaceError
from synthspace.log_entries import PolicyEntry
from synthspace.policy import UsagePolicy, visible_orgs
from synthspace.policy_versions import (
    MAX_UPDATE_ENVELOPE_BYTES,
    MAX_VERSIONS,
    PolicyUpdateError,
    is_withdrawal,
    parse_policy_update,
    update_problem,
)

_STATUS: dict[str, type[CoordinatorError]] = {
    "invalid_policy_update": InvalidRequestError,
    "policy_update_signature_invalid": ForbiddenError,
    "not_publisher": ForbiddenError,
    "policy_withdrawn": ConflictError,
    "policy_mismatch": ConflictError,
    "policy_unchanged": ConflictError,
    "policy_widened": InvalidRequestError,
    "too_many_policy_versions": ConflictError,
    "artifact_retracted": ConflictError,
}


def _set_visibility(session: Session, row: Artifact, policy: UsagePolicy) -> None:
    orgs = visible_orgs(policy)
    row.visible_to_all = orgs is None
    session.execute(delete(ArtifactAssignee).where(ArtifactAssignee.artifact_id == row.artifact_id))
    if orgs:
        session.execute(insert(ArtifactAssignee), [{"artifact_id": row.artifact_id, "org_name": o} for o in orgs])


def record_policy_update(
    session: Session, log: TransparencyLog, principal: Principal, artifact_id: str, envelope_json: bytes
) -> PolicyVersionRecord:
    """Check a publisher's signed policy update for `artifact_id` and append its `policy` entry. Commits."""
    try:
        return _record(session, log, principal, artifact_id, envelope_json)
    except PolicyUpdateError as exc:
        raise _STATUS.get(exc.code, ForbiddenError)(str(exc), code=exc.code) from None


def _record(
    session: Session, log: TransparencyLog, principal: Principal, artifact_id: str, envelope_json: bytes
) -> PolicyVersionRecord:
    if len(envelope_json) > MAX_UPDATE_ENVELOPE_BYTES:
        raise PolicyUpdateError(
            f"a policy update envelope is at most {MAX_UPDATE_ENVELOPE_BYTES} bytes", "invalid_policy_update"
        )
    try:
        envelope = dsse.Envelope.from_json(envelope_json)
    except SynthspaceError as exc:
        raise PolicyUpdateError(str(exc), "invalid_policy_update") from None
    now = utcnow()
    digest = sha256_hex(envelope_json)
    with log.writer(session) as state:
        row = get_artifact(session, artifact_id, viewer=principal)  # 404 for the unseen
        if row.org_name != principal.org:
            raise PolicyUpdateError(
                f"only the publisher {row.org_name!r} may change the policy of {artifact_id}", "not_publisher"
            )
        if row.retracted_at is not None:
            raise PolicyUpdateError(
                f"artifact {artifact_id} was retracted; its policy no longer matters", "artifact_retracted"
            )
        verified = verify_with_artifact_key(session, envelope, principal.org, now)
        if verified is None:
            raise PolicyUpdateError(
                f"the policy update's signature does not verify against an active artifact key of {principal.org!r}",
                "policy_update_signature_invalid",
            )
        key_id, payload_bytes = verified
        payload = parse_policy_update(envelope, payload_bytes)
        problem = update_problem(
            payload,
            artifact_id=artifact_id,
            publisher=row.org_name,
            in_force=policy_in_force(session, row),
            withdrawn=row.policy_withdrawn_at is not None,
        )
        if problem is not None:
            raise problem
        if row.policy_version >= MAX_VERSIONS:
            raise PolicyUpdateError(
                f"artifact {artifact_id} already has {MAX_VERSIONS} policy versions", "too_many_policy_versions"
            )
        withdrawn = is_withdrawal(payload.policy)
        entry = PolicyEntry(
            time=now,
            org=row.org_name,
            artifact_id=artifact_id,
            policy_sha256=payload.policy.digest(),
            previous_policy_sha256=payload.previous_policy_sha256,
            withdrawn=withdrawn,
            envelope_sha256=digest,
            key_id=key_id,
        )
        appended = log.append(session, state, entry)
        version = PolicyVersionRow(
            envelope_sha256=digest,
            artifact_id=artifact_id,
            version=row.policy_version + 1,
            policy=payload.policy.model_dump(mode="json"),
            policy_sha256=entry.policy_sha256,
            previous_policy_sha256=entry.previous_policy_sha256,
            withdrawn=withdrawn,
            reason=payload.reason,
            key_id=key_id,
            signed_at=payload.time,
            logged_at=now,
            log_index=appended.index,
            envelope=envelope_json,
        )
        session.add(version)
        row.policy_version = version.version
        if withdrawn:
            row.policy_withdrawn_at = now
        else:
            _set_visibility(session, row, payload.policy)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise PolicyUpdateError(
                "another policy update of this artifact landed first: fetch the policy in force and sign again",
                "policy_mismatch",
            ) from None
    return _record_of(version)


def _record_of(v: PolicyVersionRow) -> PolicyVersionRecord:
    return PolicyVersionRecord(
        version=v.version,
        policy=v.policy,
        policy_sha256=v.policy_sha256,
        previous_policy_sha256=v.previous_policy_sha256,
        withdrawn=v.withdrawn,
        reason=v.reason,
        key_id=v.key_id,
        signed_at=v.signed_at,
        logged_at=v.logged_at,
        log_index=v.log_index,
        envelope=base64.b64encode(bytes(v.envelope)).decode("ascii"),
    )


def policy_history(session: Session, artifact_id: str, viewer: Principal | None) -> PolicyHistory:
    """The signed policy, every logged version (with its envelope, so an auditor re-checks the
    chain) and the policy in force; 404 for whoever may not see the artifact."""
    row = get_artifact(session, artifact_id, viewer=viewer)
    signed = signed_policy(row)
    versions = [
        _record_of(v)
        for v in session.scalars(
            select(PolicyVersionRow).where(PolicyVersionRow.artifact_id == artifact_id).order_by(PolicyVersionRow.version)
        )
    ]
    in_force = versions[-1].policy if versions else signed.model_dump(mode="json")
    return PolicyHistory(
        artifact_id=artifact_id,
        publisher=row.org_name,
        signed_policy=signed.model_dump(mode="json"),
        signed_policy_sha256=signed.digest(),
        versions=versions,
        in_force=in_force,
        in_force_sha256=versions[-1].policy_sha256 if versions else signed.digest(),
        withdrawn_at=row.policy_withdrawn_at,
    )

