"""Federated runs for the web pages, with their per-round metrics as plottable series.

Two sources, merged by run: the federation package's stored runs when it provides them
(`synthspace.coordinator.federated`), and the published model adapters, whose signed
`training` record names rounds, participants and metrics. A catalog whose federation tables
do not exist yet (or that never ran a federation) simply shows no runs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from synthspace.coordinator.federated.models import FederatedRun
from synthspace.coordinator.models import Artifact
from synthspace.coordinator.services.catalog import visible_to

logger = logging.getLogger("synthspace.coordinator.web")

Series = dict[str, list[tuple[float, float]]]
MAX_RUNS = 50


@dataclass
class RunView:
    run_id: str
    status: str
    rounds: int | None
    participants: list[str]
    status_detail: str = ""
    rounds_requested: int | None = None
    started: datetime | None = None
    finished: datetime | None = None
    strategy: str | None = None
    base_model: str | None = None
    adapter_id: str | None = None
    adapter_title: str | None = None
    training_artifacts: dict[str, list[str]] = field(default_factory=dict)
    final_metrics: dict[str, Any] = field(default_factory=dict)
    # chart title -> series name -> [(round, value)]
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


LOSS_WORDS = ("loss", "perplexity")
TIMING_KEYS = ("wall_seconds", "train_seconds", "aggregate_seconds")


def _metric_key(name: str) -> str:
    return name.replace("_", "-")


def charts_from_round_rows(rows: list[Any]) -> dict[str, Series]:
    """Charts of a stored run (FederatedRound rows): losses, per-org training loss, other
    evaluation metrics, time per round and adapter traffic. The init step (round 0) is left out."""
    losses: Series = {}
    per_org: Series = {}
    other: Series = {}
    timing: Series = {}
    traffic: Series = {}
    for row in rows:
        if row.kind not in ("train", "evaluate") or row.round < 1:
            continue
        r = float(row.round)
        for name, value in (row.metrics or {}).items():
            v = _num(value)
            if v is None:
                continue
            key = _metric_key(name)
            if any(w in key for w in LOSS_WORDS):
                label = key if key.startswith(("train", "eval")) else f"{row.kind} {key}"
                losses.setdefault(label, []).append((r, v))
            elif row.kind == "evaluate" and not any(w in key for w in ("seconds", "bytes", "examples", "num-")):
                other.setdefault(key, []).append((r, v))
        if row.kind == "train":
            for org, entry in (row.per_org or {}).items():
                metrics = entry.get("metrics", {}) if isinstance(entry, dict) else {}
                v = _num(metrics.get("train-loss", metrics.get("train_loss")))
                if v is not None:
                    per_org.setdefault(str(org), []).append((r, v))
            for attr in TIMING_KEYS:
                v = _num(getattr(row, attr, None))
                if v is not None:
                    timing.setdefault(attr.replace("_seconds", "").replace("_", " "), []).append((r, v))
            for attr in ("bytes_sent", "bytes_received"):
                v = _num(getattr(row, attr, None))
                if v is not None:
                    traffic.setdefault(attr.replace("bytes_", "adapter bytes "), []).append((r, v / (1 << 20)))
    charts = {
        "loss per round": losses,
        "training loss per organisation": per_org,
        "evaluation metrics per round": other,
        "seconds per round": timing,
        "adapter MiB moved per round": traffic,
    }
    out: dict[str, Series] = {}
    for title, series in charts.items():
        if any(series.values()):
            out[title] = {k: sorted(v) for k, v in series.items()}
    return out


def _runs_from_federation_package(session: Session) -> list[RunView]:
    """Runs the federation package records (its federated_runs / federated_rounds tables)."""
    try:
        runs = list(
            session.execute(select(FederatedRun).order_by(FederatedRun.created_at.desc()).limit(MAX_RUNS)).scalars()
        )
        views = []
        for run in runs:
            views.append(
                RunView(
                    run_id=str(run.run_id),
                    status=str(run.status),
                    status_detail=str(run.status_detail or ""),
                    rounds=run.rounds_completed,
                    rounds_requested=run.rounds_requested,
                    participants=list(run.participants or []),
                    started=run.created_at,
                    finished=run.finished_at,
                    strategy=run.strategy,
                    base_model=run.base_model,
                    adapter_id=run.artifact_id,
                    training_artifacts={k: list(v) for k, v in dict(run.training_artifacts or {}).items()},
                    final_metrics=dict(run.final_metrics or {}),
                    charts=charts_from_round_rows(list(run.rounds)),
                    source="federation",
                )
            )
        return views
    except SQLAlchemyError as exc:  # a catalog whose federation tables were never migrated in
        session.rollback()
        logger.info("federated runs unavailable: %s", exc)
        return []


def _runs_from_adapters(session: Session) -> list[RunView]:
    views: list[RunView] = []
    adapters = session.execute(
        select(Artifact)
        .where(Artifact.kind == "model-adapter", visible_to(None))
        .order_by(Artifact.log_index.desc())
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
                charts={f"{group} metrics per round": series for group, series in series_from_rounds(per_round).items()},
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


def run_for_adapter(session: Session, artifact_id: str) -> str | None:
    """The id of the recorded federated run that published this adapter, if any."""
    try:
        found = session.execute(
            select(FederatedRun.run_id).where(FederatedRun.artifact_id == artifact_id).limit(1)
        ).scalar_one_or_none()
    except SQLAlchemyError:
        session.rollback()
        return None
    return None if found is None else str(found)


def load_runs(session: Session) -> list[RunView]:
    """Every run: recorded runs first (newest first), then published adapters that no recorded
    run links to (e.g. adapters from another coordinator's federation)."""
    stored = _runs_from_federation_package(session)
    linked = {r.adapter_id for r in stored if r.adapter_id}
    titles = {
        a.artifact_id: a.title
        for a in session.execute(select(Artifact).where(Artifact.artifact_id.in_(linked), visible_to(None))).scalars()
    } if linked else {}
    for r in stored:
        if r.adapter_id:
            r.adapter_title = titles.get(r.adapter_id)
    return stored + [r for r in _runs_from_adapters(session) if r.adapter_id not in linked]
