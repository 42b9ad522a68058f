"""FastAPI dependencies: the opened coordinator, a DB session, and RFC 9421 request auth."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import IO, Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.types import Message

from synthspace.coordinator.api.threads import run_blocking
from synthspace.coordinator.runtime import Coordinator
from synthspace.coordinator.services.auth import Principal, authenticate_headers, check_body_digest


async def get_coordinator(request: Request) -> Coordinator:
    # (async: FastAPI would run a plain function in the thread pool, a hop per request)
    coord: Coordinator = request.app.state.coordinator
    return coord


CoordinatorDep = Annotated[Coordinator, Depends(get_coordinator)]


def get_session(coord: CoordinatorDep) -> Iterator[Session]:
    with coord.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def public_base_url(request: Request) -> str:
    """The coordinator's own base URL: `public_url`, else the address it listens on.

    Never taken from the request's Host header, so a signature made for another host never
    verifies here and links the server writes cannot be steered by a client.
    """
    base: str = request.app.state.base_url
    return base


def target_uri(request: Request, coord: Coordinator) -> str:
    """The URI the client signed: the coordinator's base URL plus the request's path and query."""
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public_base_url(request)}{request.url.path}{query}"


SPOOL_IN_MEMORY_BYTES = 1024 * 1024


async def require_principal(request: Request, coord: CoordinatorDep) -> AsyncIterator[Principal]:
    """Authenticate the request's RFC 9421 signature; 401 otherwise.

    The signature is checked from the headers before any body byte is read (an unsigned upload is
    refused at once); then the body streams through the Content-Digest check into a spooled file
    that the endpoint reads as the request body.
    """
    principal, digest = await run_blocking(
        authenticate_headers,
        coord.request_keys,
        coord.nonces,
        method=request.method,
        target_uri=target_uri(request, coord),
        headers=request.headers,
        max_age_s=coord.settings.signature_max_age_s,
    )
    if hasattr(request, "_body"):  # FastAPI already read a declared JSON body (size-limited)
        digest.update(request._body)
        check_body_digest(digest)
        yield principal
        return
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES) as spool:
        async for chunk in request.stream():
            digest.update(chunk)
            spool.write(chunk)
            size += len(chunk)
        check_body_digest(digest)
        spool.seek(0)
        _replay_body(request, spool, in_memory=size <= SPOOL_IN_MEMORY_BYTES)
        yield principal


def _replay_body(request: Request, spool: IO[bytes], *, in_memory: bool) -> None:
    """Make the endpoint read the verified bytes from `spool` as the request body (from a
    spool still in memory directly: a thread-pool hop per chunk costs more than the copy)."""

    async def receive() -> Message:
        if in_memory:
            chunk = spool.read(64 * 1024)
        else:
            chunk = await run_blocking(spool.read, 64 * 1024)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunk)}

    request._receive = receive
    request._stream_consumed = False


PrincipalDep = Annotated[Principal, Depends(require_principal)]
