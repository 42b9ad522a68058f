"""Alembic environment of the coordinator.

Run programmatically (the coordinator passes an open connection in config.attributes) or by
hand with `alembic -c .../alembic.ini -x home=HOME upgrade head` (URL from
SYNTHSPACE_DATABASE_URL, else HOME/config.json, else sqlalchemy.url).
"""

from __future__ import annotations

import importlib
import os

from alembic import context
from sqlalchemy import Connection, pool

from synthspace.coordinator.models import Base
from synthspace.coordinator.settings import DATABASE_URL_ENV, CoordinatorSettings

# Other parts' models on the same Base, so `alembic revision --autogenerate` sees their tables.
for _module in ("synthspace.coordinator.federated.models", "synthspace.coordinator.web.models"):
    try:
        importlib.import_module(_module)
    except ImportError:
        pass

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url_from_cli() -> str:
    home = context.get_x_argument(as_dictionary=True).get("home")
    if home:
        return CoordinatorSettings.load(home).resolved_database_url()

    return os.environ.get(DATABASE_URL_ENV) or config.get_main_option("sqlalchemy.url") or ""


connection = config.attributes.get("connection")
if context.is_offline_mode():
    context.configure(url=_url_from_cli(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif connection is not None:
    _run(connection)
else:
    from sqlalchemy import create_engine

    engine = create_engine(_url_from_cli(), poolclass=pool.NullPool)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
