"""Enrolment with a one-time token (the only write that needs no request signature)."""

from __future__ import annotations

from fastapi import APIRouter

from synthspace.api_models import EnrolRequest, ErrorBody, OrgRecord
from synthspace.coordinator.api.deps import CoordinatorDep, SessionDep
from synthspace.coordinator.services import orgs as org_service

router = APIRouter(prefix="/v1", tags=["enrolment"])


@router.post(
    "/enrol",
    response_model=OrgRecord,
    status_code=201,
    summary="Enrol an org with a one-time token and its public keys",
    responses={401: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def enrol(body: EnrolRequest, coord: CoordinatorDep, session: SessionDep) -> OrgRecord:
    org_service.enrol_org(
        session,
        coord.log,
        token=body.token,
        org=body.org,
        artifact_public_key=body.artifact_public_key,
        request_public_key=body.request_public_key,
        supernode_public_key=body.supernode_public_key,
        display_name=body.display_name,
        witness_key=body.witness_key,
        witness_url=body.witness_url,
    )
    return org_service.org_record(session, body.org)
