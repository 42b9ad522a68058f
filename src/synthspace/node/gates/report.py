"""The gate report: RUN_DIR/gate-report.json (publishable) and the node-private detail.

The publishable report holds counts, rates, thresholds, positions and record ids of
synthetic records, and PII *types* — never seed text, seed positions, canary strings or PII
values. Per-record attribution to seeds (which seed a leaking record matches) goes to
RUN_DIR/private/gate-detail.json, which stays on the node.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthspace.atomic_files import atomic_write_bytes
from synthspace.lineage import GateResult, Redaction
from synthspace.node.gates.errors import GateReportError

REPORT_NAME = "gate-report.json"
PRIVATE_DETAIL = Path("private") / "gate-detail.json"


class GateReport(BaseModel):
    """What `run_gates` returns and writes to RUN_DIR/gate-report.json."""

    model_config = ConfigDict(extra="forbid")

    format: int = Field(default=2, description="Report format version.")
    passed: bool = Field(description="True when every blocking gate passed.")
    gates: list[GateResult] = Field(description="One result per gate that ran, in run order.")
    skipped: dict[str, str] = Field(
        default_factory=dict, description="Gates that did not run, with why."
    )
    records: int = Field(ge=0, description="Records in the run's shards.")
    exclude_record_ids: list[str] = Field(
        default_factory=list,
        description="Ids of every dropped record: publishing leaves them out.",
    )
    kept: int | None = Field(
        default=None, ge=0, description="Records kept after record-level filtering."
    )
    dropped_by_reason: dict[str, int] = Field(
        default_factory=dict,
        description="Dropped records per reason (a record may have several reasons).",
    )
    dropped_positions: dict[str, list[int]] = Field(
        default_factory=dict,
        description="0-based positions (shard order) of the dropped records, per reason.",
    )
    redaction: Redaction | None = Field(
        default=None,
        description="PII spans replaced in kept records (`pii.action: redact`); counts only. "
        "None when no kept record was redacted.",
    )
    redactions_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of RUN_DIR/private/redacted-records.jsonl, the redacted field values "
        "publishing ships (None when nothing was redacted).",
    )
    config_digest: str = Field(
        description="Digest of the canonical JSON of the gate configuration applied."
    )
    created: datetime = Field(description="When the report was made (UTC).")
    duration_s: float = Field(ge=0, description="Seconds the gates took.")

    @property
    def failed_blocking(self) -> list[str]:
        return [g.name for g in self.gates if g.blocking and not g.passed]

    def gate(self, name: str) -> GateResult:
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(name)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write to a temp file in the same folder, fsync, rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data, mode=mode)


def write_report(run_dir: Path, report: GateReport) -> Path:
    path = run_dir / REPORT_NAME
    atomic_write(path, report.model_dump_json(indent=2).encode("utf-8"))
    return path


def write_private_detail(run_dir: Path, detail: dict[str, Any]) -> Path:
    private = run_dir / "private"
    private.mkdir(mode=0o700, exist_ok=True)
    os.chmod(private, 0o700)
    path = run_dir / PRIVATE_DETAIL
    atomic_write(path, json.dumps(detail, ensure_ascii=False, indent=1).encode("utf-8"), mode=0o600)
    return path


def write_private_file(run_dir: Path, name: Path, data: bytes) -> Path:
    """A node-private file under RUN_DIR/private/ (mode 0600)."""
    private = run_dir / "private"
    private.mkdir(mode=0o700, exist_ok=True)
    os.chmod(private, 0o700)
    path = run_dir / name
    atomic_write(path, data, mode=0o600)
    return path


def load_report(run_dir: str | Path) -> GateReport:
    """Read RUN_DIR/gate-report.json; GateReportError if absent or malformed."""
    path = Path(run_dir) / REPORT_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise GateReportError(f"{path} not found: run `synthspace gate {run_dir}` first") from None
    except OSError as exc:
        raise GateReportError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return GateReport.model_validate_json(data)
    except ValidationError as exc:
        raise GateReportError(
            f"{path} is not a valid gate report: {exc.errors()[0]['msg']}"
        ) from None
