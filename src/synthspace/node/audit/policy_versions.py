"""The `policy_versions` check, and the policy in force the other checks judge by.

A publisher may restrict or withdraw its artifact's usage policy after publication
(synthspace.policy_versions): each version is a `policy` entry in the transparency log (digests
only) and a signed update the coordinator serves with the artifact's policy history
(GET /v1/artifacts/{id}/policy). The verified log is the record of truth; the served updates
must account for every entry and for nothing else:

- each served version sits at a `policy` entry of the artifact in the verified log, and every
  such entry has a served version;
- its envelope verifies against an artifact key of the publisher that the key history of the log
  says was active when the coordinator logged it (the coordinator's own rule at submission);
- the signed update carries the entry's digests and withdrawal flag (the served record and
  policy body too);
- the versions form one chain of restrictions from the signed policy
  (`policy_versions.chain_problems`, the rule the coordinator applies before logging).

Agreements logged after a version name that version's digest: `digest_in_force` gives it from
the log's entry digests alone (no policy bodies needed).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from synthspace import dsse
from synthspace.canonical_json import sha256_hex
from synthspace.errors import SynthspaceError, VerificationError
from synthspace.log_entries import PolicyEntry
from synthspace.node.audit.context import to_utc
from synthspace.node.coordinator_client import CoordinatorError
from synthspace.policy import UsagePolicy
from synthspace.policy_versions import (
    PolicyVersion,
    chain_problems,
    parse_policy_update,
    policy_in_force,
)

if TYPE_CHECKING:
    from synthspace.api_models import PolicyHistory, PolicyVersionRecord
    from synthspace.lineage import Statement
    from synthspace.node.audit.context import AuditContext
    from synthspace.node.audit.log_monitor import LogView
    from synthspace.node.audit.report import AuditReport
    from synthspace.node.coordinator_client import CoordinatorClient

LoggedPolicy = tuple[int, PolicyEntry]


def policy_entries(view: LogView | None, artifact_id: str) -> list[LoggedPolicy]:
    """The artifact's `policy` entries in the verified log, in index order."""
    if view is None:
        return []
    return [(i, e) for i, e in view.iter_entries() if isinstance(e, PolicyEntry) and e.artifact_id == artifact_id]


def digest_in_force(signed_digest: str, entries: Sequence[LoggedPolicy], *, before: int) -> str:
    """The digest of the policy in force just before log index `before`: the last logged
    version before it, else the signed policy's (policy_versions.policy_in_force, on digests)."""
    digest = signed_digest
    for index, entry in entries:
        if index >= before:
            break
        digest = entry.policy_sha256
    return digest


def withdrawal(entries: Sequence[LoggedPolicy]) -> LoggedPolicy | None:
    """The entry that withdrew the policy, if one did."""
    return next(((i, e) for i, e in entries if e.withdrawn), None)


def describe_withdrawal(index: int, entry: PolicyEntry) -> str:
    return f"policy withdrawn at {to_utc(entry.time).isoformat()} by its publisher {entry.org!r} (log index {index})"


def check_policy_versions(
    report: AuditReport,
    ctx: AuditContext,
    client: CoordinatorClient | None,
    statement: Statement,
    aid: str,
    *,
    served_versions: int = 0,
) -> None:
    """policy_versions: every `policy` entry of the artifact in the verified log has a signed
    update the coordinator serves, signed by an artifact key of the publisher active when it was
    logged, carrying the entry's digests, and the versions restrict the signed policy one after
    the other; the coordinator serves no version the log lacks. Not added when the log holds no
    version and the catalog claims none (`served_versions`: its `policy_version`). Records a
    withdrawal found in the log on the report (`policy_withdrawal`) for the lineage's "built on
    withdrawn data". `client` None: offline, the signed updates are not fetched."""
    entries = policy_entries(ctx.view, aid)
    withdrawn = withdrawal(entries)
    if withdrawn is not None:
        report.policy_withdrawal = describe_withdrawal(*withdrawn)
    if ctx.view is None or (not entries and not served_versions):
        return
    if client is None:
        report.add(
            "policy_versions", "skip", f"offline: {len(entries)} logged version(s) not re-checked against their signed updates"
        )
        return
    try:
        history = client.policy_history(aid)
    except CoordinatorError as exc:
        if exc.status in (401, 404):
            report.add(
                "policy_versions",
                "skip",
                f"the log holds {len(entries)} policy version(s); their signed updates are not served to this auditor ({exc.status})",
            )
        else:
            report.add("policy_versions", "fail", f"the policy history cannot be read: {exc}")
        return
    # A version logged after the checkpoint this audit verified is not judged yet (a race with
    # its sync, not a finding); the next audit verifies it.
    size = ctx.view.size
    later = [r for r in history.versions if r.log_index >= size]
    history = history.model_copy(update={"versions": [r for r in history.versions if r.log_index < size]})
    note = f"; {len(later)} version(s) logged after the verified checkpoint (size {size}) not judged yet" if later else ""
    if not entries and not history.versions:
        if later:
            report.add("policy_versions", "skip", note.lstrip("; "))
        else:
            report.add(
                "policy_versions",
                "fail",
                f"the catalog names {served_versions} policy version(s); neither the verified log nor the policy history holds one",
            )
        return
    signed = statement.predicate.effective_policy()
    publisher = statement.predicate.producer.org
    versions, problems = verified_versions(ctx, history, entries, signed=signed, publisher=publisher, aid=aid)
    if not problems:
        problems = chain_problems(signed, versions, artifact_id=aid, publisher=publisher)
    if problems:
        report.add("policy_versions", "fail", "; ".join(problems))
        return
    report.policy_versions = versions
    report.add("policy_versions", "pass", _describe(versions, publisher) + note)


def _describe(versions: Sequence[PolicyVersion], publisher: str) -> str:
    steps = ", ".join(
        f"version {n} {'withdrew it' if v.payload.withdrawn else 'restricted it'} (log index {v.log_index}"
        f"{': ' + v.payload.reason if v.payload.reason else ''})"
        for n, v in enumerate(versions, 1)
    )
    last = versions[-1]
    state = (
        f"withdrawn at log index {last.log_index}: nothing is permitted any more"
        if last.payload.withdrawn
        else f"restricted by {len(versions)} version(s), in force {last.digest}"
    )
    return (
        f"{len(versions)} logged version(s) verified against the artifact key of {publisher!r}, each restricting "
        f"the policy in force before it: {steps}; {state}"
    )


def verified_versions(
    ctx: AuditContext,
    history: PolicyHistory,
    entries: Sequence[LoggedPolicy],
    *,
    signed: UsagePolicy,
    publisher: str,
    aid: str,
) -> tuple[list[PolicyVersion], list[str]]:
    """(the served versions that verify against their log entries, in log order; every problem)."""
    problems: list[str] = []
    if history.artifact_id != aid:
        problems.append(f"the coordinator served the policy history of {history.artifact_id}, not of {aid}")
    if history.signed_policy_sha256 != signed.digest():
        problems.append(
            f"the coordinator names signed policy {history.signed_policy_sha256}, the signed Statement's is {signed.digest()}"
        )
    logged = dict(entries)
    matched: set[int] = set()
    versions: list[PolicyVersion] = []
    for record in history.versions:
        where = f"version {record.version} (log index {record.log_index})"
        entry = logged.get(record.log_index)
        if entry is None:
            problems.append(f"{where} is served by the coordinator but is not a policy entry of {aid} in the verified log")
            continue
        if record.log_index in matched:
            problems.append(f"{where} is served twice")
            continue
        matched.add(record.log_index)
        try:
            versions.append(_verify_version(ctx, record, record.log_index, entry, publisher))
        except (SynthspaceError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
    for index, _ in entries:
        if index not in matched:
            problems.append(f"the policy entry at log index {index} has no signed update the coordinator serves")
    versions.sort(key=lambda v: v.log_index)
    return versions, problems


def _verify_version(
    ctx: AuditContext, record: PolicyVersionRecord, index: int, entry: PolicyEntry, publisher: str
) -> PolicyVersion:
    try:
        envelope_bytes = base64.b64decode(record.envelope, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("its signed update is not base64") from None
    envelope = dsse.Envelope.from_json(envelope_bytes)
    logged_at = to_utc(entry.time)
    candidates = [k for k in (ctx.keys.for_org(publisher, "artifact") if ctx.keys else []) if k.active_at(logged_at)]
    key_id, payload_bytes, last_error = None, None, "no artifact key of the publisher was active then"
    for key in candidates:
        try:
            payload_bytes = dsse.verify(envelope, {key.key_id: key.public_key()})
            key_id = key.key_id
            break
        except SynthspaceError as exc:
            last_error = str(exc)
    if key_id is None or payload_bytes is None:
        signers = ", ".join(s.keyid[:16] + "…" for s in envelope.signatures) or "no key"
        raise VerificationError(
            f"the signed update (signed by {signers}) does not verify against an artifact key of {publisher!r} "
            f"active when it was logged ({logged_at.isoformat()}): {last_error}"
        )
    payload = parse_policy_update(envelope, payload_bytes)
    mismatches: list[str] = []
    if entry.org != publisher:
        mismatches.append(f"the log entry is {entry.org!r}'s, not the publisher {publisher!r}'s")
    if payload.policy.digest() != entry.policy_sha256:
        mismatches.append(f"it signs policy {payload.policy.digest()}, the log entry names {entry.policy_sha256}")
    if payload.previous_policy_sha256 != entry.previous_policy_sha256:
        mismatches.append(
            f"it follows policy {payload.previous_policy_sha256}, the log entry names {entry.previous_policy_sha256}"
        )
    if payload.withdrawn != entry.withdrawn:
        mismatches.append(f"it {'withdraws' if payload.withdrawn else 'does not withdraw'} the policy, the log entry says otherwise")
    served = (record.policy_sha256, record.previous_policy_sha256, record.withdrawn)
    if served != (entry.policy_sha256, entry.previous_policy_sha256, entry.withdrawn):
        mismatches.append("the coordinator's record of it differs from the log entry")
    elif UsagePolicy.model_validate(record.policy).digest() != entry.policy_sha256:
        mismatches.append("the policy the coordinator serves with it does not hash to the logged digest")
    if sha256_hex(envelope_bytes) != entry.envelope_sha256:
        mismatches.append(f"its envelope hashes to {sha256_hex(envelope_bytes)[:16]}…, the log entry commits to {entry.envelope_sha256[:16]}…")
    if entry.key_id != key_id:
        mismatches.append(f"the log entry names key {entry.key_id[:16]}…, {key_id[:16]}… signed it")
    if record.key_id != key_id:
        mismatches.append(f"the coordinator names key {record.key_id[:16]}…, {key_id[:16]}… signed it")
    if mismatches:
        raise VerificationError("; ".join(mismatches))
    return PolicyVersion(log_index=index, payload=payload, envelope_sha256=sha256_hex(envelope_bytes), key_id=key_id)


# ---- the parents' policies in force (parent_policy, parent_agreements) -----------------------


def parent_policies(report: AuditReport, *, before: int | None) -> dict[str, UsagePolicy]:
    """Parent id -> its policy in force just before log index `before` (the child's publish
    entry), for each walked parent whose `policy_versions` check verified a version logged
    before it. Other parents (no version then, or history not readable here) are judged on
    their signed policy, as before versions existed."""
    if before is None:
        return {}
    out: dict[str, UsagePolicy] = {}
    for sub in report.parents:
        if sub.artifact_id is None or sub.statement is None or not sub.policy_versions:
            continue
        if any(v.log_index < before for v in sub.policy_versions):
            signed = sub.statement.predicate.effective_policy()
            out[sub.artifact_id] = policy_in_force(signed, sub.policy_versions, before=before)
    return out


def parent_policy_at(report: AuditReport) -> Callable[[str, int], UsagePolicy | None]:
    """`acceptance_lineage.listed_agreement_problems`' `policy_at`: a walked parent's policy in force
    just before a log index, from its verified versions (None: the signed one applies)."""
    walked = {
        sub.artifact_id: sub
        for sub in report.parents
        if sub.artifact_id is not None and sub.statement is not None and sub.policy_versions
    }

    def policy_at(parent_id: str, index: int) -> UsagePolicy | None:
        sub = walked.get(parent_id)
        if sub is None or sub.statement is None or sub.policy_versions is None:
            return None
        return policy_in_force(sub.statement.predicate.effective_policy(), sub.policy_versions, before=index)

    return policy_at
