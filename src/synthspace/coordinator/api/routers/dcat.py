"""The catalog as DCAT-3 / Dataspace Protocol 2025-1 JSON-LD (signed, paged, visibility-filtered)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from synthspace.api_models import ErrorBody
from synthspace.coordinator import dcat
from synthspace.coordinator.api.deps import (
    CoordinatorDep,
    PrincipalDep,
    SessionDep,
    public_base_url,
)
from synthspace.coordinator.errors import InvalidRequestError
from synthspace.coordinator.services import catalog

router = APIRouter(
    prefix="/v1/dcat",
    tags=["catalog"],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)

_CATALOG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["@context", "@id", "@type", "dataset"],
    "properties": {
        "@context": {"type": "array", "description": "The DSP 2025-1 context, then prefixes."},
        "@id": {"type": "string"},
        "@type": {"type": "string", "const": "Catalog"},
        "participantId": {"type": "string"},
        "service": {"type": "array", "items": {"type": "object"}},
        "dataset": {
            "type": "array",
            "description": "DCAT Datasets, each with `hasPolicy` (ODRL Offer) and `distribution`.",
            "items": {"type": "object", "required": ["@id", "@type", "hasPolicy", "distribution"]},
        },
    },
}


@router.get(
    "",
    summary="The catalog as DCAT-3 JSON-LD (Dataspace Protocol 2025-1 Catalog), paged",
    description="Every active artifact the caller may see (the usage-policy visibility rule of "
    "`GET /v1/artifacts`), oldest first, as a DSP Catalog: each dataset has its signed usage "
    "policy as an ODRL Offer in `hasPolicy` and a `distribution` pointing at its data endpoint. "
    'When more pages follow, the response has a `Link: <...>; rel="next"` header.',
    response_class=JSONResponse,
    responses={
        200: {
            "content": {"application/ld+json": {"schema": _CATALOG_SCHEMA}},
            "headers": {
                "Link": {"description": 'rel="next": the next page', "schema": {"type": "string"}}
            },
        }
    },
)
def get_dcat(
    request: Request,
    principal: PrincipalDep,
    coord: CoordinatorDep,
    session: SessionDep,
    cursor: Annotated[
        str | None,
        Query(max_length=1000, description='From the previous page\'s Link rel="next".'),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, description="Page size (capped by the server's max page size).")
    ] = None,
) -> JSONResponse:
    max_size = coord.settings.max_page_size
    if limit is not None and limit > max_size:
        raise InvalidRequestError(
            f"limit {limit} exceeds the maximum page size {max_size}", code="limit_too_large"
        )
    size = limit or min(coord.settings.default_page_size, max_size)
    rows, next_cursor = catalog.catalog_page(session, viewer=principal, limit=size, cursor=cursor)
    base = public_base_url(request)
    headers = {}
    if next_cursor is not None:
        query = urlencode({"cursor": next_cursor, "limit": size})
        headers["Link"] = f'<{base}/v1/dcat?{query}>; rel="next"'
    policies = {r.artifact_id: catalog.policy_in_force(session, r) for r in rows}
    return JSONResponse(dcat.catalog(rows, base, policies), media_type="application/ld+json", headers=headers)
