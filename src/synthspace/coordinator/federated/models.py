"""SQLAlchemy models of federated runs and their rounds (migration f1a1_federated_runs).

Written by the ServerApp process as the run progresses; read by `synthspace federate status`
and by `federate run` to stream progress.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from synthspace.coordinator.models import Base, BigInt, utcnow

RUN_STATUSES = ("starting", "running", "completed", "failed", "stopped")


class FederatedRun(Base):
    """One Flower run of federated LoRA fine-tuning."""

    __tablename__ = "federated_runs"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # Flower's run id (uint64 as text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="starting", index=True)
    status_detail: Mapped[str] = mapped_column(Text, default="")
    strategy: Mapped[str] = mapped_column(String(64))
    rounds_requested: Mapped[int] = mapped_column(Integer)
    rounds_completed: Mapped[int] = mapped_column(Integer, default=0)
    min_nodes: Mapped[int] = mapped_column(Integer)
    base_model: Mapped[str | None] = mapped_column(String(200), default=None)
    base_model_digest: Mapped[str | None] = mapped_column(String(80), default=None)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    training_artifacts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    final_metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    adapter_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    adapter_bytes: Mapped[int | None] = mapped_column(BigInt, default=None)
    artifact_id: Mapped[str | None] = mapped_column(String(64), default=None)
    log_index: Mapped[int | None] = mapped_column(BigInt, default=None)

    rounds: Mapped[list[FederatedRound]] = relationship(
        back_populates="run",
        order_by=lambda: (FederatedRound.round, FederatedRound.started_at),
        cascade="all, delete-orphan",
    )


class FederatedRound(Base):
    """One training round (or the final evaluation, round = rounds_requested + 1 kind 'evaluate')."""

    __tablename__ = "federated_rounds"

    run_id: Mapped[str] = mapped_column(ForeignKey("federated_runs.run_id"), primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # init | train | evaluate
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    wall_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    train_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    aggregate_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    bytes_sent: Mapped[int] = mapped_column(BigInt, default=0)
    bytes_received: Mapped[int] = mapped_column(BigInt, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    per_org: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    adapter_sha256: Mapped[str | None] = mapped_column(String(64), default=None)

    run: Mapped[FederatedRun] = relationship(back_populates="rounds")
