"""Retraction: withdraw an artifact with a reason, as a new log entry. Nothing is deleted."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from synthspace.coordinator.errors import ConflictError, ForbiddenError, NotFoundError
from synthspace.coordinator.log_store import TransparencyLog
from synthspace.coordinator.models import Artifact, utcnow
from synthspace.coordinator.services.auth import Principal
from synthspace.coordinator.services.catalog import visible_to
from synthspace.log_entries import RetractEntry


def retract_artifact(
    session: Session,
    log: TransparencyLog,
    artifact_id: str,
    reason: str,
    *,
    by: Literal["publisher", "operator"],
    org: str | None = None,
) -> Artifact:
    """Retract `artifact_id`. A publisher (`by="publisher"`, `org` = the caller) may retract only
    its own artifacts; the operator may retract any. Commits; raises 404/403/409 errors."""
    reason = reason.strip()
    if not reason:
        raise ConflictError("a retraction needs a reason", code="reason_required")
    now = utcnow()
    with log.writer(session) as state:
        row = session.get(Artifact, artifact_id)
        if row is not None and by == "publisher" and row.org_name != org:
            # An org that may not see the artifact gets the unknown-id 404 (no existence leak).
            viewer = Principal(org=org or "", key_id="", is_operator=False)
            seen = select(Artifact.artifact_id).where(
                Artifact.artifact_id == artifact_id, visible_to(viewer)
            )
            if session.scalar(seen) is None:
                row = None
        if row is None:
            raise NotFoundError(
                f"artifact {artifact_id} is not in the catalog", code="unknown_artifact"
            )
        if by == "publisher" and row.org_name != org:
            raise ForbiddenError(
                f"artifact {artifact_id} belongs to {row.org_name!r}; only its publisher or the operator may retract it"
            )
        if row.retracted_at is not None:
            raise ConflictError(
                f"artifact {artifact_id} was already retracted at {row.retracted_at.isoformat()}",
                code="already_retracted",
            )
        entry = RetractEntry(
            time=now, org=row.org_name, artifact_id=artifact_id, reason=reason, by=by
        )
        appended = log.append(session, state, entry)
        row.retracted_at = now
        row.retraction_reason = reason
        row.retracted_by = by
        row.retract_log_index = appended.index
        session.commit()
    return row
