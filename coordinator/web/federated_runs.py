"""Federated runs for the web pages, with their per-round metrics as plottable series.

Two sources, merged by run: the federation package's stored runs when it provides them
(`synthspace.coordinator.federated`), and the published model adapters, whose signed
`training` record names rounds, participants and metrics. A catalog whose federation tables
do not exist yet (or that never ran a federation) simply shows no runs.
"""

from __future__ import annotations

import importlib
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from synthspace.coordinator.models import Artifact

logger = logging.getLogger("synthspace.coordinator.web")

Series = dict[str, list[tuple[float, float]]]


@dataclass
class RunView:
    run_id: str
    status: str
    rounds: int | None
    participants: list[str]
    started: datetime | None = None
    finished: datetime | None = None
    strategy: str | None = None
    base_model: str | None = None
    adapter_id: str | None = None
    adapter_title: str | None = None
    training_artifacts: dict[str, list[str]] = field(default_factory=dict)
    final_metrics: dict[str, Any] = field(default_factory=dict)
    # metric group (e.g. "train", "evaluate") -> series name -> [(round, value)]
    charts: dict[str, Series] = field(default_factory=dict)
    source: str = "catalog"


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def series_from_rounds(rounds: Any) -> dict[str, Series]:
    """Per-round records -> chart series.

    Accepts the shapes a run record or training metrics plausibly take:
    a list of {"round": r, "train_loss": x, ...} / {"round": r, "train": {...}, "evaluate": {...}},
    or a mapping metric -> list of values (index = round-1) or of [round, value] pairs.
    Metrics whose name says where they come from are grouped ("train_loss" -> train/loss).
    """
    charts: dict[str, Series] = {}

    def add(metric: str, r: float, value: Any) -> None:
        v = _num(value)
        if v is None:
            return
        group, _, name = metric.partition("_") if metric.startswith(("train_", "eval_", "evaluate_", "fit_")) else ("metrics", "", metric)
        group = {"fit": "train", "eval": "evaluate"}.get(group, group)
        charts.setdefault(group, {}).setdefault(name or metric, []).append((r, v))

    if isinstance(rounds, list):
        for i, rec in enumerate(rounds):
            if not isinstance(rec, dict):
                continue
            r = _num(rec.get("round", rec.get("server_round", i + 1))) or float(i + 1)
            for key, value in rec.items():
                if key in {"round", "server_round"}:
                    continue
                if isinstance(value, dict):
                    for sub, v in value.items():
                        add(f"{key}_{sub}" if key in {"train", "evaluate", "eval", "fit"} else f"{key}.{sub}", r, v)
                else:
                    add(key, r, value)
    elif isinstance(rounds, dict):
        for metric, values in rounds.items():
            if not isinstance(values, list):
                continue
            for i, item in enumerate(values):
                if isinstance(item, (list, tuple)) and len(item) == 2:
                    at = _num(item[0])
                    if at is not None:
                        add(metric, at, item[1])
                else:
                    add(metric, float(i + 1), item)
    for group in charts.values():
        for name in group:
            group[name].sort()
    return charts


def _runs_from_federation_package(session: Session) -> list[RunView]:
    """Runs the federation package stores, through its `list_runs(session)` when present."""
    try:
        module = importlib.import_module("synthspace.coordinator.federated")
    except ImportError:
        return []
    list_runs = getattr(module, "list_runs", None)
    if not callable(list_runs):
        return []
    try:
        records = list(list_runs(session))
    except SQLAlchemyError as exc:  # its tables may not be migrated in yet
        session.rollback()
        logger.info("federated runs unavailable: %s", exc)
        return []
    views: list[RunView] = []
    for rec in records:
        data = rec if isinstance(rec, dict) else (rec.model_dump() if hasattr(rec, "model_dump") else vars(rec))
        views.append(
            RunView(
                run_id=str(data.get("run_id", data.get("id", "?"))),
                status=str(data.get("status", "unknown")),
                rounds=data.get("rounds") or data.get("num_rounds"),
                participants=list(data.get("participants") or []),
                started=data.get("started_at") or data.get("started"),
                finished=data.get("finished_at") or data.get("finished"),
                strategy=data.get("strategy"),
                base_model=data.get("base_model"),
                adapter_id=data.get("adapter_artifact_id") or data.get("artifact_id"),
                final_metrics=dict(data.get("final_metrics") or data.get("metrics") or {})
                if isinstance(data.get("final_metrics") or data.get("metrics") or {}, dict)
                else {},
                charts=series_from_rounds(data.get("round_metrics") or data.get("history") or []),
                source="federation",
            )
        )
    return views


def _runs_from_adapters(session: Session) -> list[RunView]:
    views: list[RunView] = []
    adapters = session.execute(
        select(Artifact).where(Artifact.kind == "model-adapter").order_by(Artifact.log_index.desc())
    ).scalars()
    for a in adapters:
        predicate = a.statement.get("predicate") or {}
        training = predicate.get("training") or {}
        metrics = dict(training.get("metrics") or {})
        per_round = metrics.get("rounds") or metrics.get("history") or {
            k: v for k, v in metrics.items() if isinstance(v, list)
        }
        times = predicate.get("times") or {}
        views.append(
            RunView(
                run_id=str(((predicate.get("generator") or {}).get("parameters") or {}).get("run_id") or a.artifact_id[:12]),
                status="retracted" if a.retracted_at else "published",
                rounds=training.get("rounds"),
                participants=list(training.get("participants") or []),
                started=_parse_time(times.get("started")),
                finished=_parse_time(times.get("finished")),
                strategy=training.get("strategy"),
                base_model=training.get("base_model"),
                adapter_id=a.artifact_id,
                adapter_title=a.title,
                training_artifacts=dict(training.get("training_artifacts") or {}),
                final_metrics={k: v for k, v in metrics.items() if not isinstance(v, (list, dict))},
                charts=series_from_rounds(per_round),
            )
        )
    return views


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def load_runs(session: Session) -> list[RunView]:
    """Every run, stored runs first; an adapter already linked to a stored run is not repeated."""
    stored = _runs_from_federation_package(session)
    linked = {r.adapter_id for r in stored if r.adapter_id}
    titles = {
        a.artifact_id: a.title
        for a in session.execute(select(Artifact).where(Artifact.artifact_id.in_(linked))).scalars()
    } if linked else {}
    for r in stored:
        if r.adapter_id:
            r.adapter_title = titles.get(r.adapter_id)
    return stored + [r for r in _runs_from_adapters(session) if r.adapter_id not in linked]
