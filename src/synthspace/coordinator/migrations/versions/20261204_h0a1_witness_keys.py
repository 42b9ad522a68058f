"""Witness keys (issue 17): org_keys.witness_url.

A node may enrol its witness's cosigning key as a key with purpose `witness` (logged as a
KeyEntry like every other key); the URL where the witness answers is stored beside it. The
purpose column is a free String(16), so only the URL column is new. Existing keys have none.

Revision ID: h0a1_witness_keys
Revises: g0a1_artifact_visibility
Create Date: 2026-12-04 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "h0a1_witness_keys"
down_revision: str | Sequence[str] | None = "g0a1_artifact_visibility"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("org_keys") as batch:
        batch.add_column(sa.Column("witness_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("org_keys") as batch:
        batch.drop_column("witness_url")
