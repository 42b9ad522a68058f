"""Organisations and key rotation/revocation (signed by the org's request key, or the operator)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from synthspace.api_models import (
    HEX64_PATTERN,
    ORG_PATTERN,
    ErrorBody,
    KeyAddRequest,
    KeyRevokeRequest,
    OrgKey,
    OrgList,
    OrgRecord,
)
from synthspace.coordinator.api.deps import CoordinatorDep, PrincipalDep, SessionDep
from synthspace.coordinator.errors import ForbiddenError
from synthspace.coordinator.services import orgs as org_service
from synthspace.coordinator.services.auth import Principal

router = APIRouter(prefix="/v1/orgs", tags=["orgs"], responses={401: {"model": ErrorBody}})

OrgName = Annotated[str, Path(pattern=ORG_PATTERN, description="Organisation name.")]
KeyId = Annotated[str, Path(pattern=HEX64_PATTERN, description="Key id (hex sha256).")]


def _may_manage(principal: Principal, org: str) -> None:
    if principal.org != org and not principal.is_operator:
        raise ForbiddenError(f"{principal.org!r} may not manage the keys of {org!r}")


@router.get("", response_model=OrgList, summary="Enrolled organisations with their keys")
def list_orgs(_: PrincipalDep, session: SessionDep) -> OrgList:
    return OrgList(orgs=org_service.list_orgs(session))


@router.get(
    "/{org}",
    response_model=OrgRecord,
    summary="One organisation, its keys and their validity periods",
)
def get_org(org: OrgName, _: PrincipalDep, session: SessionDep) -> OrgRecord:
    return org_service.org_record(session, org)


@router.post(
    "/{org}/keys", response_model=OrgKey, status_code=201, summary="Add or rotate in a key (logged)"
)
def add_key(
    org: OrgName,
    body: KeyAddRequest,
    principal: PrincipalDep,
    coord: CoordinatorDep,
    session: SessionDep,
) -> OrgKey:
    _may_manage(principal, org)
    key = org_service.add_key(
        session, coord.log, org, body.purpose, body.public_key_pem, body.revoke_previous, body.witness_url
    )
    coord.request_keys.clear()  # a rotation may have revoked request keys
    coord.artifact_keys.clear()
    return org_service.key_out(key)


@router.post("/{org}/keys/{key_id}/revoke", response_model=OrgKey, summary="Revoke a key (logged)")
def revoke_key(
    org: OrgName,
    key_id: KeyId,
    body: KeyRevokeRequest,
    principal: PrincipalDep,
    coord: CoordinatorDep,
    session: SessionDep,
) -> OrgKey:
    _may_manage(principal, org)
    key = org_service.revoke_key(
        session, coord.log, org, key_id, body.reason, operator=principal.is_operator
    )
    coord.request_keys.clear()
    coord.artifact_keys.clear()
    return org_service.key_out(key)
