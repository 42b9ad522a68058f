"""What an audit returns: the named checks, their results, the reports and the audit errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from synthspace.errors import SynthspaceError, VerificationError

if TYPE_CHECKING:
    from synthspace.lineage import Statement
    from synthspace.policy_versions import PolicyVersion

CHECKS = (
    "envelope_signature",
    "publisher_key",
    "data_digest",
    "log_inclusion",
    "checkpoint_consistency",
    "retraction",
    "gates",
    "lineage",
    "parent_policy",
    "parent_agreements",
)
# pull checks everything but walks no parents (lineage, parent_policy, parent_agreements)
PULL_CHECKS = CHECKS[: CHECKS.index("lineage")]
MAX_LINEAGE_DEPTH = 32

ENVELOPE_FILE = "envelope.json"
RECEIPT_FILE = "receipt.json"
STATEMENT_FILE = "statement.json"
AUDIT_FILE = "audit.json"

Status = Literal["pass", "fail", "skip"]


class AuditFailed(VerificationError):
    """An artifact did not verify; carries the report, names the first failing check."""

    def __init__(self, report: AuditReport) -> None:
        self.report = report
        first = report.first_failure()
        what = f"{first.name}: {first.detail}" if first else "unknown failure"
        super().__init__(f"artifact {report.artifact_id or report.target} failed check {what}")


class BundleError(SynthspaceError):
    """A local artifact directory lacks a file or holds a malformed one."""


@dataclass
class CheckResult:
    name: str
    status: Status
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass
class AuditReport:
    """Result of auditing one artifact (and, through `parents`, its lineage)."""

    target: str
    artifact_id: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    statement: Statement | None = None
    log_index: int | None = None
    checkpoint_size: int | None = None
    parents: list[AuditReport] = field(default_factory=list)
    receipt: dict[str, Any] | None = None
    proof_bundle: str | None = None  # C2SP tlog-proof text a pull keeps as proof.tlog
    # "policy withdrawn at ..." when the verified log holds a withdrawal of the artifact's
    # policy (node/audit/policy_versions.py); the lineage names it as "built on withdrawn data"
    policy_withdrawal: str | None = None
    # the logged policy versions the `policy_versions` check verified (None: none checked)
    policy_versions: list[PolicyVersion] | None = None

    def add(self, name: str, status: Status, detail: str) -> CheckResult:
        result = CheckResult(name, status, detail)
        self.checks = [c for c in self.checks if c.name != name] + [result]
        return result

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def ordered(self) -> list[CheckResult]:
        order = {n: i for i, n in enumerate(CHECKS)}
        return sorted(self.checks, key=lambda c: order.get(c.name, len(order)))

    def first_failure(self) -> CheckResult | None:
        return next((c for c in self.ordered() if c.failed), None)

    @property
    def ok(self) -> bool:
        return self.first_failure() is None and bool(self.checks)

    def to_dict(self) -> dict[str, Any]:
        first = self.first_failure()
        return {
            "target": self.target,
            "artifact_id": self.artifact_id,
            "ok": self.ok,
            "first_failure": first.name if first else None,
            "log_index": self.log_index,
            "checkpoint_size": self.checkpoint_size,
            "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in self.ordered()],
            "parents": [p.to_dict() for p in self.parents],
        }



class ReceiptError(VerificationError):
    """A publish receipt did not verify against the log (the coordinator's answer is wrong)."""


def depth(report: AuditReport) -> int:
    return 1 + max((depth(p) for p in report.parents), default=0)


@dataclass
class LogAuditReport:
    """Result of `audit log`: the log as a whole, checked like a monitor."""

    size: int = 0
    root_hex: str = ""
    previous_size: int = 0
    checks: list[CheckResult] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    # "affected: <local> is built on <withdrawn> ..." for new retractions and policy
    # withdrawals that hit this node's artifacts (node/audit/withdrawals.py); notices, not
    # failures of the log.
    affected: list[str] = field(default_factory=list)

    def first_failure(self) -> CheckResult | None:
        return next((c for c in self.checks if c.failed), None)

    @property
    def ok(self) -> bool:
        return self.first_failure() is None

    def to_dict(self) -> dict[str, Any]:
        first = self.first_failure()
        return {
            "ok": self.ok,
            "first_failure": first.name if first else None,
            "size": self.size,
            "root": self.root_hex,
            "previous_size": self.previous_size,
            "counts": self.counts,
            "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in self.checks],
            "findings": self.findings,
            "affected": self.affected,
        }

