"""Browsing and pulling catalog artifacts; a pull is an audit that keeps the files.

`pull` downloads envelope and data to a temporary directory, runs every audit check except
the lineage walk (envelope signature, publisher key, data digest, log inclusion, checkpoint
consistency, retraction, gates), and only then moves the bundle into the target directory:
nothing is written there for an artifact that does not verify.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace import artifact
from synthspace.errors import SynthspaceError
from synthspace.node.audit import AUDIT_FILE, ENVELOPE_FILE, AuditFailed, AuditReport
from synthspace.node.audit.agreements import check_agreement, write_agreement
from synthspace.node.consumer import (
    AGREEMENTS_CACHE,
    AgreementNeeded,
    Consumer,
    PolicyWithdrawn,
    PullError,
    ensure_agreement,
    policy_in_force,
)
from synthspace.node.coordinator_client import CoordinatorError
from synthspace.node.dataset_card import write_dataset_card
from synthspace.policy import UsagePolicy
from synthspace.policy_versions import (
    PolicyUpdatePayload,
    sign_policy_update,
    update_problem,
    withdrawal_policy,
)

if TYPE_CHECKING:
    from synthspace.node.audit import Auditor
    from synthspace.node.coordinator_client import CoordinatorClient
    from synthspace.policy import Action

# Consumer, the agreement errors, ensure_agreement and policy_in_force live in
# synthspace.node.consumer (the auditor needs them too); they stay importable from here.
__all__ = [
    "AGREEMENTS_CACHE",
    "AgreementNeeded",
    "Consumer",
    "PolicyWithdrawn",
    "PullError",
    "ensure_agreement",
    "load_bundle_data",
    "policy_in_force",
    "pull",
    "update_policy",
]


def pull(
    auditor: Auditor,
    artifact_id: str,
    out_dir: Path | str,
    *,
    purpose: str | None = None,
    consumer: Consumer | None = None,
    action: Action = "use",
) -> AuditReport:
    """Verify `artifact_id` and write its bundle (data, envelope.json, receipt.json,
    statement.json, audit.json) into `out_dir`. Raises AuditFailed naming the failed check.

    With `consumer` (default: the auditor's, a node's own), another org's artifact is pulled under a logged agreement for `action`
    (`use`; `train`, `evaluate`, `derive` for what a node does with the bytes), reused when
    one is cached or logged, made for `purpose` when none is yet; the folder keeps it (agreement.json and
    agreement-receipt.json) and the `agreement` check verifies it."""
    out = Path(out_dir)
    existing = out / ENVELOPE_FILE
    if existing.is_file():
        try:
            held = artifact.artifact_id(existing.read_bytes())
        except SynthspaceError:
            held = "an unreadable envelope"
        if held != artifact_id:
            raise PullError(f"{out} already holds artifact {held}; pull into an empty directory")
    elif out.exists() and not out.is_dir():
        raise PullError(f"{out} exists and is not a directory")
    agreement = None
    consumer = consumer if consumer is not None else auditor.consumer
    if consumer is not None:
        try:
            agreement = ensure_agreement(auditor.client, consumer, artifact_id, purpose, action=action)
        except AgreementNeeded as needed:
            agreement_needed: AgreementNeeded | None = needed
        else:
            agreement_needed = None
    try:
        report = auditor.audit_artifact(artifact_id, lineage=False, keep_dir=out, agree=None)
    except CoordinatorError as exc:
        # Coordinators that enforce agreements refuse the data without one (403 agreement_required).
        if exc.code == "agreement_required" and consumer is not None and agreement_needed is not None:
            raise agreement_needed from None
        raise
    if not report.ok:
        raise AuditFailed(report)
    if agreement is not None:
        write_agreement(out, auditor.client.agreement_envelope(agreement["agreement_id"]), agreement)
        assert report.statement is not None and report.artifact_id is not None
        check_agreement(report, auditor._context(), auditor.verifier(), out, report.statement, report.artifact_id)
        (out / AUDIT_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        if not report.ok:
            raise AuditFailed(report)
    write_dataset_card(out)  # README.md: a Hugging Face dataset card from the verified Statement
    return report


def load_bundle_data(bundle_dir: Path | str) -> Any:
    """The pulled dataset as a pandas DataFrame (the file named by the bundle's statement)."""
    import pandas as pd

    bundle = Path(bundle_dir)
    statement = json.loads((bundle / "statement.json").read_text())
    return pd.read_parquet(bundle / statement["subject"][0]["name"])


def update_policy(
    client: CoordinatorClient,
    consumer: Consumer,
    artifact_id: str,
    policy: UsagePolicy | None,
    *,
    reason: str = "",
) -> dict[str, Any]:
    """Restrict the usage policy of this org's artifact to `policy`, or withdraw it
    (`policy=None`: nothing is permitted any more): sign the update with the org's artifact key
    against the policy in force the coordinator serves, check it locally with the coordinator's
    own rule (policy_versions.update_problem) and submit it. Returns the logged version
    (PolicyVersionRecord JSON). Raises PolicyUpdateError (with its code) before anything is sent
    when the rule refuses it."""
    history = client.policy_history(artifact_id)
    in_force = UsagePolicy.model_validate(history.in_force)
    new = policy if policy is not None else withdrawal_policy(in_force)
    envelope = sign_policy_update(
        consumer.artifact_key, artifact_id=artifact_id, previous=in_force, policy=new, org=consumer.org, reason=reason
    )
    payload = PolicyUpdatePayload.model_validate_json(envelope.payload_bytes())
    problem = update_problem(
        payload, artifact_id=artifact_id, publisher=history.publisher, in_force=in_force,
        withdrawn=history.withdrawn_at is not None,
    )  # fmt: skip
    if problem is not None:
        raise problem
    return client.update_policy(artifact_id, envelope.to_json())
