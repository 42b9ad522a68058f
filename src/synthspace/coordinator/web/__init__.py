"""The coordinator's web catalog (server-rendered pages under /catalog).

`synthspace.coordinator.app.create_app` calls `register_routes(app, coordinator)` for this
package. Setting `SYNTHSPACE_WEB_CATALOG=off` in the coordinator's environment leaves the
pages out (the pages are read-only and, unlike the signed API, unauthenticated: see
docs/web-catalog.md for putting them behind your single sign-on proxy instead).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi.staticfiles import StaticFiles

from synthspace.coordinator.web.pages import PREFIX, root_router, router

WEB_CATALOG_ENV = "SYNTHSPACE_WEB_CATALOG"


def register_routes(app: Any, coordinator: Any = None) -> None:
    """Add the catalog pages and their stylesheet to the coordinator's FastAPI app."""
    if os.environ.get(WEB_CATALOG_ENV, "on").strip().lower() in {"off", "0", "false", "no"}:
        return

    app.include_router(router)
    app.include_router(root_router)
    app.mount(
        f"{PREFIX}/static",
        StaticFiles(directory=str(Path(__file__).resolve().parent / "static")),
        name="catalog-static",
    )
