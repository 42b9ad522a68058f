"""Every claim the demo makes about what it did (printed at the end, written with --json-summary)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from synthspace.demo.processes import ProcessInfo


@dataclass
class OrgResult:
    org: str
    home: str
    recipe: str
    personas_path: str
    personas: int
    run_dir: str
    records: int
    dropped: dict[str, int]
    gates_passed: bool
    gates: dict[str, str]  # gate name -> pass | FAIL | warn
    artifact_id: str
    log_index: int
    bundle_dir: str
    data_path: str
    envelope_path: str
    subject_sha256: str
    blocked_runs: list[dict[str, Any]] = field(default_factory=list)  # runs a blocking gate kept home
    generated: int = 0  # records the model produced in the published run
    gate_dropped: dict[str, int] = field(default_factory=dict)  # records the gates dropped, per reason
    samples: list[dict[str, Any]] = field(default_factory=list)  # two published records


@dataclass
class PullResult:
    by: str  # the org that pulled
    artifact_id: str
    publisher: str
    bundle_dir: str
    data_path: str
    audit_ok: bool
    first_failure: str | None
    checks: dict[str, str]


@dataclass
class FederationResult:
    run_id: str
    status: str
    rounds: int
    participants: list[str]
    final_metrics: dict[str, float]
    artifact_id: str
    log_index: int
    adapter_path: str
    envelope_path: str
    subject_sha256: str
    parents: list[str]
    audit_ok: bool
    audit_first_failure: str | None
    audit_checks: dict[str, str]
    parent_audits: dict[str, bool]
    superlink: str


@dataclass
class EvaluationSummary:
    """The federated adapter scored against the shipped benchmark, with the base model alongside."""

    artifact_id: str  # the published, signed `evaluation` artifact (its parent: the adapter)
    log_index: int
    org: str  # the org that evaluated and published
    adapter_artifact_id: str
    benchmark: str  # file name of what was scored (a fixed subset with --small)
    benchmark_digest: str
    items: int
    base_accuracy: float
    base_ci95: list[float]  # 95% Wilson interval
    adapter_accuracy: float
    adapter_ci95: list[float]
    delta: float  # adapter minus base, per-item paired
    delta_ci95: list[float]
    items_per_second: float
    out_dir: str
    envelope_path: str
    audit_ok: bool = False  # audited (lineage walk to the adapter and its datasets) by the other org
    audit_first_failure: str | None = None


@dataclass
class DemoSummary:
    """Every claim the demo makes about what it did; written with --json-summary."""

    workdir: str
    started_at: str
    finished_at: str = ""
    wall_seconds: float = 0.0
    small: bool = False
    records_per_org: int = 0
    coordinator_url: str = ""
    coordinator_home: str = ""
    coordinator_port: int = 0
    web_catalog_url: str = ""
    database_url: str = ""
    log_verifier_key: str = ""
    log_size: int = 0
    checkpoint_path: str = ""
    catalog: list[dict[str, Any]] = field(default_factory=list)
    orgs: list[OrgResult] = field(default_factory=list)
    pulls: list[PullResult] = field(default_factory=list)
    federation: FederationResult | None = None
    evaluation: EvaluationSummary | None = None
    processes: list[ProcessInfo] = field(default_factory=list)
    kept_running: bool = False
    stop_command: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
