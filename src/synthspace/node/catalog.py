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

    from synthspace.api_models import ArtifactDetail
    from synthspace.node.audit import Auditor
    from synthspace.node.coordinator_client import CoordinatorClient
    from synthspace.node.home import NodeHome
    from synthspace.policy import Action, UsagePolicy


class PullError(SynthspaceError):
    """A pull cannot go ahead (target directory holds another artifact, ...)."""


class AgreementNeeded(PullError):
    """The artifact is another org's and no agreement to use it is logged: give a purpose."""


class PolicyWithdrawn(PullError):
    """The artifact's publisher withdrew its usage policy: no new use is permitted."""


@dataclass(frozen=True)
class Consumer:
    """Who pulls: the org and its artifact key (which signs agreements, see synthspace.agreement).

    `agreements_dir` is the node-local cache of the org's logged agreements (their receipts,
    one JSON list per artifact): a valid cached agreement is reused without asking the
    coordinator, so repeated pulls and audits do not sign (and log) a new one each time."""

    org: str
    artifact_key: Ed25519PrivateKey
    agreements_dir: Path | None = None

    @classmethod
    def for_home(cls, home: NodeHome) -> Consumer:
        return cls(home.config().org, home.artifact_key(), home.private_dir / AGREEMENTS_CACHE)


AGREEMENTS_CACHE = "agreements"


def _cached(consumer: Consumer, artifact_id: str) -> list[dict[str, Any]]:
    import json

    if consumer.agreements_dir is None:
        return []
    path = consumer.agreements_dir / f"{artifact_id}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def _remember(consumer: Consumer, artifact_id: str, receipt: dict[str, Any]) -> None:
    import json

    from synthspace.atomic_files import atomic_output

    if consumer.agreements_dir is None:
        return
    known = [r for r in _cached(consumer, artifact_id) if r.get("agreement_id") != receipt.get("agreement_id")]
    consumer.agreements_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with atomic_output(consumer.agreements_dir / f"{artifact_id}.json", mode=0o600) as fh:
        fh.write(json.dumps([*known, receipt], indent=2).encode() + b"\n")


def policy_in_force(record: ArtifactDetail) -> UsagePolicy:
    """The policy that governs a catalog record now: the version the coordinator serves when
    one replaced the signed policy -- accepted only if it restricts the signed one
    (policy_versions.served_policy_in_force) -- else the signed policy."""
    from synthspace.lineage import Statement
    from synthspace.policy_versions import served_policy_in_force

    signed = Statement.model_validate(record.statement).predicate.effective_policy()
    return served_policy_in_force(signed, record.policy_in_force)


def ensure_agreement(
    client: CoordinatorClient,
    consumer: Consumer,
    artifact_id: str,
    purpose: str | None,
    *,
    action: Action = "use",
    record: ArtifactDetail | None = None,
    any_action: bool = False,
) -> dict[str, Any] | None:
    """The receipt of a logged agreement of `consumer` to the artifact for `action` (and
    `purpose`, when given) that the artifact's policy still permits now: a cached one, else one
    the coordinator lists, else one signed and logged for `purpose`. None for the publisher's
    own artifact (it needs none) and for a retracted one (it cannot be agreed to). With
    `any_action`, an agreement for any action that obtains the data (agreement.DATA_ACTIONS) is
    reused, and one for `action` is signed only when there is none (the auditor's downloads).
    Raises AgreementNeeded when one is needed and `purpose` is None."""
    from datetime import UTC, datetime

    from synthspace.agreement import DATA_ACTIONS, agreement_request, sign_agreement
    from synthspace.policy import decide

    record = record or client.artifact(artifact_id)
    if record.org == consumer.org or record.retraction is not None:
        # The publisher needs no agreement; a retracted artifact cannot be agreed to (409
        # artifact_retracted) -- the pull's audit then fails at its `retraction` check.
        return None
    if record.policy_withdrawn_at is not None:
        raise PolicyWithdrawn(
            f"the publisher withdrew the usage policy of {artifact_id} at {record.policy_withdrawn_at.isoformat()}: "
            "it can no longer be agreed to, pulled, trained on or derived from"
        )
    policy = policy_in_force(record)
    digest = policy.digest()
    now = datetime.now(UTC)

    def usable(a: dict[str, Any]) -> bool:
        kind = a.get("action")
        if a.get("org") != consumer.org or a.get("policy_sha256") != digest:
            return False
        if not (kind == action or (any_action and kind in DATA_ACTIONS)):
            return False
        if purpose is not None and a.get("purpose") != purpose and not any_action:
            return False
        request = agreement_request(consumer.org, kind, a.get("purpose"), now)
        return decide(policy, request, publisher=record.org).permitted

    cached = [a for a in _cached(consumer, artifact_id) if usable(a)]
    if cached:
        return cached[-1]
    listed = [a for a in client.agreements(artifact_id) if usable(a)]
    if listed:
        receipt = client.agreement_receipt(listed[-1]["agreement_id"])
        _remember(consumer, artifact_id, receipt)
        return receipt
    if purpose is None:
        raise AgreementNeeded(
            f"artifact {artifact_id} is {record.org!r}'s: its data is served only after you agree to its usage "
            "policy; pass --purpose PURPOSE (e.g. train, evaluate, research) or run "
            f"`synthspace catalog agree {artifact_id} --purpose PURPOSE`"
        )
    envelope = sign_agreement(
        consumer.artifact_key,
        artifact_id=artifact_id,
        policy_sha256=digest,
        org=consumer.org,
        purpose=purpose,
        action=action,
    )
    receipt = client.agree(envelope.to_json())
    _remember(consumer, artifact_id, receipt)
    return receipt


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
    from synthspace.policy import UsagePolicy
    from synthspace.policy_versions import (
        PolicyUpdatePayload,
        sign_policy_update,
        update_problem,
        withdrawal_policy,
    )

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
