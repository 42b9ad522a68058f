"""Agreements: a consumer's signed acceptance of an artifact's usage policy (protocol module).

Before a coordinator serves an artifact's data to an org other than its publisher, that org
signs an agreement — a DSSE envelope with payloadType `AGREEMENT_PAYLOAD_TYPE` over an
`AgreementPayload` (artifact id, digest of the artifact's signed policy, consumer org, action,
purpose, time, nonce) — and the coordinator appends an `agreement` log entry for it (a
consumption receipt, `log_entries.AgreementEntry`).

The envelope is signed with the consumer's **artifact key**: that is the key an org signs DSSE
statements with, its history is in the log (key-add/key-revoke entries), so anyone holding the
log can verify an agreement offline exactly as they verify an artifact's envelope. Request keys
sign only HTTP requests; a leaked request key cannot forge a consumption receipt.

`agreement_problem` is the one rule both the coordinator (before logging) and the auditor
(when re-checking a logged agreement) apply; permission is decided by `policy.decide`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, Literal

from pydantic import Field, field_validator

from synthspace import dsse
from synthspace.canonical_json import canonicalize
from synthspace.config_model import StrictModel
from synthspace.errors import CodedError
from synthspace.policy import Action, UseRequest, decide

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from synthspace.dsse import Envelope
    from synthspace.policy import UsagePolicy

AGREEMENT_PAYLOAD_TYPE: Final = "application/vnd.synthspace.agreement+json"
AGREEMENT_TYPE: Final = "https://synthspace.dev/agreement/v1"
# The action a plain pull (`catalog pull`, `catalog agree`) agrees to.
PULL_ACTION: Final = "use"
# How far an agreement's signed `time` may be from the coordinator's clock.
FRESHNESS: Final = timedelta(minutes=5)
ACTIONS_AGREEABLE: Final = ("use", "train", "evaluate", "derive")
# GET /v1/artifacts/{id}/data serves another org's data under a logged agreement for any of these:
# each of them needs the bytes (to read, train on, evaluate or derive from them).
DATA_ACTIONS: Final = ACTIONS_AGREEABLE
PURPOSE_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
MAX_ENVELOPE_BYTES: Final = 16 * 1024


class AgreementError(CodedError):
    """An agreement is malformed or does not hold; `code` is the API error code."""


class AgreementPayload(StrictModel):
    """What a consumer signs before data is served."""

    type: Literal["https://synthspace.dev/agreement/v1"] = Field(
        default=AGREEMENT_TYPE, description="Versioned type of this payload."
    )
    artifact_id: str = Field(pattern=r"^[0-9a-f]{64}$", description="The artifact agreed to.")
    policy_sha256: str = Field(
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="Digest of the artifact's signed usage policy (UsagePolicy.digest()).",
    )
    org: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="The consumer org signing.")
    action: Action = Field(
        default=PULL_ACTION, description="The policy action agreed to; a pull needs 'use'."
    )
    purpose: str = Field(
        pattern=PURPOSE_PATTERN, description="Declared purpose, e.g. train, evaluate, research."
    )
    time: datetime = Field(description="When the consumer signed (ISO 8601 with time zone).")
    nonce: str = Field(
        pattern=r"^[0-9a-f]{32}$",
        description="128 random bits, hex: two agreements never coincide.",
    )

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a time zone")
        return value.astimezone(UTC)


def sign_agreement(
    key: Ed25519PrivateKey,
    *,
    artifact_id: str,
    policy_sha256: str,
    org: str,
    purpose: str,
    action: Action = PULL_ACTION,
    time: datetime | None = None,
    nonce: str | None = None,
) -> Envelope:
    """A signed agreement envelope (the consumer's artifact key); `nonce` defaults to 128 random bits."""
    payload = AgreementPayload(
        artifact_id=artifact_id,
        policy_sha256=policy_sha256,
        org=org,
        action=action,
        purpose=purpose,
        time=time or datetime.now(UTC),
        nonce=nonce or secrets.token_hex(16),
    )
    return dsse.sign(canonicalize(payload.model_dump(mode="json")), AGREEMENT_PAYLOAD_TYPE, [key])


def parse_agreement(envelope: Envelope, verified_payload: bytes) -> AgreementPayload:
    """The payload of an envelope whose signature was verified; AgreementError otherwise."""
    return dsse.parse_verified_payload(
        envelope, verified_payload, payload_type=AGREEMENT_PAYLOAD_TYPE, model=AgreementPayload,
        what="an agreement", error=lambda message: AgreementError(message, "invalid_agreement"),
    )  # fmt: skip


def agreement_request(org: str, action: Action, purpose: str | None, time: datetime) -> UseRequest:
    """What an agreement asks of the policy (the one rule for making, serving under and auditing
    agreements). A `train` agreement trains no round yet: it asks for 0 rounds, so a
    `federatedRounds lteq N` permission admits it and the rounds themselves are checked where
    they are trained (the SuperNode, per round; the auditor's `parent_policy`)."""
    return UseRequest(
        org=org, action=action, purpose=purpose, time=time, rounds=0 if action == "train" else None
    )


def agreement_problem(
    payload: AgreementPayload,
    *,
    artifact_id: str,
    policy: UsagePolicy,
    publisher: str,
    now: datetime,
) -> AgreementError | None:
    """None when `payload` agrees to this artifact's policy and the policy permits it at `now`;
    else the error with its code (policy_mismatch, policy_expired, purpose_not_permitted,
    not_permitted)."""
    if payload.artifact_id != artifact_id:
        return AgreementError(
            f"the agreement is for artifact {payload.artifact_id}, not {artifact_id}",
            "policy_mismatch",
        )
    if payload.policy_sha256 != policy.digest():
        return AgreementError(
            f"the agreement names policy {payload.policy_sha256}, the artifact's signed policy is {policy.digest()}",
            "policy_mismatch",
        )
    decision = decide(
        policy, agreement_request(payload.org, payload.action, payload.purpose, now), publisher=publisher
    )
    if decision.permitted:
        return None
    if "dateTime" in decision.failed:
        code = "policy_expired"
    elif "purpose" in decision.failed:
        code = "purpose_not_permitted"
    else:
        code = "not_permitted"
    return AgreementError(f"the policy does not permit this agreement: {decision.reason}", code)
