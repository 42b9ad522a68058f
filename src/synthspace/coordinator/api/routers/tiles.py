"""Public, unauthenticated tile reads of the transparency log (C2SP tlog-tiles).

Prefix `/v1/log`: `/v1/log/tile/<L>/<N>[.p/<W>]`, `/v1/log/tile/entries/<N>[.p/<W>]`, and the
checkpoint at `/v1/log/checkpoint`. A tile's bytes never change, so it is served as immutable.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from synthspace import tlog_tiles
from synthspace.coordinator import log_tiles
from synthspace.coordinator.api.deps import CoordinatorDep, SessionDep
from synthspace.coordinator.errors import InvalidRequestError, NotFoundError
from synthspace.coordinator.witnessing import read_cosigned

router = APIRouter(prefix="/v1/log", tags=["log"])

IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


@router.get(
    "/tile/{path:path}",
    response_class=Response,
    summary="A hash tile or entry bundle (C2SP tlog-tiles)",
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def tile(path: str, coord: CoordinatorDep, session: SessionDep) -> Response:
    try:
        level, index, width = tlog_tiles.parse_tile_path(path)
    except tlog_tiles.TilePathError as exc:
        raise InvalidRequestError(str(exc), code="bad_tile_path") from None
    if level == "entries":
        data = log_tiles.entry_bundle(coord.log, session, index, width)
    else:
        assert isinstance(level, int)
        data = log_tiles.hash_tile(coord.log, session, level, index, width)
    return Response(data, media_type="application/octet-stream", headers=IMMUTABLE)


@router.get(
    "/cosigned-checkpoint",
    response_class=PlainTextResponse,
    summary="The latest checkpoint with the witnesses' cosignatures (C2SP tlog-cosignature)",
)
def cosigned_checkpoint(coord: CoordinatorDep) -> PlainTextResponse:
    note = read_cosigned(coord.settings)
    if note is None:
        raise NotFoundError("no checkpoint has been cosigned yet (no witnesses configured?)", code="not_cosigned")
    return PlainTextResponse(note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})
