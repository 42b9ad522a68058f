"""Batched publishing (issue 17 items 4-6): the sequencer's queue, batch checkpoint sizes, and
trigram indexes for catalog search on PostgreSQL.

- `log_leaves.tree_size`: size of the checkpoint an entry's receipt proves against (the end of
  its batch); NULL for entries logged on their own (idx + 1), so existing logs need no backfill.
- `publish_queue`: verified publishes handed from a non-sequencer process to the sequencer.
- PostgreSQL only: `pg_trgm` GIN indexes on lower(title) and lower(description), which serve
  the catalog's `q` (case-insensitive substring, `lower(col) LIKE '%needle%'`). Skipped with a
  warning when the extension cannot be created (the query still works, unindexed). SQLite is
  unchanged.

Revision ID: i0a1_sequencer
Revises: h0a2_agreements
Create Date: 2026-12-04 18:40:00
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i0a1_sequencer"
down_revision: str | Sequence[str] | None = "h0a2_agreements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TRGM_INDEXES = (("ix_artifacts_title_trgm", "title"), ("ix_artifacts_description_trgm", "description"))


def upgrade() -> None:
    op.add_column("log_leaves", sa.Column("tree_size", BigInt, nullable=True))
    op.create_table(
        "publish_queue",
        sa.Column("seq", BigInt, primary_key=True, autoincrement=True),
        sa.Column("artifact_id", sa.String(64), nullable=False, unique=True),
        sa.Column("org_name", sa.String(64), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        try:
            with bind.begin_nested():
                op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except sa.exc.DBAPIError as exc:
            logging.getLogger("alembic").warning("pg_trgm unavailable, search stays unindexed: %s", exc)
            return
        for name, column in TRGM_INDEXES:
            op.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON artifacts USING gin (lower({column}) gin_trgm_ops)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _ in TRGM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_table("publish_queue")
    # a plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of log_leaves would
    # trip the foreign keys that point at it
    op.drop_column("log_leaves", "tree_size")
