"""`coordinator verify`: recompute everything the database and the blob store claim, from the
log and the signed envelopes, and name each inconsistency.

The log's leaves are the record of truth (every node can check them against signed
checkpoints); the catalog rows, the stored subtree hashes, the key and retraction rows and the
blobs are derived from them and the signed envelopes, so an edit of any of them is caught here:

    log_nodes          every stored subtree hash equals the hash recomputed from the leaves
    log_entry          every leaf parses and its entry_type column names its type
    artifact_entry     every catalog row points at the publish entry of its artifact id
    envelope_digest    the stored envelope hashes to the row's and the log entry's digest, and
                       its payload hashes to the artifact id
    visibility         visible_to_all and the assignee rows, recomputed from the signed usage policy
                       and its logged versions
    policy_version     each policy version row matches its `policy` log entry
    artifact_metadata  title, description, kind, license, task, locale, record count, subject
                       name and the stored Statement equal what the signed Statement says
    data_digest        the row's data digest equals the log entry's and the Statement's, and
                       the blob's bytes hash to it
    retraction         every retract entry is reflected on its row, and every retracted row
                       has its retract entry
    key_directory      every key row equals its key-add entry (org, purpose, PEM) and, when
                       revoked, has its key-revoke entry; every logged key has its row
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from synthspace import artifact as artifact_mod
from synthspace import dsse
from synthspace import transparency_log as tlog
from synthspace.coordinator.blobs import BlobStore
from synthspace.coordinator.models import (
    Artifact,
    ArtifactAssignee,
    LogLeaf,
    LogNode,
    OrgKey,
    PolicyVersionRow,
)
from synthspace.errors import SynthspaceError
from synthspace.lineage import Statement
from synthspace.log_entries import KeyEntry, PolicyEntry, PublishEntry, RetractEntry, parse_entry
from synthspace.policy import UsagePolicy, visible_orgs
from synthspace.policy_versions import visibility_policy

MAX_REPORTED = 1000  # inconsistencies listed (the count is always exact)


@dataclass(frozen=True)
class Inconsistency:
    """One thing the stored state says that its source of truth does not."""

    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check} [{self.subject}]: {self.detail}"


class _Found:
    def __init__(self) -> None:
        self.items: list[Inconsistency] = []
        self.count = 0

    def add(self, check: str, subject: str, detail: str) -> None:
        self.count += 1
        if len(self.items) < MAX_REPORTED:
            self.items.append(Inconsistency(check, subject, detail))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_nodes(session: Session, hashes: list[bytes], found: _Found) -> None:
    levels: list[list[bytes]] = [hashes]
    while len(levels[-1]) >= 2:
        below = levels[-1]
        levels.append([tlog.node_hash(below[2 * i], below[2 * i + 1]) for i in range(len(below) // 2)])
    for node in session.execute(select(LogNode)).scalars():
        level_hashes = levels[node.level] if 0 < node.level < len(levels) else []
        if node.idx >= len(level_hashes):
            found.add("log_nodes", f"node {node.level}/{node.idx}", "a stored subtree hash beyond the log's leaves")
        elif node.hash != level_hashes[node.idx]:
            found.add(
                "log_nodes",
                f"node {node.level}/{node.idx}",
                "the stored subtree hash differs from the hash of its leaves (inclusion proofs would be wrong)",
            )


def _statement_fields(st: Statement) -> dict[str, Any]:
    p = st.predicate
    return {
        "org_name": p.producer.org,
        "key_id": p.producer.artifact_key_id,
        "kind": p.kind,
        "title": p.title,
        "description": p.description,
        "license": p.license,
        "task": p.task,
        "locale": p.locale,
        "record_count": p.record_count,
        "subject_name": st.subject[0].name,
        "subject_sha256": st.subject[0].digest.sha256,
    }


def _check_artifact(
    row: Artifact,
    entries: dict[int, Any],
    blobs: BlobStore | None,
    found: _Found,
    assignees: set[str],
    versions: list[PolicyVersionRow],
) -> None:
    aid = row.artifact_id
    entry = entries.get(row.log_index)
    if not isinstance(entry, PublishEntry) or entry.artifact_id != aid:
        found.add("artifact_entry", aid, f"log index {row.log_index} does not hold this artifact's publish entry")
        entry = None
    if _sha256(row.envelope) != row.envelope_sha256:
        found.add("envelope_digest", aid, "the stored envelope does not hash to the row's envelope digest")
    if entry is not None and entry.envelope_sha256 != _sha256(row.envelope):
        found.add("envelope_digest", aid, "the stored envelope differs from the one the log entry names")
    try:
        envelope = dsse.Envelope.from_json(row.envelope)
        statement = artifact_mod.parse_statement(envelope.payload_bytes())
        envelope_aid = artifact_mod.artifact_id(envelope)
    except (SynthspaceError, ValueError) as exc:
        found.add("envelope_digest", aid, f"the stored envelope is unreadable: {exc}")
        return
    if envelope_aid != aid:
        found.add("envelope_digest", aid, f"the stored envelope is the one of artifact {envelope_aid}")
    signed = _statement_fields(statement)
    for column, value in signed.items():
        if column == "subject_sha256":
            continue
        if getattr(row, column) != value:
            found.add("artifact_metadata", aid, f"{column} in the catalog differs from the signed Statement")
    # Who may see it follows from the signed usage policy and its logged versions alone: a
    # database edit must not widen it.
    for v in versions:
        logged = entries.get(v.log_index)
        if (
            not isinstance(logged, PolicyEntry)
            or logged.artifact_id != aid
            or logged.policy_sha256 != v.policy_sha256
            or logged.envelope_sha256 != v.envelope_sha256
            or _sha256(v.envelope) != v.envelope_sha256
        ):
            found.add("policy_version", aid, f"version {v.version} does not match the policy entry at log index {v.log_index}")
        elif UsagePolicy.model_validate(v.policy).digest() != v.policy_sha256:
            found.add("policy_version", aid, f"version {v.version}'s stored policy does not hash to its logged digest")
    if row.policy_version != len(versions) or (row.policy_withdrawn_at is not None) != any(v.withdrawn for v in versions):
        found.add("policy_version", aid, "the artifact's policy version or withdrawal differs from its logged versions")
    policy = visibility_policy(
        statement.predicate.effective_policy(), [UsagePolicy.model_validate(v.policy) for v in versions]
    )
    signed_orgs = visible_orgs(policy)
    if bool(row.visible_to_all) != (signed_orgs is None) or (signed_orgs is not None and assignees != set(signed_orgs)):
        found.add("visibility", aid, "who may see it in the catalog differs from its usage policy and logged versions")
    if row.statement != statement.to_json_obj():
        found.add("artifact_metadata", aid, "the stored Statement differs from the signed one")
    digests = {row.subject_sha256, signed["subject_sha256"]}
    if entry is not None:
        digests.add(entry.subject_sha256)
        if entry.org != row.org_name or entry.key_id != row.key_id:
            found.add("artifact_entry", aid, "the row's org or key differs from the log entry's")
    if len(digests) != 1:
        found.add("data_digest", aid, "the row, the log entry and the signed Statement name different data digests")
    if blobs is not None:
        if not blobs.exists(row.subject_sha256):
            found.add("data_digest", aid, f"blob {row.subject_sha256} is missing")
        else:
            h = hashlib.sha256()
            with blobs.open(row.subject_sha256) as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            if h.hexdigest() != row.subject_sha256:
                found.add("data_digest", aid, f"blob {row.subject_sha256} holds other bytes (sha256 {h.hexdigest()})")


def verify_state(session: Session, blobs: BlobStore | None) -> tuple[int, list[Inconsistency]]:
    """(count, the first MAX_REPORTED inconsistencies) of the catalog, keys and stored tree
    against the log's leaves, the signed envelopes and (with `blobs`) the blob bytes."""
    found = _Found()
    entries: dict[int, Any] = {}
    hashes: list[bytes] = []
    for leaf in session.execute(select(LogLeaf).order_by(LogLeaf.idx)).scalars():
        if leaf.idx != len(hashes):
            found.add("log_entry", f"index {leaf.idx}", f"leaf indices are not contiguous (expected {len(hashes)})")
        hashes.append(tlog.leaf_hash(leaf.leaf))
        try:
            entries[leaf.idx] = entry = parse_entry(leaf.leaf)
        except (SynthspaceError, ValueError) as exc:
            found.add("log_entry", f"index {leaf.idx}", f"the leaf is not a log entry: {exc}")
            continue
        if entry.type != leaf.entry_type:
            found.add("log_entry", f"index {leaf.idx}", f"entry_type says {leaf.entry_type!r}, the leaf is {entry.type!r}")
    _check_nodes(session, hashes, found)

    rows = {row.artifact_id: row for row in session.execute(select(Artifact)).scalars()}
    assigned: dict[str, set[str]] = {}
    for aid, org in session.execute(select(ArtifactAssignee.artifact_id, ArtifactAssignee.org_name)):
        assigned.setdefault(aid, set()).add(org)
    versions: dict[str, list[PolicyVersionRow]] = {}
    for v in session.scalars(select(PolicyVersionRow).order_by(PolicyVersionRow.version)):
        versions.setdefault(v.artifact_id, []).append(v)
    for row in rows.values():
        _check_artifact(row, entries, blobs, found, assigned.get(row.artifact_id, set()), versions.get(row.artifact_id, []))
    for aid in sorted(set(assigned) - set(rows)):
        found.add("visibility", aid, "assignee rows name an artifact the catalog does not hold")
    published = {e.artifact_id for e in entries.values() if isinstance(e, PublishEntry)}
    for aid in sorted(published - set(rows)):
        found.add("artifact_entry", aid, "the log publishes this artifact but the catalog has no row")

    retracted: dict[str, int] = {}
    for idx, e in entries.items():
        if isinstance(e, RetractEntry):
            retracted.setdefault(e.artifact_id, idx)
    for aid, idx in retracted.items():
        hit = rows.get(aid)
        if hit is not None and (hit.retracted_at is None or hit.retract_log_index != idx):
            found.add("retraction", aid, f"log entry {idx} retracts it, the catalog row does not say so")
    for aid, row in rows.items():
        if row.retracted_at is not None and aid not in retracted:
            found.add("retraction", aid, "the catalog row is retracted without a retract entry in the log")

    added: dict[str, tuple[int, KeyEntry]] = {}
    revoked: dict[str, int] = {}
    for idx, e in entries.items():
        if isinstance(e, KeyEntry):
            if e.type == "key-add":
                added.setdefault(e.key_id, (idx, e))
            else:
                revoked.setdefault(e.key_id, idx)
    keys = {k.key_id: k for k in session.execute(select(OrgKey)).scalars()}
    for kid, key in keys.items():
        logged = added.get(kid)
        if logged is None:
            found.add("key_directory", kid, "a key row without a key-add entry in the log")
            continue
        idx, e = logged
        if key.added_log_index != idx or key.org_name != e.org or key.purpose != e.purpose:
            found.add("key_directory", kid, f"the key row's org, purpose or log index differs from entry {idx}")
        if key.public_key_pem.strip() != e.public_key_pem.strip():
            found.add("key_directory", kid, f"the key row's public key differs from the one entry {idx} enrolled")
        if (key.revoked_at is not None) != (kid in revoked) or (
            kid in revoked and key.revoked_log_index != revoked[kid]
        ):
            found.add("key_directory", kid, "the key row's revocation differs from the log")
    for kid in sorted(set(added) - set(keys)):
        found.add("key_directory", kid, "the log enrols this key but the key directory has no row")
    return found.count, found.items
