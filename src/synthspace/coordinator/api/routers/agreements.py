"""Agreements: a consumer signs an artifact's policy before its data is served; each is logged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from synthspace.api_models import HEX64_PATTERN, AgreementEnvelope, AgreementReceipt, ErrorBody
from synthspace.coordinator.api.deps import CoordinatorDep, PrincipalDep, SessionDep
from synthspace.coordinator.api.threads import run_blocking
from synthspace.coordinator.services import agreements as service

router = APIRouter(
    prefix="/v1/agreements",
    tags=["agreements"],
    responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)

AgreementId = Annotated[
    str, Path(pattern=HEX64_PATTERN, description="Hex sha256 of the agreement envelope.")
]


@router.post(
    "",
    response_model=AgreementReceipt,
    status_code=201,
    summary="Sign an artifact's usage policy: checked, logged as an `agreement` entry, answered with a receipt",
    responses={400: {"model": ErrorBody}, 403: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
async def submit(
    body: AgreementEnvelope, request: Request, principal: PrincipalDep, coord: CoordinatorDep
) -> AgreementReceipt:
    raw = (
        await request.body()
    )  # the digest is over the bytes as submitted (the model checked their shape)

    def run() -> AgreementReceipt:
        with coord.session() as session:
            return service.record_agreement(session, coord.log, principal, raw)

    return await run_blocking(run)


@router.get(
    "/{agreement_id}",
    summary="The agreement's DSSE envelope exactly as submitted (consumer, publisher, operator)",
    response_class=Response,
)
def get_agreement(
    agreement_id: AgreementId, principal: PrincipalDep, session: SessionDep
) -> Response:
    row, _ = service.get_agreement(session, agreement_id, principal)
    return Response(content=bytes(row.envelope), media_type="application/json")


@router.get(
    "/{agreement_id}/receipt",
    response_model=AgreementReceipt,
    summary="The agreement's log entry with an inclusion proof and checkpoint",
)
def get_receipt(
    agreement_id: AgreementId, principal: PrincipalDep, coord: CoordinatorDep, session: SessionDep
) -> AgreementReceipt:
    row, _ = service.get_agreement(session, agreement_id, principal)
    return service.receipt_for(session, coord.log, row)
