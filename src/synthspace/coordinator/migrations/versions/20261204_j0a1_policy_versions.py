"""Policy versions (issue 16 item 1): a publisher's signed restriction or withdrawal of its
artifact's usage policy, one row per logged `policy` entry.

- `policy_versions`: the verified update (envelope as submitted, the new policy and its digest,
  the digest it follows); (artifact_id, version) is unique, so two updates racing to follow the
  same version cannot both land.
- `artifacts.policy_version` (0 = the signed policy is in force) and
  `artifacts.policy_withdrawn_at` (set by a withdrawal): the catalog reads the policy in force
  and marks descendants without walking the versions.

Revision ID: j0a1_policy_versions
Revises: i0a1_sequencer
Create Date: 2026-12-04 22:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "j0a1_policy_versions"
down_revision: str | Sequence[str] | None = "i0a1_sequencer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN (SQLite >= 3.35 has both): a batch copy of `artifacts` would drop a
    # table other tables reference, which SQLite's foreign keys refuse once rows exist.
    op.add_column("artifacts", sa.Column("policy_version", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("artifacts", sa.Column("policy_withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "policy_versions",
        sa.Column("envelope_sha256", sa.String(64), primary_key=True),
        sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.artifact_id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("policy_sha256", sa.String(71), nullable=False),
        sa.Column("previous_policy_sha256", sa.String(71), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
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
        "ix_policy_versions_artifact_version", "policy_versions", ["artifact_id", "version"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_policy_versions_artifact_version", table_name="policy_versions")
    op.drop_table("policy_versions")
    op.drop_column("artifacts", "policy_withdrawn_at")
    op.drop_column("artifacts", "policy_version")
