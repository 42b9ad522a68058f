"""Wire models of the coordinator's HTTP API, shared by the coordinator and the node client.

Every model rejects unknown fields; binary values travel as lowercase hex (hashes) or
standard base64 (leaf bytes). See docs/coordinator.md for the endpoints.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from synthspace.config_model import StrictModel

ORG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


def is_org_name(name: str) -> bool:
    """THE org-name rule (ORG_PATTERN over the whole string: Python's `$` would let a trailing
    newline through, so every Python-side check must call this)."""
    return isinstance(name, str) and re.fullmatch(ORG_PATTERN[1:-1], name) is not None


HEX64_PATTERN = r"^[0-9a-f]{64}$"

KeyPurpose = Literal["artifact", "request", "supernode", "witness"]
ArtifactKind = Literal["dataset", "derived-dataset", "model-adapter", "evaluation"]
SortOrder = Literal["newest", "oldest", "title"]


class ApiModel(StrictModel):
    """Base of every API model: unknown fields are an error."""


class ErrorBody(ApiModel):
    error: str = Field(description="Stable machine-readable error code, e.g. 'invalid_signature'.")
    detail: str = Field(description="What went wrong and what to do about it.")


class Health(ApiModel):
    status: Literal["ok"] = Field(description="'ok' when the service and its database answer.")
    log_size: int = Field(description="Current number of transparency-log entries.")
    version: str = Field(description="synthspace version of the coordinator.")


# ---- orgs and keys -------------------------------------------------------------------------


class EnrolRequest(ApiModel):
    token: str = Field(
        min_length=1,
        max_length=200,
        description="One-time token from `synthspace coordinator invite`.",
    )
    org: str = Field(pattern=ORG_PATTERN, description="Organisation name the token was issued for.")
    artifact_public_key: str = Field(
        min_length=1,
        max_length=4096,
        description="PEM SubjectPublicKeyInfo of the Ed25519 artifact-signing key.",
    )
    request_public_key: str = Field(
        min_length=1,
        max_length=4096,
        description="PEM SubjectPublicKeyInfo of the Ed25519 request-signing key.",
    )
    supernode_public_key: str | None = Field(
        default=None,
        max_length=4096,
        description="Optional Flower SuperNode public key (PEM, as Flower's node authentication reads it).",
    )
    display_name: str | None = Field(
        default=None, max_length=200, description="Human-readable organisation name."
    )
    witness_key: str | None = Field(
        default=None,
        max_length=200,
        description="Optional C2SP vkey of the node's witness (`synthspace node witness --print-key`), "
        "named `<org>/witness`; enrolled as a key with purpose `witness`.",
    )
    witness_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Base URL of that witness (POST <url>/add-checkpoint); required with witness_key.",
    )


class OrgKey(ApiModel):
    key_id: str = Field(
        description="Hex sha256 of the raw public key (for supernode keys: of the PEM text)."
    )
    purpose: KeyPurpose = Field(description="What the key signs.")
    public_key_pem: str = Field(description="PEM public key.")
    valid_from: datetime = Field(description="When the key was enrolled (UTC).")
    revoked_at: datetime | None = Field(
        default=None, description="When the key was revoked (UTC), if it was."
    )
    revoke_reason: str | None = Field(default=None, description="Why it was revoked.")
    added_log_index: int = Field(description="Log index of the key-add entry.")
    revoked_log_index: int | None = Field(
        default=None, description="Log index of the key-revoke entry."
    )
    witness_key: str | None = Field(
        default=None, description="For a witness key: its C2SP vkey (`<org>/witness+<hash>+<key>`)."
    )
    witness_url: str | None = Field(
        default=None, description="For a witness key: where the witness answers (not logged)."
    )


class OrgRecord(ApiModel):
    org: str = Field(description="Organisation name.")
    display_name: str = Field(description="Human-readable name.")
    is_operator: bool = Field(
        description="True for the coordinator's own org (publishes federated adapters)."
    )
    enrolled_at: datetime = Field(description="When the org enrolled (UTC).")
    keys: list[OrgKey] = Field(
        description="Every key the org ever enrolled, with validity periods."
    )
    artifact_count: int = Field(default=0, description="Artifacts published by the org.")


class OrgList(ApiModel):
    orgs: list[OrgRecord] = Field(description="Enrolled organisations, by name.")


class KeyAddRequest(ApiModel):
    purpose: KeyPurpose = Field(description="What the new key will sign.")
    public_key_pem: str = Field(
        min_length=1,
        max_length=4096,
        description="Public key to add: PEM (artifact, request), PEM or OpenSSH (supernode), "
        "the C2SP vkey named `<org>/witness` (witness).",
    )
    witness_url: str | None = Field(
        default=None, max_length=2000, description="With purpose witness: the witness's base URL."
    )
    revoke_previous: bool = Field(
        default=False, description="Revoke the org's other active keys of this purpose (rotation)."
    )


class KeyRevokeRequest(ApiModel):
    reason: str = Field(default="", max_length=1000, description="Why the key is revoked.")


# ---- log -----------------------------------------------------------------------------------


class InclusionProof(ApiModel):
    index: int = Field(ge=0, description="Leaf index.")
    size: int = Field(ge=1, description="Tree size the proof is for.")
    hashes: list[str] = Field(description="Audit path, hex SHA-256 hashes, leaf to root.")


class ConsistencyProof(ApiModel):
    first: int = Field(ge=0, description="Size of the older tree.")
    second: int = Field(ge=0, description="Size of the newer tree.")
    hashes: list[str] = Field(description="RFC 9162 consistency proof, hex SHA-256 hashes.")


class LogEntryOut(ApiModel):
    index: int = Field(ge=0, description="Leaf index.")
    leaf: str = Field(
        description="Base64 of the canonical entry bytes; leaf hash = SHA-256(0x00 || leaf)."
    )


class LogEntries(ApiModel):
    entries: list[LogEntryOut] = Field(description="Entries start..end-1 in index order.")


# ---- artifacts -----------------------------------------------------------------------------


class Receipt(ApiModel):
    artifact_id: str = Field(description="Hex sha256 of the DSSE payload bytes.")
    log_index: int = Field(ge=0, description="Index of the publish entry in the log.")
    entry_leaf: str = Field(description="Base64 of the publish entry's canonical bytes.")
    inclusion_proof: InclusionProof = Field(
        description="Proof of the entry in the tree of the checkpoint."
    )
    checkpoint: str = Field(description="Signed note (C2SP) of the tree the proof is for.")


class Retraction(ApiModel):
    retracted_at: datetime = Field(description="When it was retracted (UTC).")
    reason: str = Field(description="Why.")
    by: Literal["publisher", "operator"] = Field(description="Who retracted it.")
    log_index: int = Field(description="Log index of the retract entry.")


class RetractRequest(ApiModel):
    reason: str = Field(min_length=1, max_length=1000, description="Why the artifact is withdrawn.")


class ArtifactSummary(ApiModel):
    artifact_id: str = Field(description="Hex sha256 of the DSSE payload bytes.")
    org: str = Field(description="Publishing organisation.")
    kind: ArtifactKind = Field(description="What the artifact is.")
    title: str = Field(description="Title from the lineage.")
    description: str = Field(description="Description from the lineage.")
    license: str = Field(description="SPDX license id.")
    task: str | None = Field(default=None, description="Recipe task.")
    locale: str | None = Field(default=None, description="Content locale.")
    tags: list[str] = Field(description="Tags.")
    record_count: int | None = Field(default=None, description="Rows in the data file.")
    subject_name: str = Field(description="File name of the data.")
    subject_sha256: str = Field(description="sha256 of the data file.")
    size_bytes: int = Field(description="Size of the data file.")
    key_id: str = Field(description="Artifact key that signed the envelope.")
    signed_at: datetime = Field(description="Signing time from the lineage (UTC).")
    published_at: datetime = Field(description="When the coordinator logged it (UTC).")
    log_index: int = Field(description="Log index of the publish entry.")
    retraction: Retraction | None = Field(
        default=None, description="Set when the artifact was retracted."
    )
    policy_version: int = Field(
        default=0,
        description="0 while the signed usage policy is in force; N after N logged policy versions.",
    )
    policy_withdrawn_at: datetime | None = Field(
        default=None,
        description="Set when the publisher withdrew the policy: nothing is permitted any more.",
    )


class ParentLink(ApiModel):
    artifact_id: str = Field(description="Parent artifact id.")
    role: str = Field(description="How the parent was used.")
    title: str | None = Field(
        default=None, description="Parent's title when it is in this catalog."
    )


class WithdrawnAncestor(ApiModel):
    artifact_id: str = Field(
        description="A withdrawn artifact this one is built on (a parent, or theirs)."
    )
    title: str = Field(description="Its title.")
    retracted_at: datetime = Field(description="When it was retracted or its policy withdrawn (UTC).")
    reason: str = Field(description="Why it was withdrawn.")
    how: Literal["retracted", "policy withdrawn"] = Field(
        default="retracted",
        description="'retracted' (a retract entry) or 'policy withdrawn' (a policy version permitting nothing).",
    )


class ArtifactDetail(ArtifactSummary):
    statement: dict[str, Any] = Field(
        description="The verified in-toto Statement (lineage) as JSON."
    )
    gates: list[dict[str, Any]] = Field(description="Gate results recorded in the lineage.")
    parents: list[ParentLink] = Field(description="Artifacts this one was built from.")
    children: list[ParentLink] = Field(description="Artifacts built from this one.")
    withdrawn_ancestors: list[WithdrawnAncestor] = Field(
        default_factory=list,
        description="Retracted or policy-withdrawn artifacts this one is built on, through any "
        "chain of parents the caller may see: non-empty means it is built on withdrawn data.",
    )
    policy_in_force: dict[str, Any] | None = Field(
        default=None,
        description="The policy in force when a later version replaced the signed one "
        "(GET /v1/artifacts/{id}/policy has the chain); null while the signed policy is in force.",
    )


class ArtifactPage(ApiModel):
    items: list[ArtifactSummary] = Field(description="One page of artifacts.")
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null at the end."
    )


# ---- agreements (issue 16 item 3) -----------------------------------------------------------


class AgreementSignature(ApiModel):
    keyid: str = Field(
        max_length=128, description="Key id of the signing key (hex sha256 of the raw public key)."
    )
    sig: str = Field(max_length=512, description="Base64 Ed25519 signature over the DSSE PAE.")


class AgreementEnvelope(ApiModel):
    """A DSSE envelope whose payload is an `agreement.AgreementPayload`."""

    payloadType: str = Field(
        max_length=200, description="application/vnd.synthspace.agreement+json"
    )
    payload: str = Field(max_length=8192, description="Base64 of the agreement payload JSON.")
    signatures: list[AgreementSignature] = Field(
        max_length=4, description="Signatures (the consumer's artifact key)."
    )


class AgreementRecord(ApiModel):
    """A logged agreement (a consumption receipt)."""

    agreement_id: str = Field(description="Hex sha256 of the envelope JSON as submitted.")
    artifact_id: str = Field(description="The artifact agreed to.")
    org: str = Field(description="The consumer org that signed.")
    key_id: str = Field(description="The consumer's artifact key id that signed it.")
    action: str = Field(description="The policy action agreed to.")
    purpose: str = Field(description="The declared purpose.")
    policy_sha256: str = Field(description="Digest of the artifact's signed policy.")
    signed_at: datetime = Field(description="The signed `time` of the agreement.")
    logged_at: datetime = Field(description="When the coordinator logged it.")
    log_index: int = Field(ge=0, description="Index of the agreement entry in the log.")


class AgreementReceipt(AgreementRecord):
    entry_leaf: str = Field(description="Base64 of the agreement entry's canonical bytes.")
    inclusion_proof: InclusionProof = Field(
        description="Proof of the entry in the checkpoint's tree."
    )
    checkpoint: str = Field(description="Signed note (C2SP) of the tree the proof is for.")


class PolicyUpdateEnvelope(ApiModel):
    """A DSSE envelope whose payload is a `policy_versions.PolicyUpdatePayload`."""

    payloadType: str = Field(
        max_length=200, description="application/vnd.synthspace.policy-update+json"
    )
    payload: str = Field(max_length=60000, description="Base64 of the policy-update payload JSON.")
    signatures: list[AgreementSignature] = Field(
        max_length=4, description="Signatures (the publisher's artifact key)."
    )


class PolicyVersionRecord(ApiModel):
    """One logged policy version of an artifact (a `policy` log entry and its signed update)."""

    version: int = Field(description="1 for the first version after the signed policy, then 2, ...")
    policy: dict[str, Any] = Field(description="The new policy (synthspace ODRL profile).")
    policy_sha256: str = Field(description="Its digest ('sha256:<hex>'), as the log entry names it.")
    previous_policy_sha256: str = Field(description="Digest of the policy it restricted.")
    withdrawn: bool = Field(description="True when it permits nothing (a withdrawal).")
    reason: str = Field(description="Why the publisher changed the terms.")
    key_id: str = Field(description="The publisher's artifact key id that signed the update.")
    signed_at: datetime = Field(description="The `time` inside the signed update.")
    logged_at: datetime = Field(description="When the coordinator logged it.")
    log_index: int = Field(description="Index of its `policy` entry in the transparency log.")
    envelope: str = Field(description="Base64 of the signed update's DSSE envelope as submitted.")


class PolicyHistory(ApiModel):
    """An artifact's signed policy, its logged versions and the policy in force."""

    artifact_id: str = Field(description="The artifact.")
    publisher: str = Field(description="Its publisher (the only org that may sign versions).")
    signed_policy: dict[str, Any] = Field(
        description="The policy signed into the lineage (the space's terms when none was signed)."
    )
    signed_policy_sha256: str = Field(description="Its digest.")
    versions: list[PolicyVersionRecord] = Field(description="Logged versions, oldest first.")
    in_force: dict[str, Any] = Field(description="The policy in force now (the latest version, else the signed one).")
    in_force_sha256: str = Field(description="Its digest: what a new agreement must name.")
    withdrawn_at: datetime | None = Field(description="When the policy was withdrawn; null if it was not.")


class AgreementList(ApiModel):
    agreements: list[AgreementRecord] = Field(description="Oldest first; at most 1000.")
