"""synthspace.coordinator: the shared catalog service of the data space.

FastAPI app, SQLAlchemy models and Alembic migrations, blob store, transparency log,
enrolment, the Flower server app and the web catalog. Imports `synthspace` only, never
`synthspace.node`.
"""
