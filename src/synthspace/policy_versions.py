"""Policy versions: a publisher restricts or withdraws an artifact's usage policy after
publication (protocol module; no node/coordinator imports).

The policy signed into the lineage cannot change. A publisher who wants to share less signs a
*policy update* -- a DSSE envelope (payloadType `POLICY_UPDATE_PAYLOAD_TYPE`) over a
`PolicyUpdatePayload`: the artifact, the digest of the policy in force (`previous_policy_sha256`),
the complete new policy, a reason and the time -- with its **artifact key** (the key whose history
is in the log, as for agreements). The coordinator checks it with `update_problem` and appends a
`policy` log entry (`log_entries.PolicyEntry`, digests only); the envelope itself is served to
whoever may see the artifact, so any auditor can re-check the whole chain offline with
`verify_chain`.

Rules (one place, used by the coordinator before logging and by the auditor on the log):
- only the artifact's publisher signs an update (its enrolled artifact key);
- an update names the policy in force as its previous one, so versions form one chain and two
  concurrent updates cannot both land;
- the new policy only restricts (`policy.restriction_violations`): widening needs a new
  publication and new agreements;
- a *withdrawal* is an update whose policy permits nothing: no agreement, pull, derive or
  training is permitted any more, and everything built on the artifact is marked "built on
  withdrawn data", as for a retraction. A withdrawn policy cannot be updated again.

Agreements logged after a version name that version's digest (`policy_in_force`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import Field, ValidationError, field_validator

from synthspace import dsse
from synthspace.canonical_json import canonicalize
from synthspace.config_model import StrictModel
from synthspace.errors import CodedError
from synthspace.policy import UsagePolicy, restriction_violations

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from synthspace.dsse import Envelope

POLICY_UPDATE_PAYLOAD_TYPE: Final = "application/vnd.synthspace.policy-update+json"
POLICY_UPDATE_TYPE: Final = "https://synthspace.dev/policy-update/v1"
MAX_UPDATE_ENVELOPE_BYTES: Final = 64 * 1024
MAX_VERSIONS: Final = 100  # policy versions one artifact may have (each is a log entry)
MAX_REASON_CHARS: Final = 1000


class PolicyUpdateError(CodedError):
    """A policy update is malformed or not allowed; `code` is the API error code."""


class PolicyUpdatePayload(StrictModel):
    """What a publisher signs to restrict or withdraw its artifact's policy."""

    type: Literal["https://synthspace.dev/policy-update/v1"] = Field(
        default=POLICY_UPDATE_TYPE, description="Versioned type of this payload."
    )
    artifact_id: str = Field(pattern=r"^[0-9a-f]{64}$", description="The artifact whose policy changes.")
    previous_policy_sha256: str = Field(
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="Digest of the policy in force now (the signed one, or the latest version).",
    )
    policy: UsagePolicy = Field(description="The complete new policy; it may only restrict the previous one.")
    reason: str = Field(
        default="", max_length=MAX_REASON_CHARS, description="Why the terms change (shown to consumers)."
    )
    org: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="The publisher signing.")
    time: datetime = Field(description="When the publisher signed (ISO 8601 with time zone).")

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a time zone")
        return value.astimezone(UTC)

    @property
    def withdrawn(self) -> bool:
        return is_withdrawal(self.policy)


def is_withdrawal(policy: UsagePolicy) -> bool:
    """A policy that permits nothing to anyone but the publisher."""
    return not policy.permission


def withdrawal_policy(previous: UsagePolicy) -> UsagePolicy:
    """The policy of `catalog policy ID --withdraw`: no permission, every prohibition kept (so it
    is a restriction of `previous` by `restriction_violations`)."""
    return UsagePolicy(permission=[], prohibition=list(previous.prohibition), groups=dict(previous.groups))


def sign_policy_update(
    key: Ed25519PrivateKey,
    *,
    artifact_id: str,
    previous: UsagePolicy,
    policy: UsagePolicy,
    org: str,
    reason: str = "",
    time: datetime | None = None,
) -> Envelope:
    """A signed policy-update envelope (the publisher's artifact key)."""
    payload = PolicyUpdatePayload(
        artifact_id=artifact_id,
        previous_policy_sha256=previous.digest(),
        policy=policy,
        reason=reason,
        org=org,
        time=time or datetime.now(UTC),
    )
    return dsse.sign(canonicalize(payload.model_dump(mode="json")), POLICY_UPDATE_PAYLOAD_TYPE, [key])


def parse_policy_update(envelope: Envelope, verified_payload: bytes) -> PolicyUpdatePayload:
    """The payload of an envelope whose signature was verified; PolicyUpdateError otherwise."""
    return dsse.parse_verified_payload(
        envelope, verified_payload, payload_type=POLICY_UPDATE_PAYLOAD_TYPE, model=PolicyUpdatePayload,
        what="a policy update", error=lambda message: PolicyUpdateError(message, "invalid_policy_update"),
    )  # fmt: skip


def update_problem(
    payload: PolicyUpdatePayload, *, artifact_id: str, publisher: str, in_force: UsagePolicy, withdrawn: bool
) -> PolicyUpdateError | None:
    """None when `payload` may follow the policy `in_force` (withdrawn: it already permits
    nothing and was withdrawn); else the error and its code."""
    if payload.artifact_id != artifact_id:
        return PolicyUpdateError(
            f"the update is for artifact {payload.artifact_id}, not {artifact_id}", "invalid_policy_update"
        )
    if payload.org != publisher:
        return PolicyUpdateError(
            f"only the publisher {publisher!r} may change the policy of {artifact_id}", "not_publisher"
        )
    if withdrawn:
        return PolicyUpdateError(
            f"the policy of {artifact_id} was withdrawn; a withdrawn policy cannot change again",
            "policy_withdrawn",
        )
    if payload.previous_policy_sha256 != in_force.digest():
        return PolicyUpdateError(
            f"the update follows policy {payload.previous_policy_sha256}, the policy in force is "
            f"{in_force.digest()}: fetch it and sign again",
            "policy_mismatch",
        )
    if payload.policy.digest() == in_force.digest():
        return PolicyUpdateError("the new policy is the policy in force: nothing to change", "policy_unchanged")
    widened = restriction_violations(in_force, payload.policy)
    if widened:
        return PolicyUpdateError(
            "a policy version may only restrict the one in force (widening needs a new publication "
            "and new agreements): " + "; ".join(widened),
            "policy_widened",
        )
    return None


@dataclass(frozen=True)
class PolicyVersion:
    """One logged version: the entry's log index and the verified update."""

    log_index: int
    payload: PolicyUpdatePayload
    envelope_sha256: str
    key_id: str

    @property
    def digest(self) -> str:
        return self.payload.policy.digest()


def policy_in_force(signed: UsagePolicy, versions: Sequence[PolicyVersion], *, before: int | None = None) -> UsagePolicy:
    """The policy in force just before log index `before` (None: now), from the signed policy
    and the artifact's versions in log order."""
    policy = signed
    for v in versions:
        if before is not None and v.log_index >= before:
            break
        policy = v.payload.policy
    return policy


def visibility_policy(signed: UsagePolicy, versions: Sequence[PolicyVersion | UsagePolicy]) -> UsagePolicy:
    """The policy that decides who sees the artifact: the latest version that is not a
    withdrawal. A withdrawal, like a retraction, keeps the catalog entry visible to those who
    could see it, so holders and descendants learn of it; it permits nothing else."""
    policy = signed
    for v in versions:
        candidate = v.payload.policy if isinstance(v, PolicyVersion) else v
        if not is_withdrawal(candidate):
            policy = candidate
    return policy


def served_policy_in_force(signed: UsagePolicy, served: dict[str, Any] | None) -> UsagePolicy:
    """The policy in force as a coordinator serves it (`ArtifactDetail.policy_in_force`; None
    while the signed policy is), accepted only if it restricts the signed one: a coordinator can
    make a node stricter, never laxer (`synthspace audit` re-checks the signed chain)."""
    if served is None:
        return signed
    try:
        policy = UsagePolicy.model_validate(served)
    except ValidationError as exc:
        raise PolicyUpdateError(f"the coordinator serves a malformed policy in force: {exc}", "invalid_policy_update") from None
    widened = restriction_violations(signed, policy)
    if widened:
        raise PolicyUpdateError(
            "the coordinator serves a policy in force that widens the signed one: " + "; ".join(widened),
            "policy_widened",
        )
    return policy


def chain_problems(signed: UsagePolicy, versions: Sequence[PolicyVersion], *, artifact_id: str, publisher: str) -> list[str]:
    """Every way the versions (in log order, signatures already verified) fail to form one
    chain of restrictions from the signed policy: the rules of `update_problem`, applied in turn."""
    problems: list[str] = []
    in_force, withdrawn = signed, False
    for v in versions:
        problem = update_problem(
            v.payload, artifact_id=artifact_id, publisher=publisher, in_force=in_force, withdrawn=withdrawn
        )
        if problem is not None:
            problems.append(f"policy version at log index {v.log_index}: {problem} [{problem.code}]")
        in_force, withdrawn = v.payload.policy, withdrawn or v.payload.withdrawn
    return problems
