"""Federated run records in the coordinator database: create, update per round, finish, read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from synthspace.coordinator.database import make_engine, make_sessionmaker, upgrade_database
from synthspace.coordinator.federated.models import FederatedRound, FederatedRun
from synthspace.coordinator.models import utcnow
from synthspace.coordinator.settings import CoordinatorSettings
from synthspace.errors import SynthspaceError


class RunNotFound(SynthspaceError):
    """No federated run with that id is recorded."""


@dataclass
class RunStore:
    """Thin typed access to the federated_* tables."""

    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def open(cls, home: Path | str, *, migrate: bool = True) -> RunStore:
        settings = CoordinatorSettings.load(home)
        engine = make_engine(settings.resolved_database_url())
        if migrate:
            upgrade_database(engine)
        return cls(engine, make_sessionmaker(engine))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        s = self.sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    # ---- writes (ServerApp) ---------------------------------------------------------------
    def create_run(self, run_id: str, *, strategy: str, rounds: int, min_nodes: int, config: dict[str, Any]) -> None:
        with self.session() as s:
            existing = s.get(FederatedRun, run_id)
            if existing is not None:  # a restarted ServerApp of the same Flower run
                existing.status, existing.status_detail = "starting", "restarted"
                return
            s.add(
                FederatedRun(
                    run_id=run_id,
                    strategy=strategy,
                    rounds_requested=rounds,
                    min_nodes=min_nodes,
                    config=config,
                    status="starting",
                    status_detail="",
                    participants=[],
                    training_artifacts={},
                    final_metrics={},
                )
            )

    def update_run(self, run_id: str, **values: Any) -> None:
        with self.session() as s:
            run = s.get(FederatedRun, run_id)
            if run is None:
                raise RunNotFound(f"federated run {run_id} is not recorded")
            for k, v in values.items():
                setattr(run, k, v)
            if values.get("status") in ("completed", "failed", "stopped") and run.finished_at is None:
                run.finished_at = utcnow()

    def record_round(self, run_id: str, round_no: int, kind: str, **values: Any) -> None:
        with self.session() as s:
            row = s.get(FederatedRound, (run_id, round_no, kind))
            if row is None:
                row = FederatedRound(
                    run_id=run_id, round=round_no, kind=kind, metrics={}, per_org={}, errors=[],
                    replies=0, failures=0, bytes_sent=0, bytes_received=0,
                )  # fmt: skip
                s.add(row)
            for k, v in values.items():
                setattr(row, k, v)

    # ---- reads (CLI) ----------------------------------------------------------------------
    def get_run(self, run_id: str) -> dict[str, Any]:
        with self.session() as s:
            run = s.get(FederatedRun, run_id)
            if run is None:
                raise RunNotFound(f"federated run {run_id} is not recorded (see `synthspace federate status`)")
            return _run_dict(run, with_rounds=True)

    def find_run(self, run_id: str) -> dict[str, Any] | None:
        try:
            return self.get_run(run_id)
        except RunNotFound:
            return None

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.session() as s:
            rows = s.execute(select(FederatedRun).order_by(FederatedRun.created_at.desc()).limit(limit)).scalars()
            return [_run_dict(r, with_rounds=False) for r in rows]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _run_dict(run: FederatedRun, *, with_rounds: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": run.run_id,
        "status": run.status,
        "status_detail": run.status_detail,
        "strategy": run.strategy,
        "rounds_requested": run.rounds_requested,
        "rounds_completed": run.rounds_completed,
        "min_nodes": run.min_nodes,
        "base_model": run.base_model,
        "base_model_digest": run.base_model_digest,
        "participants": list(run.participants or []),
        "training_artifacts": dict(run.training_artifacts or {}),
        "final_metrics": dict(run.final_metrics or {}),
        "adapter_sha256": run.adapter_sha256,
        "adapter_bytes": run.adapter_bytes,
        "artifact_id": run.artifact_id,
        "log_index": run.log_index,
        "created_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
        "config": dict(run.config or {}),
    }
    if with_rounds:
        out["rounds"] = [
            {
                "round": r.round,
                "kind": r.kind,
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at),
                "wall_seconds": r.wall_seconds,
                "train_seconds": r.train_seconds,
                "aggregate_seconds": r.aggregate_seconds,
                "replies": r.replies,
                "failures": r.failures,
                "bytes_sent": r.bytes_sent,
                "bytes_received": r.bytes_received,
                "metrics": dict(r.metrics or {}),
                "per_org": dict(r.per_org or {}),
                "errors": list(r.errors or []),
                "adapter_sha256": r.adapter_sha256,
            }
            for r in run.rounds
        ]
    return out
