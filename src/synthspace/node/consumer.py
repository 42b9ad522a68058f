"""Who uses another org's artifact, and under which logged agreement.

`Consumer` is the org and its artifact key; `ensure_agreement` finds a logged agreement of the
consumer to an artifact that its policy in force still permits (the node-local cache, then the
coordinator's list) or signs and logs one. Both the catalog's `pull` and the auditor (which
downloads another org's data to audit it) need them; they live here, apart from both, because
`catalog` builds on the auditor (a pull is an audit that keeps the files): the auditor imports
this module, never `catalog`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace.agreement import DATA_ACTIONS, agreement_request, sign_agreement
from synthspace.atomic_files import atomic_output
from synthspace.errors import SynthspaceError
from synthspace.lineage import Statement
from synthspace.policy import decide
from synthspace.policy_versions import served_policy_in_force

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from synthspace.api_models import ArtifactDetail
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
    if consumer.agreements_dir is None:
        return []
    path = consumer.agreements_dir / f"{artifact_id}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def _remember(consumer: Consumer, artifact_id: str, receipt: dict[str, Any]) -> None:
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
