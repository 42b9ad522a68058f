"""FastAPI application factory of the coordinator.

    app = create_app(CoordinatorSettings.load(home), bind_url="http://127.0.0.1:8600")

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
from synthspace.coordinator.api.routers import (
    agreements,
    artifacts,
    dcat,
    enrolment,
    health,
    log,
    orgs,
    tiles,
)
from synthspace.coordinator.runtime import Coordinator
from synthspace.coordinator.settings import CoordinatorSettings
from synthspace.coordinator.witnessing import start_collector
from synthspace.errors import ConfigError

logger = logging.getLogger("synthspace.coordinator")

PLUGIN_PACKAGES = ("synthspace.coordinator.web", "synthspace.coordinator.federated")


def create_app(
    settings: CoordinatorSettings,
    coordinator: Coordinator | None = None,
    bind_url: str | None = None,
) -> FastAPI:
    """Open the coordinator (migrate + verify the log unless one is given) and build the app.

    Signed requests are checked against `settings.public_url`, else `bind_url` (the
    http://host:port the server listens on, for a loopback/LAN server); never against the
    request's own Host header. One of the two is required.
    """
    base_url = settings.public_url or bind_url
    if not base_url:
        raise ConfigError(
            "the coordinator needs public_url (coordinator init --public-url) or the address it "
            "listens on: request signatures cover the URL, which must not come from the Host header"
        )
    coord = coordinator or Coordinator.open(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        coord.start_sequencer()
        collector = start_collector(coord)
        yield
        if coord.sequencer is not None:
            coord.sequencer.stop()
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
    app.state.base_url = base_url.rstrip("/")
    install_error_handlers(app)
    app.add_middleware(
        LimitsMiddleware,
        max_body_bytes=settings.max_upload_bytes,
        body_timeout_s=settings.request_timeout_s,
        upload_routes=frozenset({("POST", "/v1/artifacts")}),  # publish: the one large body
    )
    for router in (
        health.router,
        log.router,
        tiles.router,
        enrolment.router,
        orgs.router,
        artifacts.router,
        agreements.router,
        dcat.router,
    ):
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
