"""Verify artifacts end to end, the way an auditor who trusts nobody would.

Modules: `checks` (one function per named check), `auditor` (the orchestration), `report`
(results and errors), `receipts` (publish receipts), `log_monitor` (log sync and the
auditor's state), `log_audit` (`audit log`), `key_directory` (key history from the log),
`agreements` (agreement checks), `policy_versions` (the policy versions check and the policy in
force the other checks judge by), `withdrawals` (which of a node's artifacts a withdrawal hits).

`Auditor` runs the named checks, in this order, on an artifact fetched by id or on a local
bundle directory (envelope.json, the data file, receipt.json as written by publish or pull):

    envelope_signature      the DSSE signature verifies, with a key some org enrolled
    publisher_key           that key is the producer org's artifact key, valid at publication
    data_digest             the data file's sha256 equals the Statement's subject
    log_inclusion           the log holds this exact publish entry (recomputed leaf), included
                            under the current signed checkpoint (RFC 9162 inclusion proof)
    checkpoint_consistency  the current checkpoint extends the last one this auditor saw
    retraction              no retract entry for the artifact in the (verified) log
    gates                   the Statement's gates meet `synthspace.acceptance` (the coordinator's
                            rule): required blocking gates present and passed, known names,
                            metrics consistent with `passed`; the detail names each problem code
    lineage                 every parent audits clean and has the digest the child names

and, only where they apply (after them in the report):

    evaluation_results      (kind `evaluation`) the verified results file agrees with the
                            signed evaluation record (per-item results count the signed items
                            and correct answers; the summary names the same benchmark digest,
                            adapter and counts)
    policy_versions         (the log holds policy versions of the artifact) each `policy` entry
                            has the publisher's signed update, verified against its artifact
                            key of the time, carrying the entry's digests; the versions only
                            restrict the signed policy; the coordinator serves no other
    agreement               (the log holds agreements to it, or a pulled folder keeps one)
                            each names the policy in force when it was logged, signed by the
                            consumer's artifact key

A parent whose policy was withdrawn (or that was retracted) makes the child's `lineage` say
"built on withdrawn data"; `parent_policy` and `parent_agreements` judge a parent on the policy
in force when the child was published / the agreement was logged.

The report names the first failing check; `AuditReport.ok` is True only if none failed.
Key history comes from the verified log (key-add/key-revoke entries) and is cross-checked
with `GET /v1/orgs/{org}` when the auditor may read it.
"""


from synthspace.node.audit.auditor import Auditor
from synthspace.node.audit.auditor_state import DEFAULT_AUDITOR_STATE, AuditorState
from synthspace.node.audit.context import safe_name
from synthspace.node.audit.key_directory import KeyDirectory, KeyRecord
from synthspace.node.audit.log_monitor import (
    LogCheckFailed,
    LogView,
    advance_checkpoint,
    offline_client,
    resolve_verifier,
    sync_log,
)
from synthspace.node.audit.report import (
    AUDIT_FILE,
    CHECKS,
    ENVELOPE_FILE,
    MAX_LINEAGE_DEPTH,
    PULL_CHECKS,
    RECEIPT_FILE,
    STATEMENT_FILE,
    AuditFailed,
    AuditReport,
    BundleError,
    CheckResult,
    LogAuditReport,
    ReceiptError,
    Status,
)

_safe_name = safe_name  # the name older callers import

__all__ = [
    "AUDIT_FILE",
    "CHECKS",
    "DEFAULT_AUDITOR_STATE",
    "ENVELOPE_FILE",
    "MAX_LINEAGE_DEPTH",
    "PULL_CHECKS",
    "RECEIPT_FILE",
    "STATEMENT_FILE",
    "AuditFailed",
    "AuditReport",
    "Auditor",
    "AuditorState",
    "BundleError",
    "CheckResult",
    "KeyDirectory",
    "KeyRecord",
    "LogAuditReport",
    "LogCheckFailed",
    "LogView",
    "ReceiptError",
    "Status",
    "advance_checkpoint",
    "offline_client",
    "resolve_verifier",
    "safe_name",
    "sync_log",
]
