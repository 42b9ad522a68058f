"""Agreements (issue 16 item 3): a consumer's signed agreement to an artifact's policy.

One row per logged `agreement` entry; the primary key is the envelope's sha256, so the same
envelope can never be logged twice (replay). The (artifact_id, org_name, action) index answers
the data endpoint's "has this org agreed to use it" with one probe.

Revision ID: h0a2_agreements
Revises: h0a1_witness_keys
Create Date: 2026-12-04 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "h0a2_agreements"
down_revision: str | Sequence[str] | None = "h0a1_witness_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("envelope_sha256", sa.String(64), primary_key=True),
        sa.Column(
            "artifact_id", sa.String(64), sa.ForeignKey("artifacts.artifact_id"), nullable=False
        ),
        sa.Column("org_name", sa.String(64), sa.ForeignKey("orgs.name"), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(100), nullable=False),
        sa.Column("policy_sha256", sa.String(71), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "log_index",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("log_leaves.idx"),
            nullable=False,
            unique=True,
        ),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
    )
    op.create_index(
        "ix_agreements_artifact_org", "agreements", ["artifact_id", "org_name", "action"]
    )


def downgrade() -> None:
    op.drop_index("ix_agreements_artifact_org", table_name="agreements")
    op.drop_table("agreements")
