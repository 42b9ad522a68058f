"""Artifact visibility from usage policies (issue 16): artifacts.visible_to_all + artifact_assignees.

Listing filters in SQL: `visible_to_all OR org_name = :viewer OR EXISTS (assignee row)`; the
(org_name, artifact_id) primary-key-covering index answers the EXISTS with one index probe.
Existing artifacts carry no policy, i.e. the space default: visible to every member.

Revision ID: g0a1_artifact_visibility
Revises: c0a2_list_indexes
Create Date: 2026-12-04 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "g0a1_artifact_visibility"
down_revision: str | Sequence[str] | None = "c0a2_list_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("visible_to_all", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table(
        "artifact_assignees",
        sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.artifact_id"), primary_key=True),
        sa.Column("org_name", sa.String(64), primary_key=True),
    )
    op.create_index("ix_artifact_assignees_org_artifact", "artifact_assignees", ["org_name", "artifact_id"])


def downgrade() -> None:
    op.drop_index("ix_artifact_assignees_org_artifact", table_name="artifact_assignees")
    op.drop_table("artifact_assignees")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("visible_to_all")
