"""Publish, browse, download and retract artifacts."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.datastructures import UploadFile

from synthspace.api_models import (
    HEX64_PATTERN,
    ORG_PATTERN,
    AgreementList,
    ArtifactDetail,
    ArtifactKind,
    ArtifactPage,
    ArtifactSummary,
    ErrorBody,
    PolicyHistory,
    PolicyUpdateEnvelope,
    PolicyVersionRecord,
    Receipt,
    RetractRequest,
    SortOrder,
)
from synthspace.coordinator.api.deps import (
    CoordinatorDep,
    PrincipalDep,
    SessionDep,
    public_base_url,
)
from synthspace.coordinator.api.threads import run_blocking
from synthspace.coordinator.croissant import croissant_for
from synthspace.coordinator.errors import InvalidRequestError
from synthspace.coordinator.services import agreements, catalog, policy_versions
from synthspace.coordinator.services.retraction import retract_artifact

router = APIRouter(
    prefix="/v1/artifacts",
    tags=["artifacts"],
    responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)

ArtifactId = Annotated[
    str, Path(pattern=HEX64_PATTERN, description="Artifact id (hex sha256 of the DSSE payload).")
]
Text = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]

_MULTIPART_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["envelope", "data"],
                    "properties": {
                        "envelope": {
                            "type": "string",
                            "format": "binary",
                            "description": "DSSE envelope JSON.",
                        },
                        "data": {
                            "type": "string",
                            "format": "binary",
                            "description": "The artifact file (Parquet or safetensors).",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    response_model=Receipt,
    status_code=201,
    summary="Publish a signed artifact (multipart: envelope + data)",
    openapi_extra=_MULTIPART_SCHEMA,
    responses={403: {"model": ErrorBody}, 409: {"model": ErrorBody}, 413: {"model": ErrorBody}},
)
async def publish(request: Request, principal: PrincipalDep, coord: CoordinatorDep) -> Receipt:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequestError(
            "publish expects multipart/form-data with parts 'envelope' and 'data'",
            code="bad_multipart",
        )
    form = await request.form(
        max_files=4, max_fields=4, max_part_size=coord.settings.max_upload_bytes
    )
    try:
        envelope_part, data_part = form.get("envelope"), form.get("data")
        if envelope_part is None or data_part is None:
            raise InvalidRequestError(
                "multipart parts 'envelope' and 'data' are both required", code="bad_multipart"
            )
        if isinstance(envelope_part, UploadFile):
            envelope_bytes = await envelope_part.read()
        else:
            envelope_bytes = envelope_part.encode("utf-8")
        if not isinstance(data_part, UploadFile):
            raise InvalidRequestError(
                "send 'data' as a file part (with a filename)", code="bad_multipart"
            )

        return await run_blocking(coord.publish, principal.org, envelope_bytes, data_part.file)
    finally:
        await form.close()


@router.get(
    "", response_model=ArtifactPage, summary="List and search artifacts (cursor pagination)"
)
def list_artifacts(
    principal: PrincipalDep,
    coord: CoordinatorDep,
    session: SessionDep,
    org: Annotated[str | None, Query(pattern=ORG_PATTERN, description="Publisher org.")] = None,
    task: Annotated[
        str | None, Query(max_length=200, pattern=r"^[^\x00]*$", description="Recipe task.")
    ] = None,
    locale: Annotated[
        str | None, Query(max_length=35, pattern=r"^[^\x00]*$", description="Locale, e.g. ja_JP.")
    ] = None,
    license: Annotated[
        str | None, Query(max_length=100, pattern=r"^[^\x00]*$", description="SPDX license id.")
    ] = None,
    tag: Annotated[
        str | None, Query(max_length=100, pattern=r"^[^\x00]*$", description="Tag.")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200, pattern=r"^[^\x00]*$", description="Free text in title or description."
        ),
    ] = None,
    kind: Annotated[ArtifactKind | None, Query(description="Artifact kind.")] = None,
    created_after: Annotated[
        datetime | None, Query(description="Published at or after (ISO 8601).")
    ] = None,
    created_before: Annotated[
        datetime | None, Query(description="Published before (ISO 8601).")
    ] = None,
    status: Annotated[
        Literal["all", "active", "retracted"], Query(description="Retraction status filter.")
    ] = "all",
    sort: Annotated[SortOrder, Query(description="newest (default), oldest, or title.")] = "newest",
    cursor: Annotated[
        str | None, Query(max_length=1000, description="next_cursor of the previous page.")
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, description="Page size (capped by the server's max page size).")
    ] = None,
) -> ArtifactPage:
    max_size = coord.settings.max_page_size
    if limit is not None and limit > max_size:
        raise InvalidRequestError(
            f"limit {limit} exceeds the maximum page size {max_size}", code="limit_too_large"
        )
    return catalog.list_artifacts(
        session,
        viewer=principal,
        limit=limit or min(coord.settings.default_page_size, max_size),
        org=org,
        task=task,
        locale=locale,
        license=license,
        tag=tag,
        q=q,
        kind=kind,
        created_after=created_after,
        created_before=created_before,
        status=status,
        sort=sort,
        cursor=cursor,
    )


@router.get(
    "/{artifact_id}",
    response_model=ArtifactDetail,
    summary="An artifact with lineage, gates, parents and children",
)
def get_artifact(
    artifact_id: ArtifactId, principal: PrincipalDep, session: SessionDep
) -> ArtifactDetail:
    return catalog.artifact_detail(session, artifact_id, viewer=principal)


@router.get(
    "/{artifact_id}/envelope",
    summary="The DSSE envelope exactly as published",
    response_class=Response,
)
def get_envelope(artifact_id: ArtifactId, principal: PrincipalDep, session: SessionDep) -> Response:
    row = catalog.get_artifact(session, artifact_id, viewer=principal)
    return Response(content=bytes(row.envelope), media_type="application/json")


@router.get(
    "/{artifact_id}/data",
    summary="The artifact's file, streamed (other orgs than the publisher need a logged agreement, by default)",
    response_class=FileResponse,
    responses={403: {"model": ErrorBody}},
)
def get_data(
    artifact_id: ArtifactId, principal: PrincipalDep, coord: CoordinatorDep, session: SessionDep
) -> FileResponse:
    row = catalog.get_artifact(session, artifact_id, viewer=principal)
    if coord.settings.require_agreements:
        agreements.require_agreement(session, row, principal)
    else:
        agreements.require_permitted_without_agreement(session, row, principal)
    path = coord.blobs.path_for(row.subject_sha256)
    if not path.is_file():
        raise InvalidRequestError(
            f"the data of {artifact_id} is missing from the blob store", code="blob_missing"
        )
    media = {
        "model-adapter": "application/octet-stream",
        "evaluation": "application/json",
    }.get(row.kind, "application/vnd.apache.parquet")
    digest = base64.b64encode(bytes.fromhex(row.subject_sha256)).decode()
    return FileResponse(
        path,
        media_type=media,
        filename=row.subject_name,
        headers={"Repr-Digest": f"sha-256=:{digest}:"},
    )


@router.get(
    "/{artifact_id}/agreements",
    response_model=AgreementList,
    summary="Logged agreements to the artifact (publisher and operator: all; other orgs: their own)",
)
def list_agreements(
    artifact_id: ArtifactId, principal: PrincipalDep, session: SessionDep
) -> AgreementList:
    return AgreementList(agreements=agreements.list_agreements(session, artifact_id, principal))


@router.get(
    "/{artifact_id}/croissant",
    summary="Croissant 1.1 JSON-LD metadata with RAI fields and the usage policy",
)
def get_croissant(
    artifact_id: ArtifactId,
    request: Request,
    principal: PrincipalDep,
    coord: CoordinatorDep,
    session: SessionDep,
) -> JSONResponse:
    row = catalog.get_artifact(session, artifact_id, viewer=principal)
    base = public_base_url(request)
    doc = croissant_for(
        coord.blobs,
        row,
        f"{base}/v1/artifacts/{artifact_id}/data",
        f"{base}/v1/artifacts/{artifact_id}",
        base=base,
        policy=catalog.policy_in_force(session, row) if row.policy_version else None,
    )
    return JSONResponse(doc, media_type="application/ld+json")


@router.post(
    "/{artifact_id}/retract",
    response_model=ArtifactSummary,
    summary="Retract (publisher or operator); logged, nothing deleted",
)
def retract(
    artifact_id: ArtifactId,
    body: RetractRequest,
    principal: PrincipalDep,
    coord: CoordinatorDep,
    session: SessionDep,
) -> ArtifactSummary:
    row = retract_artifact(
        session,
        coord.log,
        artifact_id,
        body.reason,
        by="operator" if principal.is_operator else "publisher",
        org=principal.org,
    )
    return catalog.summary(row)


@router.get(
    "/{artifact_id}/policy",
    response_model=PolicyHistory,
    summary="The signed usage policy, its logged versions (with their signed envelopes) and the policy in force",
)
def get_policy(artifact_id: ArtifactId, principal: PrincipalDep, session: SessionDep) -> PolicyHistory:
    return policy_versions.policy_history(session, artifact_id, principal)


@router.post(
    "/{artifact_id}/policy",
    response_model=PolicyVersionRecord,
    status_code=201,
    summary="Restrict or withdraw the usage policy (publisher only, signed with its artifact key); logged as a `policy` entry",
    responses={400: {"model": ErrorBody}, 403: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
async def update_policy(
    artifact_id: ArtifactId,
    body: PolicyUpdateEnvelope,
    request: Request,
    principal: PrincipalDep,
    coord: CoordinatorDep,
) -> PolicyVersionRecord:
    raw = await request.body()  # the digest is over the bytes as submitted (the model checked their shape)

    def run() -> PolicyVersionRecord:
        with coord.session() as session:
            return policy_versions.record_policy_update(session, coord.log, principal, artifact_id, raw)

    return await run_blocking(run)
