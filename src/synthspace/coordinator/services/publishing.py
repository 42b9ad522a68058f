"""Publishing: verify an artifact, store its bytes, log it and answer with a receipt.

`publish_artifact` is the ONE implementation: the HTTP route calls it, and server-side code
(the Flower ServerApp publishing the federated adapter as the operator org) calls it directly.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
from datetime import datetime
from typing import BinaryIO

from pydantic import ValidationError
from sqlalchemy.orm import Session

from synthspace import artifact as artifact_mod
from synthspace import dsse
from synthspace.acceptance import statement_problems
from synthspace.acceptance_lineage import listed_agreement_problems, parent_problems
from synthspace.api_models import InclusionProof, Receipt
from synthspace.coordinator.blobs import BlobStore
from synthspace.coordinator.errors import (
    ConflictError,
    ForbiddenError,
    InvalidArtifactError,
    NotFoundError,
)
from synthspace.coordinator.log_store import TransparencyLog
from synthspace.coordinator.models import Artifact, LogLeaf, Org, OrgKey, utcnow
from synthspace.coordinator.parquet_bounds import ParquetBoundsError, check_parquet_pages
from synthspace.coordinator.sequencer import PreparedPublish, Sequencer, integrate
from synthspace.coordinator.services.auth import public_key_from_pem
from synthspace.coordinator.services.catalog import policy_at_index, policy_in_force
from synthspace.coordinator.services.orgs import ArtifactKeys
from synthspace.errors import StatementError, SynthspaceError, VerificationError
from synthspace.evaluation_results import MAX_RESULTS_BYTES, parse_results, results_problems
from synthspace.lineage import Statement
from synthspace.log_entries import PublishEntry, entry_bytes, parse_entry
from synthspace.policy import UsagePolicy, visible_orgs

DATASET_KINDS = ("dataset", "derived-dataset")
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024
_CHUNK = 1 << 20


def _bad(code: str, message: str) -> InvalidArtifactError:
    return InvalidArtifactError(message, code=code)


def _sha256_of(data: bytes | BinaryIO) -> tuple[str, int]:
    if isinstance(data, bytes | bytearray | memoryview):
        return hashlib.sha256(data).hexdigest(), len(data)
    h, n = hashlib.sha256(), 0
    data.seek(0)
    while chunk := data.read(_CHUNK):
        h.update(chunk)
        n += len(chunk)
    data.seek(0)
    return h.hexdigest(), n


def _read_head_tail(data: bytes | BinaryIO, size: int) -> tuple[bytes, bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        b = bytes(data)
        return b[:16], b[-8:]
    data.seek(0)
    head = data.read(16)
    data.seek(max(0, size - 8))
    tail = data.read(8)
    data.seek(0)
    return head, tail


def _check_data_format(
    kind: str, data: bytes | BinaryIO, size: int, record_count: int | None, statement: Statement
) -> None:
    """Datasets must be Parquet (and match record_count); adapters must be safetensors;
    evaluations a JSON results file ({"summary": {...}, "results": [...]})."""
    head, tail = _read_head_tail(data, size)
    if kind in DATASET_KINDS:
        if size < 12 or head[:4] != b"PAR1" or tail[-4:] != b"PAR1":
            raise _bad("invalid_data", f"a {kind} must be a Parquet file (PAR1 magic missing)")
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            source = (
                pa.BufferReader(bytes(data))
                if isinstance(data, bytes | bytearray | memoryview)
                else data
            )
            meta = pq.read_metadata(source)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _bad("invalid_data", f"the Parquet footer cannot be read: {exc}") from exc
        finally:
            if not isinstance(data, bytes | bytearray | memoryview):
                data.seek(0)
        try:  # the pages' own sizes, not only the footer's: a page (so a cell) is bounded
            pages = io.BytesIO(bytes(data)) if isinstance(data, bytes | bytearray | memoryview) else data
            check_parquet_pages(pages, meta, size)
        except ParquetBoundsError as exc:
            raise _bad("parquet_too_large", str(exc)) from exc
        if record_count is not None and meta.num_rows != record_count:
            raise _bad(
                "record_count_mismatch",
                f"the lineage says {record_count} records but the Parquet file has {meta.num_rows} rows",
            )
    elif kind == "evaluation":
        _check_results_file(data, size, statement)
    else:
        if size < 10:
            raise _bad("invalid_data", "a model adapter must be a safetensors file (too short)")
        (header_len,) = struct.unpack("<Q", head[:8])
        if header_len <= 0 or header_len > size - 8 or head[8:9] != b"{":
            raise _bad("invalid_data", "a model adapter must be a safetensors file (bad header)")


def _check_results_file(data: bytes | BinaryIO, size: int, statement: Statement) -> None:
    """An evaluation's subject agrees with its signed record (`synthspace.evaluation_results`)."""
    if size > MAX_RESULTS_BYTES:
        raise _bad("invalid_data", f"an evaluation results file must be at most {MAX_RESULTS_BYTES} bytes")
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        data.seek(0)
        raw = data.read()
        data.seek(0)
    parsed = parse_results(raw)
    if isinstance(parsed, str):
        raise _bad("invalid_data", parsed)
    if statement.predicate.evaluation is not None:  # absent: the acceptance rules refuse it
        problems = results_problems(statement.predicate.evaluation, raw)
        if problems:
            raise _bad("evaluation_results_mismatch", "; ".join(problems))


def receipt_for(session: Session, log: TransparencyLog, artifact: Artifact) -> Receipt:
    """The receipt of a published artifact: proof and checkpoint for the batch it was logged in
    (`log_leaves.tree_size`; the entry's own tree for entries logged one by one).

    Deterministic (Ed25519 signatures are), so re-publishing returns byte-identical receipts.
    """
    return _receipt(session, log, artifact.artifact_id, artifact.log_index)


def _receipt(
    session: Session,
    log: TransparencyLog,
    artifact_id: str,
    index: int,
    tree_size: int | None = None,
    leaf: bytes | None = None,
    checkpoint: str | None = None,
) -> Receipt:
    if leaf is None or tree_size is None or tree_size <= index:
        leaf, tree_size = log.receipt_size(session, index)
    proof = log.inclusion_proof(session, index, tree_size)
    return Receipt(
        artifact_id=artifact_id,
        log_index=index,
        entry_leaf=base64.b64encode(leaf).decode("ascii"),
        inclusion_proof=InclusionProof(index=index, size=tree_size, hashes=[h.hex() for h in proof]),
        checkpoint=checkpoint or log.checkpoint(session, tree_size),
    )


def publish_artifact(
    session: Session,
    blobs: BlobStore,
    log: TransparencyLog,
    org: str,
    envelope_bytes: bytes,
    data_bytes: bytes | BinaryIO,
    *,
    artifact_keys: ArtifactKeys,
    accept_failed_nonblocking_gates: bool = False,
    sequencer: Sequencer | None = None,
) -> Receipt:
    """Verify and publish one artifact of `org`; returns its receipt. Commits.

    Checks, in order: envelope syntax and payload type; the signing key is an artifact key of
    `org`, valid now (`artifact_keys` may miss a revocation: the log writer checks that under
    its lock and refuses with key_revoked); the DSSE signature (before parsing the payload);
    the Statement and lineage schema; producer org/key match the signer; the data's sha256
    equals the single subject; the data format (Parquet / safetensors, row count); every
    recorded gate passed; parents exist in the catalog with matching digests. Then the blob is stored durably and the
    catalog row and its `publish` log entry are committed in one transaction: the `sequencer`'s
    batch (waiting for it), or without one a transaction of its own. Re-publishing
    the same envelope returns the original receipt. Raises InvalidArtifactError (422),
    ForbiddenError (403) or NotFoundError (404) naming the problem.
    """
    if len(envelope_bytes) > MAX_ENVELOPE_BYTES:
        raise _bad("invalid_envelope", f"the envelope is larger than {MAX_ENVELOPE_BYTES} bytes")
    try:
        envelope = dsse.Envelope.from_json(envelope_bytes)
    except (SynthspaceError, ValidationError, ValueError) as exc:
        raise _bad("invalid_envelope", f"the envelope is not valid DSSE JSON: {exc}") from exc
    if envelope.payloadType != dsse.INTOTO_PAYLOAD_TYPE:
        raise _bad(
            "invalid_envelope",
            f"payloadType must be {dsse.INTOTO_PAYLOAD_TYPE!r}, got {envelope.payloadType!r}",
        )
    if not envelope.signatures:
        raise _bad("invalid_envelope", "the envelope carries no signature")
    try:
        artifact_id = artifact_mod.artifact_id(envelope)
    except (SynthspaceError, ValueError) as exc:
        raise _bad("invalid_envelope", f"the envelope payload is not valid base64: {exc}") from exc

    now = utcnow()
    signer_ids = [s.keyid for s in envelope.signatures]
    valid = artifact_keys.valid_at(org, now, signer_ids)
    if not valid and session.get(Org, org) is None:  # (the org is looked up only when it has no key)
        raise NotFoundError(f"org {org!r} is not enrolled", code="unknown_org")
    ours = [k for k in signer_ids if k in valid]
    if not ours:
        for kid in signer_ids:
            known = session.get(OrgKey, kid)
            if known is not None and known.org_name == org and known.revoked_at is not None:
                raise ForbiddenError(
                    f"artifact key {kid} was revoked at {known.revoked_at.isoformat()}",
                    code="key_revoked",
                )
        raise ForbiddenError(
            f"the envelope is not signed by an active artifact key of org {org!r} (signed by {', '.join(signer_ids)})",
            code="key_not_owned",
        )
    trusted = {kid: public_key_from_pem(valid[kid]) for kid in ours}
    try:
        statement: Statement = artifact_mod.open_statement(envelope, trusted)
    except StatementError as exc:
        raise _bad(
            "invalid_statement", f"the payload is not a valid synthspace Statement: {exc}"
        ) from exc
    except VerificationError as exc:
        raise _bad("invalid_signature", f"the envelope signature does not verify: {exc}") from exc
    except (SynthspaceError, ValidationError, ValueError) as exc:
        raise _bad(
            "invalid_statement", f"the payload is not a valid synthspace Statement: {exc}"
        ) from exc
    key_id = ours[0]
    pred = statement.predicate
    if pred.producer.org != org:
        raise _bad(
            "producer_mismatch",
            f"the lineage names producer org {pred.producer.org!r}, but {org!r} is publishing",
        )
    if pred.producer.artifact_key_id not in ours:
        raise _bad(
            "producer_mismatch",
            f"the lineage names artifact key {pred.producer.artifact_key_id}, which did not sign the envelope",
        )
    if len(statement.subject) != 1:
        raise _bad(
            "invalid_statement",
            f"the Statement must have exactly one subject (the data file), got {len(statement.subject)}",
        )
    subject = statement.subject[0]
    data_sha256, size = _sha256_of(data_bytes)
    if data_sha256 != subject.digest.sha256:
        raise _bad(
            "digest_mismatch",
            f"the uploaded data has sha256 {data_sha256}, the Statement subject says {subject.digest.sha256}",
        )
    _check_data_format(pred.kind, data_bytes, size, pred.record_count, statement)
    # Visibility follows the signed usage policy (None: every member may see it).
    assignees = visible_orgs(pred.effective_policy())
    problems = statement_problems(
        statement, accept_failed_nonblocking_gates=accept_failed_nonblocking_gates
    )
    if problems:
        raise _bad(problems[0].code, "; ".join(p.message for p in problems))
    for parent in pred.parents:
        row = session.get(Artifact, parent.artifact_id)
        if row is None:
            raise _bad(
                "unknown_parent", f"parent artifact {parent.artifact_id} is not in this catalog"
            )
        if row.subject_sha256 != parent.digest.sha256:
            raise _bad(
                "parent_digest_mismatch",
                f"parent {parent.artifact_id} has data sha256 {row.subject_sha256}, not {parent.digest.sha256}",
            )
        if row.retracted_at is not None:
            raise _bad(
                "parent_retracted",
                f"parent {parent.artifact_id} was retracted ({row.retraction_reason or 'no reason given'}); "
                "it cannot be built upon",
            )
    _check_parent_terms(session, statement, now)
    # No look for an earlier identical publish here: the log's writer checks under its lock (a
    # second look would cost every publish a query), and its outcome returns the first receipt.
    session.rollback()  # end the read snapshot before taking the write lock

    # Bytes first, durably; then row + log entry in one transaction.
    if isinstance(data_bytes, bytes | bytearray | memoryview):
        stored = blobs.put_bytes(bytes(data_bytes))
    else:
        data_bytes.seek(0)
        stored = blobs.put_file(data_bytes)
    if stored != data_sha256:
        raise _bad("digest_mismatch", "the data changed while it was being stored")

    envelope_sha256 = hashlib.sha256(envelope_bytes).hexdigest()
    entry = PublishEntry(
        time=now,
        org=org,
        artifact_id=artifact_id,
        subject_sha256=data_sha256,
        envelope_sha256=envelope_sha256,
        key_id=key_id,
    )
    prepared = PreparedPublish(
        artifact_id=artifact_id,
        org=org,
        leaf=entry_bytes(entry),
        logged_at=now,
        row={
            "artifact_id": artifact_id,
            "org_name": org,
            "key_id": key_id,
            "kind": pred.kind,
            "title": pred.title,
            "description": pred.description,
            "license": pred.license,
            "task": pred.task,
            "locale": pred.locale,
            "record_count": pred.record_count,
            "subject_name": subject.name,
            "subject_sha256": data_sha256,
            "size_bytes": size,
            "envelope": bytes(envelope_bytes),
            "envelope_sha256": envelope_sha256,
            # (not json.loads(to_json_bytes()): the same values, without a canonical
            # serialisation in pure Python, ~0.1 ms a publish)
            "statement": statement.to_json_obj(),
            "signed_at": pred.times.signed,
            "published_at": now,
            "visible_to_all": assignees is None,
        },
        tags=list(dict.fromkeys(t.strip()[:100] for t in pred.tags if t.strip())),
        parents=[(p.artifact_id, p.role) for p in {p.artifact_id: p for p in pred.parents}.values()],
        assignees=sorted(assignees) if assignees is not None else None,
    )
    # Verified: hand it to the sequencer (batched, group commit) or log it here on its own.
    if sequencer is not None:
        outcome = sequencer.submit(prepared)
    else:
        outcome = integrate(session, log, [prepared])[0][artifact_id]
    if outcome.key_revoked_at is not None:  # revoked after it was checked above
        artifact_keys.forget(org)
        raise ForbiddenError(
            f"artifact key {key_id} was revoked at {outcome.key_revoked_at.isoformat()}",
            code="key_revoked",
        )
    if outcome.existing_org is not None:  # a concurrent identical publish won the race
        existing = session.get(Artifact, artifact_id)
        assert existing is not None
        return _existing_receipt(session, log, existing, org)
    return _receipt(
        session, log, artifact_id, outcome.index, outcome.tree_size, prepared.leaf, outcome.checkpoint
    )


def _check_parent_terms(session: Session, statement: Statement, now: datetime) -> None:
    """Each parent's signed usage policy permits this use, and the child's licence is no more
    permissive than a parent's (`acceptance_lineage.parent_problems`, the rule the auditor re-runs); the
    agreements the lineage lists are logged, the user's, for the parent's role and policy, and
    cover every other org's source/training-data parent (`acceptance_lineage.listed_agreement_problems`,
    the auditor's `parent_agreements`). A lineage listing none (published before) is not judged."""
    parents: dict[str, Statement] = {}
    in_force: dict[str, UsagePolicy] = {}
    rows: dict[str, Artifact] = {}
    for link in statement.predicate.parents:
        row = session.get(Artifact, link.artifact_id)
        if row is not None and link.artifact_id not in parents:
            rows[link.artifact_id] = row
            parents[link.artifact_id] = Statement.model_validate(row.statement)
            if row.policy_version:
                in_force[link.artifact_id] = policy_in_force(session, row)
    problems = parent_problems(statement, parents, at=now, policies=in_force)
    if problems:
        raise _bad(problems[0].code, "; ".join(p.message for p in problems))

    # The agreements the lineage lists: the auditor's `parent_agreements` rule, on this log.
    def entry_at(index: int) -> object | None:
        row = session.get(LogLeaf, index)
        return None if row is None else parse_entry(row.leaf)

    def artifact_key_org(key_id: str) -> str | None:
        key = session.get(OrgKey, key_id)
        return key.org_name if key is not None and key.purpose == "artifact" else None

    def policy_at(parent_id: str, index: int) -> UsagePolicy | None:
        row = rows.get(parent_id)
        return policy_at_index(session, row, index) if row is not None and row.policy_version else None

    listed = listed_agreement_problems(
        statement, parents, entry_at=entry_at, artifact_key_org=artifact_key_org, policy_at=policy_at
    )
    if listed:
        raise _bad(listed[0].code, "; ".join(p.message for p in listed))


def _existing_receipt(
    session: Session, log: TransparencyLog, existing: Artifact, org: str
) -> Receipt:
    if existing.org_name != org:
        raise ConflictError(
            f"artifact {existing.artifact_id} was already published by {existing.org_name!r}",
            code="already_published",
        )
    return receipt_for(session, log, existing)
