"""Composite indexes for catalog listing: filter by org/task/tag, newest first.

`WHERE org_name = ? ORDER BY log_index DESC LIMIT n` scanned every row of the org and sorted
them (100 ms at 100,000 artifacts on SQLite); with (org_name, log_index) it reads n index
entries. (tag, artifact_id) lets a tag filter start from the tag's rows.

Revision ID: c0a2_list_indexes
Revises: f1a1_federated_runs
Create Date: 2026-11-21 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "c0a2_list_indexes"
down_revision: str | Sequence[str] | None = "f1a1_federated_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_artifacts_org_log", "artifacts", ["org_name", "log_index"])
    op.create_index("ix_artifacts_task_log", "artifacts", ["task", "log_index"])
    op.create_index("ix_artifact_tags_tag_artifact", "artifact_tags", ["tag", "artifact_id"])


def downgrade() -> None:
    op.drop_index("ix_artifact_tags_tag_artifact", table_name="artifact_tags")
    op.drop_index("ix_artifacts_task_log", table_name="artifacts")
    op.drop_index("ix_artifacts_org_log", table_name="artifacts")
