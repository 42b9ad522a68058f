"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from synthspace import __version__
from synthspace.api_models import Health
from synthspace.coordinator.api.deps import CoordinatorDep, SessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Service and database are up")
def healthz(coord: CoordinatorDep, session: SessionDep) -> Health:
    return Health(status="ok", log_size=coord.log.size(session), version=__version__)
