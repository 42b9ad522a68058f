"""Public, unauthenticated reads of the transparency log."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from synthspace.api_models import ConsistencyProof, InclusionProof, LogEntries, LogEntryOut
from synthspace.coordinator.api.deps import CoordinatorDep, SessionDep
from synthspace.coordinator.errors import InvalidRequestError

router = APIRouter(prefix="/v1/log", tags=["log"])

MAX_INDEX = 2**62
Index = Annotated[int, Query(ge=0, le=MAX_INDEX, description="Leaf index or tree size.")]


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    summary="Signed checkpoint of the current tree (C2SP note)",
)
def checkpoint(coord: CoordinatorDep, session: SessionDep) -> PlainTextResponse:
    return PlainTextResponse(coord.log.checkpoint(session), media_type="text/plain; charset=utf-8")


@router.get(
    "/verifier-key",
    response_class=PlainTextResponse,
    summary="Verifier key of the log (name+hash+base64 key)",
)
def verifier_key(coord: CoordinatorDep) -> PlainTextResponse:
    return PlainTextResponse(
        coord.log.verifier_key() + "\n", media_type="text/plain; charset=utf-8"
    )


@router.get(
    "/entries",
    response_model=LogEntries,
    summary="Entries start..end-1 (canonical leaf bytes, base64)",
)
def entries(coord: CoordinatorDep, session: SessionDep, start: Index, end: Index) -> LogEntries:
    size = coord.log.size(session)
    if end < start:
        raise InvalidRequestError(
            f"end ({end}) must not be below start ({start})", code="bad_range"
        )
    if end > size:
        raise InvalidRequestError(
            f"end ({end}) is beyond the log's size ({size})", code="bad_range"
        )
    cap = coord.settings.max_log_entries_per_request
    if end - start > cap:
        raise InvalidRequestError(
            f"at most {cap} entries per request; page with start/end", code="bad_range"
        )
    leaves = coord.log.leaves(session, start, end)
    return LogEntries(
        entries=[
            LogEntryOut(index=leaf.idx, leaf=base64.b64encode(bytes(leaf.leaf)).decode())
            for leaf in leaves
        ]
    )


@router.get("/proof/inclusion", response_model=InclusionProof, summary="RFC 9162 inclusion proof")
def inclusion(
    coord: CoordinatorDep, session: SessionDep, index: Index, size: Index
) -> InclusionProof:
    hashes = coord.log.inclusion_proof(session, index, size)
    return InclusionProof(index=index, size=size, hashes=[h.hex() for h in hashes])


@router.get(
    "/proof/consistency", response_model=ConsistencyProof, summary="RFC 9162 consistency proof"
)
def consistency(
    coord: CoordinatorDep, session: SessionDep, first: Index, second: Index
) -> ConsistencyProof:
    hashes = coord.log.consistency_proof(session, first, second)
    return ConsistencyProof(first=first, second=second, hashes=[h.hex() for h in hashes])
