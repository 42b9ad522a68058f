"""`run_gates` and `gate_records`: every privacy, quality and usefulness gate over a run
directory or a records file, with record-level filtering.

Gates that can blame single records (seed leakage, PII, duplicates, schema, usefulness) mark
them for dropping and keep the rest; the run is refused only when a run-level gate fails or the
kept share falls below `filtering.min_kept` (the `record_filter` gate). Order: the blaming
gates, then the filter, then the run-level gates that judge the kept records (diversity).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from synthspace.canonical_json import digest
from synthspace.lineage import Redaction
from synthspace.node.gates import privacy_checks as privacy
from synthspace.node.gates import quality_checks as quality
from synthspace.node.gates import redaction
from synthspace.node.gates.context import LIST_CAP, GateRun, Progress
from synthspace.node.gates.errors import RunDirError
from synthspace.node.gates.report import (
    GateReport,
    write_private_detail,
    write_private_file,
    write_report,
)
from synthspace.node.gates.run_dir import RunData, load_run, records_data
from synthspace.node.privacy.pii import PiiFinding
from synthspace.node.recipes.gates import GatesConfig
from synthspace.node.recipes.models import Recipe

_LINEAGE_POSITIONS = 1000  # dropped positions per reason carried in the lineage


@dataclass
class GateOutcome:
    """A report plus, per record (0-based position), why it was dropped ([] = kept) and, for
    kept records whose PII was redacted, the replaced spans per PII type."""

    report: GateReport
    reasons: list[list[str]]
    redacted: dict[int, dict[str, int]] = field(default_factory=dict)


def _record_filter(run: GateRun) -> None:
    """The run-level verdict on filtering: enough records kept?"""
    c = run.cfg.filtering
    kept = int(run.kept_mask().sum())
    share = kept / run.n if run.n else 0.0
    # min_kept judges the share kept before an overgenerating run's surplus is dropped.
    target = run.data.target
    surplus = 0
    if target is not None and kept > target:
        # An overgenerating run keeps its first `target` good records; the rest is surplus.
        surplus = run.blame(np.flatnonzero(run.kept_mask())[target:].tolist(), "surplus")
    by_reason: Counter[str] = Counter()
    positions: dict[str, list[int]] = {}
    for p in sorted(run.blamed):
        for r in sorted(run.blamed[p]):
            by_reason[r] += 1
            positions.setdefault(r, []).append(p)
    run.filter_positions = positions
    run.add(
        "record_filter",
        True,
        run.n > 0 and kept >= max(1, run.cfg.quality.min_records) and share >= c.min_kept,
        {
            "records": run.n,
            "kept": kept - surplus,
            "dropped": run.n - kept + surplus,
            "target": target,
            "surplus": surplus,
            "kept_share": round(share, 6),
            "dropped_by_reason": dict(sorted(by_reason.items())),
            "dropped_positions": {r: v[:_LINEAGE_POSITIONS] for r, v in sorted(positions.items())},
        },
        {"min_kept": c.min_kept, "min_records": run.cfg.quality.min_records},
    )


def _evaluate(data: RunData, cfg: GatesConfig, say: Progress) -> tuple[GateRun, GateReport]:
    started = time.perf_counter()
    run = GateRun(data, cfg, say)
    if cfg.usefulness.enabled:
        # Record-independent and pure Python: forked workers run it during the privacy gates.
        quality.start_usefulness(run)
    try:
        return _evaluate_gates(run, data, cfg, started)
    finally:
        for job in run.pending.values():
            job[0].cancel()


def _evaluate_gates(
    run: GateRun, data: RunData, cfg: GatesConfig, started: float
) -> tuple[GateRun, GateReport]:
    has_seeds = bool(data.seeds)
    if not has_seeds:
        for name in ("seed_leakage", "pii_replay", "membership"):
            run.skipped[name] = "no seeds given"
    else:
        if cfg.leakage.enabled or cfg.membership.enabled != "off":
            privacy.leakage(run)
            if not cfg.leakage.enabled:
                run.results.pop()
        if not cfg.leakage.enabled:
            run.skipped["seed_leakage"] = "disabled"
    findings: list[PiiFinding] = []
    seed_findings: list[PiiFinding] = []
    if cfg.pii.enabled or (cfg.pii_replay.enabled and has_seeds):
        findings, seed_findings = privacy.pii(run)
    if not cfg.pii.enabled:
        run.skipped["pii"] = "disabled"
    if has_seeds:
        if cfg.pii_replay.enabled:
            privacy.replay(run, findings, seed_findings)
        else:
            run.skipped["pii_replay"] = "disabled"
    if cfg.canaries.enabled:
        privacy.canaries(run)
    else:
        run.skipped["canaries"] = "disabled"
    if has_seeds:
        privacy.membership(run)
    # The privacy evidence above judged the text as generated; the gates below judge what
    # would be published, so they see the redacted records.
    redaction.apply(run)
    steps: list[tuple[str, bool, Callable[[GateRun], None]]] = [
        ("near_duplicates", cfg.near_duplicates.enabled, quality.duplicates),
        ("schema_validity", cfg.schema_validity.enabled, quality.schema),
        ("usefulness", cfg.usefulness.enabled, quality.usefulness),
        ("judge", cfg.judge.enabled, quality.judge),
        ("record_filter", True, _record_filter),
        ("quality", cfg.quality.enabled, quality.quality),
        ("diversity", cfg.diversity.enabled, quality.diversity),
        ("persona_coverage", cfg.persona_coverage.enabled, quality.coverage),
    ]
    if cfg.near_duplicates.enabled is False:
        # Exact duplicates are always dropped, whatever the near-duplicate settings.
        dup = quality.exact_duplicates(run.match_texts)
        run.blame(np.flatnonzero(dup).tolist(), "duplicate")
    for name, enabled, step in steps:
        if enabled:
            step(run)
        else:
            run.skipped[name] = "disabled"
    kept = run.kept_mask()
    dropped = np.flatnonzero(~kept)
    ids = (
        [str(v) for v in data.records["record_id"].iloc[dropped].tolist()]
        if "record_id" in data.records.columns
        else []
    )
    positions = run.filter_positions
    redacted, redacted_by_type = redaction.summary(run, kept)
    report = GateReport(
        passed=all(g.passed for g in run.results if g.blocking),
        gates=run.results,
        skipped=run.skipped,
        records=run.n,
        exclude_record_ids=ids,
        kept=int(kept.sum()),
        dropped_by_reason={r: len(v) for r, v in positions.items()},
        dropped_positions=positions,
        redaction=Redaction(
            mode=cfg.pii.redaction, records=redacted, spans_by_type=redacted_by_type
        )
        if redacted
        else None,
        redactions_sha256=hashlib.sha256(redaction.redactions_bytes(run, kept)).hexdigest()
        if redacted
        else None,
        config_digest=digest(cfg.model_dump(mode="json")),
        created=datetime.now(UTC),
        duration_s=round(time.perf_counter() - started, 3),
    )
    return run, report


def _reasons(run: GateRun) -> list[list[str]]:
    return [sorted(run.blamed.get(i, ())) for i in range(run.n)]


def _write_redactions(run_dir: Path, run: GateRun, report: GateReport) -> None:
    """RUN_DIR/private/redacted-records.jsonl: what publishing ships for redacted records."""
    path = run_dir / redaction.REDACTIONS_FILE
    if report.redaction is None:
        path.unlink(missing_ok=True)
        return
    data = redaction.redactions_bytes(run, run.kept_mask())
    if "record_id" not in run.data.records.columns:
        raise RunDirError(f"{run_dir}: records redacted, but the shards have no record_id column")
    write_private_file(run_dir, redaction.REDACTIONS_FILE, data)


def run_gates(
    run_dir: str | Path,
    config: GatesConfig | None = None,
    *,
    progress: Progress | None = None,
    write: bool = True,
    home: str | Path | None = None,
) -> GateReport:
    """Run every enabled gate over RUN_DIR; write gate-report.json (and the node-private
    detail under RUN_DIR/private/) unless `write` is False.

    `config` overrides the recipe's `gates:` section (carried in the manifest), which
    overrides the defaults. The seeds are always checked against the run's commitment count;
    given `home`, the node home that generated the run, also against its Merkle root.
    """
    say: Progress = progress or (lambda _msg: None)
    say("reading run directory")
    data = load_run(run_dir, home)
    cfg = config if config is not None else (data.gates or GatesConfig())
    run, report = _evaluate(data, cfg, say)
    report.duration_s = round(report.duration_s, 3)
    if write and data.run_dir is not None:
        say("writing report")
        write_private_detail(data.run_dir, run.detail)
        _write_redactions(data.run_dir, run, report)
        write_report(data.run_dir, report)
    return report


def gate_records(
    records_path: str | Path,
    recipe: Recipe,
    seeds_path: str | Path | None = None,
    config: GatesConfig | None = None,
    *,
    progress: Progress | None = None,
) -> GateOutcome:
    """Every gate over a records file (JSONL or Parquet) judged by `recipe` (and its seeds)."""
    say: Progress = progress or (lambda _msg: None)
    data = records_data(
        Path(records_path), recipe, Path(seeds_path) if seeds_path is not None else None
    )
    cfg = config if config is not None else (data.gates or GatesConfig())
    run, report = _evaluate(data, cfg, say)
    kept = run.kept_mask()
    redacted = {p: dict(sorted(rec.counts.items())) for p, rec in run.redactions.items() if kept[p]}
    return GateOutcome(report=report, reasons=_reasons(run), redacted=redacted)


__all__ = ["LIST_CAP", "GateOutcome", "gate_records", "run_gates"]
