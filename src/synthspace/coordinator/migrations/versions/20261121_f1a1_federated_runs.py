"""Federated fine-tuning runs and their rounds (owner: federation).

Revision ID: f1a1_federated_runs
Revises: c0a1_catalog
Create Date: 2026-11-21 10:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f1a1_federated_runs"
down_revision: str | Sequence[str] | None = "c0a1_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "federated_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_detail", sa.Text(), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("rounds_requested", sa.Integer(), nullable=False),
        sa.Column("rounds_completed", sa.Integer(), nullable=False),
        sa.Column("min_nodes", sa.Integer(), nullable=False),
        sa.Column("base_model", sa.String(length=200), nullable=True),
        sa.Column("base_model_digest", sa.String(length=80), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("training_artifacts", sa.JSON(), nullable=False),
        sa.Column("final_metrics", sa.JSON(), nullable=False),
        sa.Column("adapter_sha256", sa.String(length=64), nullable=True),
        sa.Column("adapter_bytes", _BIG, nullable=True),
        sa.Column("artifact_id", sa.String(length=64), nullable=True),
        sa.Column("log_index", _BIG, nullable=True),
        sa.PrimaryKeyConstraint("run_id"),
    )
    with op.batch_alter_table("federated_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_federated_runs_status"), ["status"], unique=False)

    op.create_table(
        "federated_rounds",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wall_seconds", sa.Float(), nullable=True),
        sa.Column("train_seconds", sa.Float(), nullable=True),
        sa.Column("aggregate_seconds", sa.Float(), nullable=True),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("bytes_sent", _BIG, nullable=False),
        sa.Column("bytes_received", _BIG, nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("per_org", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("adapter_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["federated_runs.run_id"]),
        sa.PrimaryKeyConstraint("run_id", "round", "kind"),
    )


def downgrade() -> None:
    op.drop_table("federated_rounds")
    with op.batch_alter_table("federated_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_federated_runs_status"))
    op.drop_table("federated_runs")
