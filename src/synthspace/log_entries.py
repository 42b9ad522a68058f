"""Transparency-log entry bodies.

An entry's leaf bytes are the RFC 8785 canonical JSON of one of these models; the Merkle leaf
hash is SHA-256(0x00 || leaf). Entries are append-only; withdrawal is a `retract` entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from synthspace.canonical_json import canonicalize
from synthspace.lineage import StrictModel


class _Entry(StrictModel):
    time: datetime = Field(description="When the coordinator appended the entry (UTC).")
    org: str = Field(description="Organisation the entry concerns.")


class PublishEntry(_Entry):
    type: Literal["publish"] = "publish"
    artifact_id: str = Field(description="Artifact id: hex sha256 of the DSSE payload bytes.")
    subject_sha256: str = Field(description="sha256 of the artifact's data file.")
    envelope_sha256: str = Field(description="sha256 of the envelope JSON exactly as stored.")
    key_id: str = Field(description="Artifact key id that signed the envelope.")


class RetractEntry(_Entry):
    type: Literal["retract"] = "retract"
    artifact_id: str = Field(description="The retracted artifact.")
    reason: str = Field(description="Why it was withdrawn.")
    by: str = Field(description="'publisher' or 'operator'.")


class KeyEntry(_Entry):
    type: Literal["key-add", "key-revoke"] = Field(description="A key enrolled/rotated in, or revoked.")
    key_id: str = Field(description="The key's id.")
    purpose: Literal["artifact", "request", "supernode", "witness"] = Field(
        description="What the key signs (witness: checkpoint cosignatures, named <org>/witness)."
    )
    public_key_pem: str = Field(description="PEM SubjectPublicKeyInfo of the key.")


class PolicyEntry(_Entry):
    """A publisher's new policy version for its artifact; only ever restricts (policy.restriction_violations)."""

    type: Literal["policy"] = "policy"
    artifact_id: str = Field(description="The artifact whose policy is restricted.")
    policy_sha256: str = Field(description="Digest of the new policy ('sha256:<hex>'); the body is served to assignees only.")
    previous_policy_sha256: str = Field(description="Digest of the policy it restricts.")
    withdrawn: bool = Field(default=False, description="True when the new policy permits nothing (policy withdrawal).")
    envelope_sha256: str = Field(
        description="Hex sha256 of the publisher's signed update envelope as submitted (served by "
        "GET /v1/artifacts/{id}/policy): the log commits to the exact signed bytes."
    )
    key_id: str = Field(description="The publisher's artifact key id that signed the update.")


class AgreementEntry(_Entry):
    """A consumer's signed agreement to an artifact's policy (a consumption receipt).

    `org` is the consumer. The entry carries enough to check the agreement offline: the sha256
    of the DSSE envelope (served at GET /v1/agreements/{envelope_sha256} and kept in a pulled
    folder), the consumer's artifact key id that signed it, and the signed terms.
    """

    type: Literal["agreement"] = "agreement"
    artifact_id: str = Field(description="The artifact agreed to.")
    envelope_sha256: str = Field(description="Hex sha256 of the agreement's DSSE envelope JSON as submitted.")
    key_id: str = Field(description="The consumer's artifact key id that signed the envelope.")
    policy_sha256: str = Field(description="Digest of the artifact's signed policy ('sha256:<hex>').")
    action: str = Field(description="The policy action agreed to (a pull needs 'use').")
    purpose: str = Field(description="The purpose the consumer declared.")
    signed_time: datetime = Field(description="The `time` inside the signed agreement.")


AnyEntry = PublishEntry | RetractEntry | KeyEntry | PolicyEntry | AgreementEntry
LogEntry = Annotated[AnyEntry, Field(discriminator="type")]
LOG_ENTRY_ADAPTER: TypeAdapter[AnyEntry] = TypeAdapter(LogEntry)


def entry_bytes(entry: AnyEntry) -> bytes:
    """Canonical leaf bytes of an entry."""
    return canonicalize(entry.model_dump(mode="json"))


def parse_entry(leaf: bytes) -> AnyEntry:
    return LOG_ENTRY_ADAPTER.validate_json(leaf)
