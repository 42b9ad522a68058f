"""FastAPI application factory of the coordinator.

    app = create_app(CoordinatorSettings.load(home))

Other parts of synthspace.coordinator (web pages, federation) add routes through a
`register_routes(app, coordinator)` function in their package, called here when present.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from synthspace import __version__
from synthspace.coordinator.api.errors import install_error_handlers
from synthspace.coordinator.api.limits import LimitsMiddleware
from synthspace.coordinator.api.routers import artifacts, enrolment, health, log, orgs, tiles
from synthspace.coordinator.runtime import Coordinator
from synthspace.coordinator.settings import CoordinatorSettings
from synthspace.coordinator.witnessing import start_collector

logger = logging.getLogger("synthspace.coordinator")

PLUGIN_PACKAGES = ("synthspace.coordinator.web", "synthspace.coordinator.federated")


def create_app(settings: CoordinatorSettings, coordinator: Coordinator | None = None) -> FastAPI:
    """Open the coordinator (migrate + verify the log unless one is given) and build the app."""
    coord = coordinator or Coordinator.open(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        collector = start_collector(coord)
        yield
        if collector is not None:
            collector[1].set()
            collector[0].join(timeout=10)
        if coordinator is None:
            coord.close()

    app = FastAPI(
        title="synthspace coordinator",
        version=__version__,
        description="Catalog of signed synthetic-data artifacts with a verifiable transparency log.",
        lifespan=lifespan,
    )
    app.state.coordinator = coord
    install_error_handlers(app)
    app.add_middleware(
        LimitsMiddleware,
        max_body_bytes=settings.max_upload_bytes,
        body_timeout_s=settings.request_timeout_s,
    )
    for router in (health.router, log.router, tiles.router, enrolment.router, orgs.router, artifacts.router):
        app.include_router(router)
    for name in PLUGIN_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        except Exception:
            logger.exception("%s failed to import; serving the API without it", name)
            continue
        register = getattr(module, "register_routes", None)
        if callable(register):
            try:
                register(app, coord)
            except Exception:  # a broken optional part must not take the catalog API down
                logger.exception(
                    "routes of %s could not be registered; serving the API without them", name
                )
    return app
