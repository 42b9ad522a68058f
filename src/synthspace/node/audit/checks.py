"""The named checks of an artifact audit, one function each, in the order `CHECKS` lists them.

Each `check_*` adds its result to the report under its name. They read what the audit run
fetched once (`AuditContext`) and, where a check must ask the coordinator again (inclusion
proofs, the org directory), the coordinator client.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from synthspace import artifact, dsse
from synthspace.acceptance import statement_problems
from synthspace.acceptance_lineage import parent_problems
from synthspace.canonical_json import file_sha256
from synthspace.errors import SynthspaceError, VerificationError
from synthspace.evaluation_results import results_problems
from synthspace.log_entries import PublishEntry, parse_entry
from synthspace.node.audit.context import AuditContext, safe_name, sha256_bytes, to_utc
from synthspace.node.audit.key_directory import KeyDirectory, KeyRecord
from synthspace.node.audit.policy_versions import parent_policies
from synthspace.node.audit.report import (
    MAX_LINEAGE_DEPTH,
    AuditReport,
    BundleError,
    CheckResult,
    Status,
    depth,
)
from synthspace.node.coordinator_client import CoordinatorError
from synthspace.transparency_log import leaf_hash, verify_inclusion

if TYPE_CHECKING:
    from synthspace.lineage import Statement
    from synthspace.node.coordinator_client import CoordinatorClient


def verify_signature(envelope: dsse.Envelope, keys: KeyDirectory) -> tuple[str | None, bytes | None, str]:
    """(signer key id, payload, "") when an enrolled key's signature verifies; else a reason."""
    keyids = [s.keyid for s in envelope.signatures]
    if not keyids:
        return None, None, "the envelope carries no signature"
    known = [k for k in keyids if keys.get(k) is not None]
    if not known:
        return None, None, f"signed by key {keyids[0][:16]}…, which no org has enrolled with this coordinator"
    last_error = ""
    for kid in known:
        record = keys.get(kid)
        assert record is not None
        try:
            payload = dsse.verify(envelope, {kid: record.public_key()})
            return kid, payload, ""
        except SynthspaceError as exc:
            last_error = str(exc)
    return None, None, f"the signature does not verify over the payload (modified payload?): {last_error}"


SignedStatement = tuple[str, "Statement", KeyRecord]


def check_envelope_signature(
    report: AuditReport, ctx: AuditContext, envelope_bytes: bytes, expected_id: str | None
) -> SignedStatement | str:
    """envelope_signature: (signer, Statement, key record), or why the later checks are skipped."""
    keys = ctx.keys or KeyDirectory()
    try:
        envelope = dsse.Envelope.from_json(envelope_bytes)
    except SynthspaceError as exc:
        report.add("envelope_signature", "fail", f"the envelope is malformed: {exc}")
        return "envelope unusable"
    if envelope.payloadType != dsse.INTOTO_PAYLOAD_TYPE:
        report.add("envelope_signature", "fail", f"payloadType {envelope.payloadType!r} is not in-toto")
        return "envelope unusable"
    aid = artifact.artifact_id(envelope)
    report.artifact_id = aid
    if expected_id is not None and aid != expected_id:
        report.add("envelope_signature", "fail", f"the catalog served an envelope for {aid}, not for {expected_id}")
        return "envelope unusable"
    signer, payload, why = verify_signature(envelope, keys)
    if signer is None or payload is None:
        report.add("envelope_signature", "fail", why)
        return "signature not verified"
    try:
        statement = artifact.parse_statement(payload)
    except SynthspaceError as exc:
        report.add("envelope_signature", "fail", f"the signed payload is not a lineage Statement: {exc}")
        return "statement unusable"
    report.statement = statement
    record = keys.get(signer)
    assert record is not None
    report.add("envelope_signature", "pass", f"signed by {record.describe()} (key history from {ctx.key_source})")
    return signer, statement, record


def find_publish_entry(
    client: CoordinatorClient, ctx: AuditContext, aid: str, hint: int | None
) -> tuple[int | None, PublishEntry | None, str]:
    """The publish entry of `aid`: at the hinted index, else found by scanning the log."""
    if hint is not None and ctx.checkpoint is not None and 0 <= hint < ctx.checkpoint.size:
        try:
            leaf = ctx.view.leaves[hint] if ctx.view is not None else client.entry(hint)
            entry = parse_entry(leaf)
            if isinstance(entry, PublishEntry) and entry.artifact_id == aid:
                return hint, entry, ""
        except (SynthspaceError, ValueError):
            pass
    if ctx.view is not None:
        found = ctx.view.publish_entries(aid)
        if found:
            return found[0][0], found[0][1], ""
    size = ctx.checkpoint.size if ctx.checkpoint is not None else "?"
    return None, None, f"no publish entry for artifact {aid} in the log (size {size})"


def org_directory_agrees(
    client: CoordinatorClient | None, ctx: AuditContext, org: str, record: KeyRecord
) -> tuple[str | None, str]:
    """Cross-check the log's key history with GET /v1/orgs/{org} (validity periods).

    Returns (problem or None, a note for the report). Without a client that may read the
    directory (unsigned or offline auditors) the log alone decides."""
    if client is None:
        return None, ""
    if org not in ctx.org_records:
        try:
            ctx.org_records[org] = client.org(org)
        except CoordinatorError:
            ctx.org_records[org] = None
    api = ctx.org_records[org]
    if api is None:
        return None, "; org directory not readable, key history from the log alone"
    key = next((k for k in api.keys if k.key_id == record.key_id), None)
    slack = timedelta(seconds=1)
    if key is None:
        return f"GET /v1/orgs/{org} does not list key {record.key_id[:16]}…, which the log enrolled for it", ""
    if key.purpose != record.purpose or abs(to_utc(key.valid_from) - record.valid_from) > slack:
        return f"GET /v1/orgs/{org} and the log disagree on when key {record.key_id[:16]}… became valid", ""
    if (key.revoked_at is None) != (record.revoked_at is None) or (
        key.revoked_at is not None
        and record.revoked_at is not None
        and abs(to_utc(key.revoked_at) - record.revoked_at) > slack
    ):
        return f"GET /v1/orgs/{org} and the log disagree on the revocation of key {record.key_id[:16]}…", ""
    return None, f"; GET /v1/orgs/{org} agrees"


def check_publisher_key(
    report: AuditReport,
    ctx: AuditContext,
    statement: Statement,
    signer: str,
    record: KeyRecord,
    entry: PublishEntry | None,
    org_api: CoordinatorClient | None,
) -> None:
    """publisher_key: the signer is the producer org's artifact key, valid at publication."""
    producer = statement.predicate.producer
    published_at = to_utc(entry.time) if entry is not None else to_utc(statement.predicate.times.signed)
    when = "publication" if entry is not None else "signing (no log entry found)"
    key_problem = None
    if record.purpose != "artifact":
        key_problem = f"key {signer[:16]}… is a {record.purpose} key of {record.org!r}, not an artifact key"
    elif record.org != producer.org:
        key_problem = f"signed with a key of org {record.org!r}, but the Statement names producer {producer.org!r}"
    elif producer.artifact_key_id != signer:
        key_problem = f"the Statement names key {producer.artifact_key_id[:16]}…, but {signer[:16]}… signed it"
    elif entry is not None and entry.org != producer.org:
        key_problem = f"the log entry was published by {entry.org!r}, not the producer {producer.org!r}"
    elif not record.active_at(published_at):
        if record.revoked_at is not None and published_at >= to_utc(record.revoked_at):
            key_problem = (
                f"key {signer[:16]}… of {record.org!r} was revoked at {record.revoked_at.isoformat()}, "
                f"before {when} at {published_at.isoformat()}"
            )
        else:
            key_problem = (
                f"key {signer[:16]}… of {record.org!r} was not yet enrolled at {when} "
                f"({published_at.isoformat()}; valid from {record.valid_from.isoformat()})"
            )
    api_note = ""
    if not key_problem and ctx.key_source == "log":
        key_problem, api_note = org_directory_agrees(org_api, ctx, producer.org, record)
    if key_problem:
        report.add("publisher_key", "fail", key_problem)
        return
    later = f"; revoked later, at {record.revoked_at.isoformat()}" if record.revoked_at is not None else ""
    report.add(
        "publisher_key",
        "pass",
        f"artifact key of {producer.org!r}, valid at {when} ({published_at.isoformat()}){later}{api_note}",
    )


def check_data_digest(
    report: AuditReport,
    statement: Statement,
    data_dir: Path | None,
    downloaded_name: str | None = None,
    downloaded_sha256: str | None = None,
) -> None:
    """data_digest: the data file's sha256 equals the Statement's subject."""
    subject = statement.subject[0]
    data_path: Path | None = None
    if data_dir is not None:
        name: str | None
        try:
            name = safe_name(subject.name)
        except BundleError as exc:
            name = None
            report.add("data_digest", "fail", str(exc))
        if name is not None:
            data_path = data_dir / (downloaded_name or name)
            if not data_path.is_file():
                report.add("data_digest", "fail", f"the data file {name} is missing from {data_dir}")
                data_path = None
    if report.check("data_digest") is not None:
        return
    if data_path is None:
        report.add("data_digest", "skip", "no data file to check")
        return
    # Hashed while downloading, into a private staging directory; else read back.
    actual = downloaded_sha256 or file_sha256(data_path)
    if actual != subject.digest.sha256:
        report.add(
            "data_digest",
            "fail",
            f"{subject.name} has sha256 {actual[:16]}…, the signed Statement says "
            f"{subject.digest.sha256[:16]}…: the data was modified",
        )
    else:
        report.add("data_digest", "pass", f"{subject.name} sha256 {actual} matches the Statement")


def check_log_inclusion(
    report: AuditReport,
    ctx: AuditContext,
    client: CoordinatorClient,
    envelope_bytes: bytes,
    statement: Statement,
    signer: str,
    index: int | None,
    entry: PublishEntry | None,
    problem: str,
) -> None:
    """log_inclusion: the log holds this exact publish entry, included under the checkpoint."""
    if ctx.checkpoint is None:
        why = ctx.log_failure.detail if ctx.log_failure else "no checkpoint"
        report.add("log_inclusion", "fail", f"no verified checkpoint: {why}")
        return
    if ctx.log_failure is not None and ctx.log_failure.check in ("log_root", "log_tiles"):
        report.add("log_inclusion", "fail", ctx.log_failure.detail)
        return
    if entry is None or index is None:
        report.add("log_inclusion", "fail", problem)
        return
    mismatches = []
    if entry.envelope_sha256 != sha256_bytes(envelope_bytes):
        mismatches.append("the envelope differs from the one logged")
    if entry.subject_sha256 != statement.subject[0].digest.sha256:
        mismatches.append("the logged data digest differs from the Statement's")
    if entry.key_id != signer:
        mismatches.append(f"the log records key {entry.key_id[:16]}…, not the signer {signer[:16]}…")
    if mismatches:
        report.add("log_inclusion", "fail", f"log entry {index}: " + "; ".join(mismatches))
        return
    cp = ctx.checkpoint
    try:
        # Fetch the entry again and recompute its leaf hash from the bytes served now.
        fetched = client.entry(index)
        if ctx.view is not None and ctx.view.leaves[index] != fetched:
            raise VerificationError(f"the coordinator now serves different bytes for entry {index}")
        if parse_entry(fetched) != entry:
            raise VerificationError(f"entry {index} as served is not the publish entry checked")
        proof = client.inclusion_proof(index, cp.size)
        verify_inclusion(leaf_hash(fetched), index, cp.size, proof, cp.root)
    except SynthspaceError as exc:
        report.add("log_inclusion", "fail", f"entry {index} is not provably in the log: {exc}")
        return
    report.log_index = index
    report.checkpoint_size = cp.size
    report.receipt = {
        "artifact_id": entry.artifact_id,
        "log_index": index,
        "entry_leaf": base64.b64encode(fetched).decode(),
        "inclusion_proof": {"index": index, "size": cp.size, "hashes": [h.hex() for h in proof]},
        "checkpoint": ctx.view.note if ctx.view is not None else "",
    }
    report.add(
        "log_inclusion",
        "pass",
        f"publish entry {index} (by {entry.org!r} at {entry.time.isoformat()}) is included in the "
        f"signed checkpoint of size {cp.size}",
    )


def checkpoint_consistency(ctx: AuditContext) -> tuple[Status, str]:
    """checkpoint_consistency: the current checkpoint extends the last one this auditor saw."""
    if ctx.log_failure is not None and ctx.log_failure.check == "checkpoint_consistency":
        return "fail", ctx.log_failure.detail
    if ctx.log_failure is not None:
        return "skip", f"log unusable: {ctx.log_failure.detail}"
    assert ctx.view is not None
    if ctx.view.previous_size == 0:
        return "pass", f"first checkpoint this auditor has seen (size {ctx.view.size}); kept for next time"
    if ctx.view.previous_size == ctx.view.size:
        return "pass", f"same signed checkpoint (size {ctx.view.size}) as this auditor saw before"
    return "pass", (
        f"checkpoint of size {ctx.view.size} extends the one of size {ctx.view.previous_size} "
        "seen before; all entries hash to its root"
    )


def check_checkpoint_consistency(report: AuditReport, ctx: AuditContext) -> None:
    report.add("checkpoint_consistency", *checkpoint_consistency(ctx))


def check_retraction(report: AuditReport, ctx: AuditContext, aid: str) -> None:
    """retraction: no retract entry for the artifact in the (verified) log."""
    if ctx.view is None:
        report.add("retraction", "skip", "the log could not be read in full")
        return
    retractions = ctx.view.retractions(aid)
    if retractions:
        index, r = retractions[0]
        report.add(
            "retraction",
            "fail",
            f"retracted at {r.time.isoformat()} by the {r.by} ({r.org}): {r.reason} (log index {index})",
        )
    else:
        report.add("retraction", "pass", f"no retract entry among {ctx.view.size} log entries")


def check_gates(report: AuditReport, statement: Statement) -> None:
    """gates: the Statement meets the acceptance rules (`synthspace.acceptance`), the same rule
    the coordinator applies at publish; the detail names each problem's code."""
    gates = statement.predicate.gates
    problems = statement_problems(statement)
    if problems:
        report.add("gates", "fail", "; ".join(str(p) for p in problems))
        return
    names = ", ".join(f"{g.name}{'' if g.passed else ' (failed, non-blocking)'}" for g in gates)
    report.add("gates", "pass", f"{len(gates)} gate(s) recorded: {names}" if gates else "no gates recorded")


def check_evaluation_results(report: AuditReport, statement: Statement, data_path: Path | None) -> None:
    """evaluation_results (kind `evaluation` only): the verified results file agrees with the
    signed record (`synthspace.evaluation_results`, the rule the coordinator applies at publish)."""
    ev = statement.predicate.evaluation
    if statement.predicate.kind != "evaluation" or ev is None:
        return
    digest = report.check("data_digest")
    if data_path is None or digest is None or digest.status != "pass":
        report.add("evaluation_results", "skip", "the results file was not verified (data_digest)")
        return
    try:
        problems = results_problems(ev, data_path.read_bytes())
    except OSError as exc:
        problems = [f"the results file cannot be read: {exc}"]
    if problems:
        report.add("evaluation_results", "fail", "; ".join(problems))
        return
    counts = ", ".join(f"{k} {m.correct}/{m.items}" for k, m in ev.metrics.items())
    report.add("evaluation_results", "pass", f"the per-item results agree with the signed record ({counts})")


AuditParent = Callable[[str, tuple[str, ...]], AuditReport]


WITHDRAWN = "built on withdrawn data"


def _withdrawn_lines(sub: AuditReport) -> list[str]:
    """'built on withdrawn data: ID failed retraction, retracted at ...: reason' for every
    retracted artifact, and '... ID policy withdrawn at ...' for every artifact whose publisher
    withdrew its policy (a withdrawn `policy` entry in the verified log), in the audited tree
    under (and including) `sub`."""
    lines: list[str] = []
    retraction = sub.check("retraction")
    if retraction is not None and retraction.failed:
        lines.append(f"{WITHDRAWN}: {sub.artifact_id or sub.target} failed retraction, {retraction.detail}")
    elif sub.policy_withdrawal is not None:
        lines.append(f"{WITHDRAWN}: {sub.artifact_id or sub.target} {sub.policy_withdrawal}")
    for parent in sub.parents:
        lines.extend(_withdrawn_lines(parent))
    return lines


def _only_withdrawal(first: CheckResult) -> bool:
    """The parent failed only because it, or an ancestor, is withdrawn (said by _withdrawn_lines)."""
    if first.name == "retraction":
        return True
    return first.name == "lineage" and all(p.startswith(WITHDRAWN) for p in first.detail.split("; "))


def check_lineage(
    report: AuditReport,
    statement: Statement,
    aid: str,
    seen: tuple[str, ...],
    audit_parent: AuditParent | None,
) -> None:
    """lineage: every parent audits clean and has the digest the child names.

    `audit_parent(artifact_id, chain)` audits one parent; None means offline (not walked)."""
    parents = statement.predicate.parents
    if not parents:
        report.add("lineage", "pass", "no parents: an original artifact")
        return
    if audit_parent is None:
        report.add("lineage", "skip", f"offline: {len(parents)} parent(s) not checked; audit online to walk them")
        return
    chain = (*seen, aid)
    if len(chain) > MAX_LINEAGE_DEPTH:
        report.add("lineage", "fail", f"lineage deeper than {MAX_LINEAGE_DEPTH} levels")
        return
    problems: list[str] = []
    for parent in parents:
        if parent.artifact_id in chain:
            problems.append(f"parent {parent.artifact_id[:16]}… forms a cycle")
            continue
        try:
            sub = audit_parent(parent.artifact_id, chain)
        except SynthspaceError as exc:
            problems.append(f"parent {parent.artifact_id[:16]}… cannot be fetched: {exc}")
            continue
        report.parents.append(sub)
        if sub.statement is not None and sub.statement.subject[0].digest.sha256 != parent.digest.sha256:
            problems.append(
                f"parent {parent.artifact_id[:16]}… has data digest "
                f"{sub.statement.subject[0].digest.sha256[:16]}…, the child names {parent.digest.sha256[:16]}…"
            )
        first = sub.first_failure()
        if first is not None and not _only_withdrawal(first):
            problems.append(f"parent {parent.artifact_id[:16]}… failed {first.name}: {first.detail}")
    withdrawn = {line: None for sub in report.parents for line in _withdrawn_lines(sub)}
    problems = list(withdrawn) + problems
    if problems:
        report.add("lineage", "fail", "; ".join(problems))
    else:
        chain_depth = 1 + max((depth(p) for p in report.parents), default=0)
        report.add("lineage", "pass", f"{len(parents)} parent(s) verified, chain depth {chain_depth}")


def check_parent_policy(
    report: AuditReport, statement: Statement, at: datetime, walked: bool, *, index: int | None = None
) -> None:
    """parent_policy: every parent's usage policy in force at the child's publication (log index
    `index`, time `at`) permitted this child's use of it (derive, federated train), and the
    child's licence is no more permissive than any parent's -- `acceptance_lineage.parent_problems`, the
    rule the coordinator applies at publish. Judged on the parents the lineage check verified:
    on the signed policy, or the latest version logged before `index` that the parent's
    `policy_versions` check verified."""
    parents = statement.predicate.parents
    if not parents:
        report.add("parent_policy", "pass", "no parents")
        return
    if not walked:
        report.add("parent_policy", "skip", "offline: the parents' policies were not fetched")
        return
    verified = {
        sub.artifact_id: sub.statement
        for sub in report.parents
        if sub.artifact_id is not None and sub.statement is not None
    }
    problems = parent_problems(statement, verified, at=at, policies=parent_policies(report, before=index))
    if problems:
        report.add("parent_policy", "fail", "; ".join(str(p) for p in problems))
        return
    missing = [p.artifact_id[:16] + "…" for p in parents if p.artifact_id not in verified]
    if missing:
        report.add("parent_policy", "fail", f"parent(s) {', '.join(missing)} could not be verified, so their terms are unknown")
        return
    report.add(
        "parent_policy",
        "pass",
        f"{len(parents)} parent(s) permit this use and their licences allow {statement.predicate.license}",
    )
