"""Server-side verification shown on an artifact page, done with the protocol functions.

Each check is recomputed when the page is rendered, from what the coordinator stores: the
envelope bytes exactly as published, the publisher's enrolled key, the blob, the log leaf and
the current signed checkpoint. A page therefore shows "fail" if any of those was altered
after publication, instead of repeating what was true at upload time. An auditor should still
run `synthspace audit` on their own machine: this page is a convenience, not a trust anchor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from synthspace import checkpoint as cp
from synthspace import dsse, keys, log_entries
from synthspace import transparency_log as tlog
from synthspace.artifact import artifact_id as compute_artifact_id
from synthspace.coordinator.models import LogLeaf, OrgKey
from synthspace.errors import SynthspaceError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from synthspace.coordinator.blobs import BlobStore
    from synthspace.coordinator.log_store import TransparencyLog
    from synthspace.coordinator.models import Artifact


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class CheckpointView:
    origin: str
    size: int
    root_hex: str
    note: str
    verified: bool
    detail: str


# Rehashing a large blob on every page view would make an unauthenticated page an easy way to
# burn CPU, so a digest is remembered per (file, size, mtime) and recomputed when either changes.
_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGESTS_MAX = 4096


def blob_digest(blobs: BlobStore, sha256_hex: str) -> str:
    """sha256 of the stored blob named `sha256_hex`, recomputed whenever the file changed."""
    path = blobs.path_for(sha256_hex)
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise SynthspaceError(f"blob {sha256_hex} is missing from the blob store") from exc
    key = (str(path), st.st_size, st.st_mtime_ns)
    cached = _DIGESTS.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with blobs.open(sha256_hex) as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    if len(_DIGESTS) >= _DIGESTS_MAX:
        _DIGESTS.clear()
    _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def current_checkpoint(session: Session, log: TransparencyLog) -> CheckpointView:
    """The log's current signed checkpoint, opened with the log's verifier key."""
    note = log.checkpoint(session)
    try:
        opened = cp.open_checkpoint(note, cp.Verifier.from_string(log.verifier_key()))
    except (SynthspaceError, ValueError) as exc:
        return CheckpointView("", 0, "", note, False, f"checkpoint signature does not verify: {exc}")
    return CheckpointView(
        opened.origin, opened.size, opened.root.hex(), note, True,
        "signed by the log key (verifier key at /v1/log/verifier-key)",
    )


def verify_artifact(
    session: Session,
    log: TransparencyLog,
    blobs: BlobStore,
    row: Artifact,
    checkpoint: CheckpointView,
) -> list[Check]:
    """Envelope signature, key ownership and validity, data digest, log entry and inclusion."""
    checks: list[Check] = []

    # 1. The envelope's signature by the publisher's enrolled artifact key.
    key = session.get(OrgKey, row.key_id)
    try:
        envelope = dsse.Envelope.from_json(row.envelope)
        if key is None:
            raise SynthspaceError(f"key {row.key_id[:12]} is not enrolled in this catalog")
        dsse.verify(envelope, {key.key_id: keys.load_public_key_pem(key.public_key_pem)})
        aid = compute_artifact_id(envelope)
        if aid != row.artifact_id:
            raise SynthspaceError(f"payload hashes to {aid[:12]}, not to the artifact id")
        checks.append(Check("Envelope signature", True, f"Ed25519 signature by key {row.key_id[:16]}\u2026 verifies over the exact payload"))
    except (SynthspaceError, ValueError) as exc:
        checks.append(Check("Envelope signature", False, str(exc)))

    # 2. The key belonged to the publisher and was valid when the artifact was published.
    if key is None:
        checks.append(Check("Publisher key", False, "signing key unknown to the catalog"))
    elif key.org_name != row.org_name or key.purpose != "artifact":
        checks.append(Check("Publisher key", False, f"key is a {key.purpose} key of {key.org_name}, not {row.org_name}'s artifact key"))
    elif not key.active_at(row.published_at):
        checks.append(Check("Publisher key", False, "key was not valid when the artifact was published"))
    else:
        note = "" if key.revoked_at is None else f" (revoked later, {key.revoked_at:%Y-%m-%d %H:%M} UTC)"
        checks.append(Check("Publisher key", True, f"{row.org_name}'s enrolled artifact key, valid at publication{note}"))

    # 3. The stored data still hashes to the Statement's subject.
    try:
        digest = blob_digest(blobs, row.subject_sha256)
        ok = digest == row.subject_sha256
        checks.append(Check("Data digest", ok, f"sha256 {digest[:16]}\u2026 {'matches' if ok else 'does NOT match'} the signed subject"))
    except (SynthspaceError, OSError) as exc:
        checks.append(Check("Data digest", False, str(exc)))

    # 4. The log entry at the artifact's index names this artifact and this envelope.
    leaf_row = session.get(LogLeaf, row.log_index)
    leaf_hash: bytes | None = None
    try:
        if leaf_row is None:
            raise SynthspaceError(f"log entry {row.log_index} is missing")
        entry = log_entries.parse_entry(bytes(leaf_row.leaf))
        if not isinstance(entry, log_entries.PublishEntry) or entry.artifact_id != row.artifact_id:
            raise SynthspaceError(f"log entry {row.log_index} is not the publish entry of this artifact")
        if entry.envelope_sha256 != hashlib.sha256(row.envelope).hexdigest():
            raise SynthspaceError("the stored envelope differs from the one the log entry names")
        if entry.subject_sha256 != row.subject_sha256:
            raise SynthspaceError("the log entry names different data")
        leaf_hash = tlog.leaf_hash(bytes(leaf_row.leaf))
        if leaf_hash != bytes(leaf_row.leaf_hash):
            raise SynthspaceError("the stored leaf hash does not match the entry bytes")
        checks.append(Check("Log entry", True, f"publish entry #{row.log_index} names this artifact, envelope and data"))
    except (SynthspaceError, ValueError) as exc:
        checks.append(Check("Log entry", False, str(exc)))

    # 5. Inclusion of that entry in the tree of the current signed checkpoint.
    if not checkpoint.verified:
        checks.append(Check("Log inclusion", False, checkpoint.detail))
    elif leaf_hash is None:
        checks.append(Check("Log inclusion", False, "no valid log entry to prove"))
    else:
        try:
            proof = log.inclusion_proof(session, row.log_index, checkpoint.size)
            tlog.verify_inclusion(leaf_hash, row.log_index, checkpoint.size, proof, bytes.fromhex(checkpoint.root_hex))
            checks.append(Check("Log inclusion", True, f"audit path of {len(proof)} hashes reaches the signed root of tree size {checkpoint.size}"))
        except (SynthspaceError, ValueError) as exc:
            checks.append(Check("Log inclusion", False, str(exc)))
    return checks
