"""The `agreement` check: a pulled folder's agreement (agreement.json, the consumer's signed
DSSE envelope, and agreement-receipt.json, its log entry with an inclusion proof and the signed
checkpoint) is the consumer's, signed by its enrolled artifact key, agrees to the policy in
force when it was logged -- the one in the artifact's signed Statement, or the latest policy
version logged before it (node/audit/policy_versions.py, from the log's digests) -- and is
provably in the log: offline from the folder alone plus the auditor's pinned log key, key
history and log mirror."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthspace import dsse
from synthspace.acceptance_lineage import listed_agreement_problems
from synthspace.agreement import AgreementError, parse_agreement
from synthspace.canonical_json import sha256_hex
from synthspace.checkpoint import open_checkpoint
from synthspace.errors import SynthspaceError
from synthspace.log_entries import AgreementEntry, parse_entry
from synthspace.node.audit.policy_versions import (
    LoggedPolicy,
    digest_in_force,
    parent_policy_at,
    policy_entries,
)
from synthspace.node.coordinator_client import CoordinatorError
from synthspace.transparency_log import leaf_hash, verify_inclusion

if TYPE_CHECKING:
    from synthspace.checkpoint import Verifier
    from synthspace.lineage import Statement
    from synthspace.node.audit.context import AuditContext
    from synthspace.node.audit.report import AuditReport
    from synthspace.node.coordinator_client import CoordinatorClient

AGREEMENT_FILE = "agreement.json"
AGREEMENT_RECEIPT_FILE = "agreement-receipt.json"


def write_agreement(out: Path, envelope: bytes, receipt: dict[str, Any]) -> None:
    (out / AGREEMENT_FILE).write_bytes(envelope)
    (out / AGREEMENT_RECEIPT_FILE).write_text(json.dumps(receipt, indent=2) + "\n")


def check_logged_agreements(
    report: AuditReport,
    ctx: AuditContext,
    client: CoordinatorClient,
    statement: Statement,
    aid: str,
) -> None:
    """agreement (online, no agreement in a folder): every `agreement` entry for the artifact in
    the verified log names the digest of the policy in force when it was logged (the signed
    Statement's, or the latest `policy` version logged before it); each envelope this auditor
    may read (the consumer's own; all of them for the publisher) hashes to the digest its entry
    names, is signed by the entry's key, an enrolled artifact key of the consumer, and carries
    the entry's terms. No check when the log holds no agreement for the artifact."""
    if ctx.view is None:
        return
    entries = [
        (i, e)
        for i, e in ctx.view.iter_entries()
        if isinstance(e, AgreementEntry) and e.artifact_id == aid
    ]
    if not entries:
        return
    signed_digest = statement.predicate.effective_policy().digest()
    versions = policy_entries(ctx.view, aid)
    problems: list[str] = []
    verified = 0
    for index, entry in entries:
        policy_digest = digest_in_force(signed_digest, versions, before=index)
        if entry.policy_sha256 != policy_digest:
            problems.append(
                f"entry {index} ({entry.org}) names policy {entry.policy_sha256}, "
                f"the policy in force when it was logged is {policy_digest}"
            )
            continue
        try:
            envelope_bytes = client.agreement_envelope(entry.envelope_sha256)
        except CoordinatorError as exc:
            if exc.status in (401, 404):
                # another consumer's envelope: only it, the publisher and the operator read it
                # (an outsider's unsigned auditor reads none)
                continue
            problems.append(f"entry {index}: {exc}")
            continue
        try:
            _check_envelope(ctx, entry, envelope_bytes, aid, policy_digest)
            verified += 1
        except (SynthspaceError, ValueError) as exc:
            problems.append(f"entry {index} ({entry.org}): {exc}")
    if problems:
        report.add("agreement", "fail", "; ".join(problems))
        return
    orgs = ", ".join(sorted({f"{e.org} ({e.purpose})" for _, e in entries}))
    named = "the policy in force when each was logged" if versions else "the signed policy"
    report.add(
        "agreement",
        "pass",
        f"{len(entries)} agreement entr{'y' if len(entries) == 1 else 'ies'} in the verified log name "
        f"{named}: {orgs}; {verified} envelope(s) readable here verified against the consumer's artifact key",
    )


def _check_envelope(
    ctx: AuditContext, entry: AgreementEntry, envelope_bytes: bytes, aid: str, policy_digest: str
) -> None:
    if entry.envelope_sha256 != sha256_hex(envelope_bytes):
        raise AgreementError(
            "the envelope is not the one the log entry names (digest differs)", "agreement"
        )
    key = ctx.keys.get(entry.key_id) if ctx.keys is not None else None
    if key is None or key.org != entry.org or key.purpose != "artifact":
        raise AgreementError(
            f"key {entry.key_id[:16]}… is not an enrolled artifact key of {entry.org!r}",
            "agreement",
        )
    envelope = dsse.Envelope.from_json(envelope_bytes)
    payload = parse_agreement(envelope, dsse.verify(envelope, {entry.key_id: key.public_key()}))
    problems = []
    if payload.artifact_id != aid or entry.artifact_id != aid:
        problems.append(f"it is for artifact {payload.artifact_id}, not {aid}")
    if payload.policy_sha256 != policy_digest or entry.policy_sha256 != policy_digest:
        problems.append(
            f"it names policy {payload.policy_sha256}, the policy in force when it was logged is {policy_digest}"
        )
    signed_terms = (payload.org, payload.action, payload.purpose, payload.time)
    if signed_terms != (entry.org, entry.action, entry.purpose, entry.signed_time):
        problems.append("the signed terms differ from the logged entry")
    if problems:
        raise AgreementError("; ".join(problems), "agreement")


def check_agreement(
    report: AuditReport,
    ctx: AuditContext,
    verifier: Verifier,
    bundle: Path,
    statement: Statement,
    aid: str,
) -> None:
    """agreement (a folder holding agreement.json): that agreement, offline-capable: the checks of
    `_check_envelope` plus its entry's inclusion proof under a checkpoint the pinned log key signed."""
    if not (bundle / AGREEMENT_FILE).is_file():
        return
    try:
        detail = _verify(ctx, verifier, bundle, statement, aid)
    except (SynthspaceError, OSError, ValueError, KeyError, TypeError) as exc:
        report.add("agreement", "fail", f"{AGREEMENT_FILE}: {exc}")
        return
    report.add("agreement", "pass", detail)


def _verify(
    ctx: AuditContext, verifier: Verifier, bundle: Path, statement: Statement, aid: str
) -> str:
    envelope_bytes = (bundle / AGREEMENT_FILE).read_bytes()
    receipt = json.loads((bundle / AGREEMENT_RECEIPT_FILE).read_text())
    leaf = base64.b64decode(receipt["entry_leaf"], validate=True)
    entry = parse_entry(leaf)
    if not isinstance(entry, AgreementEntry):
        raise AgreementError(
            f"the receipt's log entry is a {entry.type!r} entry, not an agreement", "agreement"
        )
    proof = receipt["inclusion_proof"]
    index = int(proof["index"])
    policy_digest = _digest_in_force_at(ctx, statement, aid, index)
    _check_envelope(ctx, entry, envelope_bytes, aid, policy_digest)
    checkpoint = open_checkpoint(str(receipt["checkpoint"]), verifier)
    verify_inclusion(
        leaf_hash(leaf),
        index,
        checkpoint.size,
        [bytes.fromhex(h) for h in proof["hashes"]],
        checkpoint.root,
    )
    if ctx.view is not None and index < ctx.view.size and ctx.view.leaves[index] != leaf:
        raise AgreementError(
            f"the verified log holds different bytes at index {index}", "agreement"
        )
    return (
        f"{entry.org!r} agreed to use it for purpose {entry.purpose!r} at {entry.signed_time.isoformat()} "
        f"(policy {policy_digest[:19]}…); signed by its artifact key; log entry {index} is in the signed "
        f"checkpoint of size {checkpoint.size}"
    )


def _digest_in_force_at(ctx: AuditContext, statement: Statement, aid: str, index: int) -> str:
    """The digest an agreement logged at `index` must name, from the verified log (the auditor's
    mirror offline): the signed policy's unless a `policy` version was logged before it."""
    versions: list[LoggedPolicy] = policy_entries(ctx.view, aid)
    return digest_in_force(statement.predicate.effective_policy().digest(), versions, before=index)


def check_parent_agreements(
    report: AuditReport,
    ctx: AuditContext,
    client: CoordinatorClient | None,
    statement: Statement,
    walked: dict[str, Statement] | None,
) -> None:
    """parent_agreements: each agreement the child's signed lineage lists (`predicate.agreements`)
    is an `agreement` entry at the listed index of the verified log with the listed envelope
    digest and terms, signed (an enrolled artifact key) by the org that used the parent (the
    child's producer; for training data the participants that declared it), for the action the
    parent's role needs (source: derive, training-data: train), naming the parent's policy in
    force when it was logged (signed, or the version this audit verified for the walked parent),
    which permitted it when it was signed; and every other org's source/training-data
    parent is covered by one. Envelopes this auditor may read are verified too. A lineage that
    lists no agreements (published before they were listed) is skipped. `walked`: the parents'
    verified Statements (None offline: the policy terms are not judged)."""
    pred = statement.predicate
    listed = pred.agreements
    if listed is None:
        if pred.parents:
            report.add(
                "parent_agreements", "skip", "the lineage lists no agreements (published before they were listed)"
            )
        else:
            report.add("parent_agreements", "pass", "no parents")
        return
    view = ctx.view
    if view is None:
        report.add("parent_agreements", "skip", "no verified log to find the listed agreements in")
        return

    def entry_at(index: int) -> object | None:
        return view.entry(index) if index < view.size else None

    def artifact_key_org(key_id: str) -> str | None:
        key = ctx.keys.get(key_id) if ctx.keys is not None else None
        return key.org if key is not None and key.purpose == "artifact" else None

    # the rule the coordinator applies at publish (acceptance_lineage.listed_agreement_problems)
    # a parent whose policy versions this audit verified is judged on the version in force
    # when the agreement was logged, as the coordinator did at publish
    coded = listed_agreement_problems(
        statement, walked, entry_at=entry_at, artifact_key_org=artifact_key_org, policy_at=parent_policy_at(report)
    )
    problems = [p.message for p in coded or []]
    # when the log entries hold, each envelope this auditor may read is verified too
    for ref in listed if client is not None and not problems else []:
        where = f"agreement {ref.agreement_id[:16]}… (log index {ref.log_index})"
        entry = view.entry(ref.log_index)
        if not isinstance(entry, AgreementEntry):
            continue
        assert client is not None
        try:
            envelope_bytes = client.agreement_envelope(entry.envelope_sha256)
        except CoordinatorError as exc:
            if exc.status not in (401, 404):  # only the consumer, the publisher and the operator read it
                problems.append(f"{where}: {exc}")
            continue
        try:
            _check_envelope(ctx, entry, envelope_bytes, ref.artifact_id, entry.policy_sha256)
        except (SynthspaceError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        report.add("parent_agreements", "fail", "; ".join(problems))
        return
    report.add(
        "parent_agreements",
        "pass",
        f"{len(listed)} listed agreement(s) found in the verified log, signed by the org that used the parent, "
        "permitting the action its role needs",
    )
