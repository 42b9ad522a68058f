"""FastAPI dependencies: the opened coordinator, a DB session, and RFC 9421 request auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from synthspace.coordinator.runtime import Coordinator
from synthspace.coordinator.services.auth import Principal, authenticate


def get_coordinator(request: Request) -> Coordinator:
    coord: Coordinator = request.app.state.coordinator
    return coord


CoordinatorDep = Annotated[Coordinator, Depends(get_coordinator)]


def get_session(coord: CoordinatorDep) -> Iterator[Session]:
    with coord.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def target_uri(request: Request, coord: Coordinator) -> str:
    """The URI the client signed: the public base URL when configured (behind a proxy)."""
    if coord.settings.public_url:
        base = coord.settings.public_url.rstrip("/")
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{base}{request.url.path}{query}"
    return str(request.url)


async def require_principal(request: Request, coord: CoordinatorDep) -> Principal:
    """Authenticate the request's RFC 9421 signature; 401 otherwise."""
    body = await request.body()
    return await run_in_threadpool(
        authenticate,
        coord.sessions,
        coord.nonces,
        method=request.method,
        target_uri=target_uri(request, coord),
        headers=request.headers,
        body=body,
        max_age_s=coord.settings.signature_max_age_s,
    )


PrincipalDep = Annotated[Principal, Depends(require_principal)]
