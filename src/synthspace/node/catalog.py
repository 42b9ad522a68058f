"""Browsing and pulling catalog artifacts; a pull is an audit that keeps the files.

`pull` downloads envelope and data to a temporary directory, runs every audit check except
the lineage walk (envelope signature, publisher key, data digest, log inclusion, checkpoint
consistency, retraction, gates), and only then moves the bundle into the target directory:
nothing is written there for an artifact that does not verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.errors import SynthspaceError
from synthspace.node.audit import ENVELOPE_FILE, AuditFailed, AuditReport

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from synthspace.node.audit import Auditor
    from synthspace.node.coordinator_client import CoordinatorClient
    from synthspace.node.home import NodeHome


class PullError(SynthspaceError):
    """A pull cannot go ahead (target directory holds another artifact, ...)."""


class AgreementNeeded(PullError):
    """The artifact is another org's and no agreement to use it is logged: give a purpose."""


@dataclass(frozen=True)
class Consumer:
    """Who pulls: the org and its artifact key (which signs agreements, see synthspace.agreement)."""

    org: str
    artifact_key: Ed25519PrivateKey

    @classmethod
    def for_home(cls, home: NodeHome) -> Consumer:
        return cls(home.config().org, home.artifact_key())


def ensure_agreement(
    client: CoordinatorClient, consumer: Consumer, artifact_id: str, purpose: str | None
) -> dict[str, Any] | None:
    """The receipt of a logged `use` agreement of `consumer` to the artifact, signing and logging
    one for `purpose` when there is none; None for the publisher's own artifact (it needs none).
    Raises AgreementNeeded when one is needed and `purpose` is None."""
    from synthspace.agreement import PULL_ACTION, sign_agreement
    from synthspace.lineage import Statement

    record = client.artifact(artifact_id)
    if record.org == consumer.org or record.retraction is not None:
        # The publisher needs no agreement; a retracted artifact cannot be agreed to (409
        # artifact_retracted) -- the pull's audit then fails at its `retraction` check.
        return None
    mine = [
        a
        for a in client.agreements(artifact_id)
        if a["org"] == consumer.org and a["action"] == PULL_ACTION and (purpose is None or a["purpose"] == purpose)
    ]
    if mine:
        return client.agreement_receipt(mine[-1]["agreement_id"])
    if purpose is None:
        raise AgreementNeeded(
            f"artifact {artifact_id} is {record.org!r}'s: its data is served only after you agree to its usage "
            "policy; pass --purpose PURPOSE (e.g. train, evaluate, research) or run "
            f"`synthspace catalog agree {artifact_id} --purpose PURPOSE`"
        )
    policy = Statement.model_validate(record.statement).predicate.effective_policy()
    envelope = sign_agreement(
        consumer.artifact_key,
        artifact_id=artifact_id,
        policy_sha256=policy.digest(),
        org=consumer.org,
        purpose=purpose,
    )
    return client.agree(envelope.to_json())


def pull(
    auditor: Auditor,
    artifact_id: str,
    out_dir: Path | str,
    *,
    purpose: str | None = None,
    consumer: Consumer | None = None,
) -> AuditReport:
    """Verify `artifact_id` and write its bundle (data, envelope.json, receipt.json,
    statement.json, audit.json) into `out_dir`. Raises AuditFailed naming the failed check.

    With `consumer`, another org's artifact is pulled under a logged agreement (made for
    `purpose` when none is logged yet); the folder keeps it (agreement.json and
    agreement-receipt.json) and the `agreement` check verifies it."""
    from synthspace import artifact

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
    from synthspace.node.coordinator_client import CoordinatorError

    agreement = None
    if consumer is not None:
        try:
            agreement = ensure_agreement(auditor.client, consumer, artifact_id, purpose)
        except AgreementNeeded as needed:
            agreement_needed: AgreementNeeded | None = needed
        else:
            agreement_needed = None
    try:
        report = auditor.audit_artifact(artifact_id, lineage=False, keep_dir=out)
    except CoordinatorError as exc:
        # Coordinators that enforce agreements refuse the data without one (403 agreement_required).
        if exc.code == "agreement_required" and consumer is not None and agreement_needed is not None:
            raise agreement_needed from None
        raise
    if not report.ok:
        raise AuditFailed(report)
    if agreement is not None:
        import json

        from synthspace.node.audit import AUDIT_FILE
        from synthspace.node.audit.agreements import check_agreement, write_agreement

        write_agreement(out, auditor.client.agreement_envelope(agreement["agreement_id"]), agreement)
        assert report.statement is not None and report.artifact_id is not None
        check_agreement(report, auditor._context(), auditor.verifier(), out, report.statement, report.artifact_id)
        (out / AUDIT_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        if not report.ok:
            raise AuditFailed(report)
    from synthspace.node.dataset_card import write_dataset_card

    write_dataset_card(out)  # README.md: a Hugging Face dataset card from the verified Statement
    return report


def load_bundle_data(bundle_dir: Path | str) -> Any:
    """The pulled dataset as a pandas DataFrame (the file named by the bundle's statement)."""
    import json

    import pandas as pd

    bundle = Path(bundle_dir)
    statement = json.loads((bundle / "statement.json").read_text())
    return pd.read_parquet(bundle / statement["subject"][0]["name"])
