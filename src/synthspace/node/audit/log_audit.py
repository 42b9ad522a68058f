"""`audit log`: check the coordinator's whole transparency log, as a monitor would.

Beyond the Merkle checks done by every sync (signed checkpoint, consistency with the last one
seen, all entries hashing to the signed root) this replays the entries and checks their
meaning: every leaf is a well-formed entry, keys are added before use and revoked at most
once, every publish entry was signed by an artifact key its org held at that time, no
artifact is published twice, every retraction names an earlier artifact of the same org (or
comes from the operator), every policy version names an earlier artifact of the same org and
follows the version before it (no version after a withdrawal; the signed updates themselves are
checked per artifact by `audit ID`, node/audit/policy_versions.py), and the org directory the
API serves agrees with the log.
"""

from __future__ import annotations

from collections.abc import Callable

from synthspace.errors import SynthspaceError
from synthspace.log_entries import KeyEntry, PolicyEntry, PublishEntry, RetractEntry
from synthspace.node.audit.log_monitor import LogCheckFailed, LogView
from synthspace.node.audit.report import CheckResult, LogAuditReport


def audit_entries(
    view: LogView | None, failure: LogCheckFailed | None, key_disagreements: Callable[[], list[str]]
) -> LogAuditReport:
    """Replay the verified log's entries; `key_disagreements` compares the org API with it."""
    report = LogAuditReport()
    checks = report.checks
    if failure is not None:
        if failure.check == "checkpoint":
            checks.append(CheckResult("checkpoint", "fail", failure.detail))
            return report
        checks.append(CheckResult("checkpoint", "pass", "signed by the pinned log key"))
        if failure.check == "checkpoint_consistency":
            checks.append(CheckResult("checkpoint_consistency", "fail", failure.detail))
            return report
        checks.append(CheckResult("checkpoint_consistency", "pass", "consistent with the last checkpoint seen"))
        checks.append(CheckResult("log_tiles" if failure.check == "log_tiles" else "log_root", "fail", failure.detail))
        return report
    assert view is not None
    report.size = view.size
    report.root_hex = view.checkpoint.root.hex()
    report.previous_size = view.previous_size
    checks.append(CheckResult("checkpoint", "pass", f"size {view.size} signed by the pinned log key"))
    checks.append(
        CheckResult(
            "checkpoint_consistency",
            "pass",
            "first checkpoint this auditor has seen; kept for next time"
            if view.previous_size == 0
            else f"extends the checkpoint of size {view.previous_size} seen before"
            if view.previous_size != view.size
            else "same checkpoint as seen before",
        )
    )
    checks.append(CheckResult("log_root", "pass", f"all {view.size} entries hash to the signed root"))

    parse_problems: list[str] = []
    key_problems: list[str] = []
    publish_problems: list[str] = []
    retract_problems: list[str] = []
    policy_problems: list[str] = []
    versions: dict[str, PolicyEntry] = {}  # artifact -> its latest policy entry
    retracted: set[str] = set()
    keys: dict[str, KeyEntry] = {}
    revoked: dict[str, KeyEntry] = {}
    published: dict[str, tuple[int, PublishEntry]] = {}
    last_time = None
    counts: dict[str, int] = {}
    for index, entry in view.iter_entries():
        if isinstance(entry, Exception):
            parse_problems.append(f"entry {index} is not a valid log entry: {entry}")
            continue
        counts[entry.type] = counts.get(entry.type, 0) + 1
        if last_time is not None and entry.time < last_time:
            parse_problems.append(f"entry {index} is dated before entry {index - 1}")
        last_time = entry.time
        if isinstance(entry, KeyEntry):
            if entry.type == "key-add":
                if entry.key_id in keys:
                    key_problems.append(f"entry {index} adds key {entry.key_id[:16]}… a second time")
                else:
                    keys[entry.key_id] = entry
            else:
                added = keys.get(entry.key_id)
                if added is None:
                    key_problems.append(f"entry {index} revokes key {entry.key_id[:16]}… never added")
                elif added.org != entry.org:
                    key_problems.append(f"entry {index}: {entry.org!r} revokes a key of {added.org!r}")
                elif entry.key_id in revoked:
                    key_problems.append(f"entry {index} revokes key {entry.key_id[:16]}… a second time")
                else:
                    revoked[entry.key_id] = entry
        elif isinstance(entry, PublishEntry):
            if entry.artifact_id in published:
                publish_problems.append(
                    f"entry {index} publishes {entry.artifact_id[:16]}… again (first at {published[entry.artifact_id][0]})"
                )
            published.setdefault(entry.artifact_id, (index, entry))
            if keys:  # a log with key entries must account for every publishing key
                k = keys.get(entry.key_id)
                r = revoked.get(entry.key_id)
                if k is None:
                    publish_problems.append(f"entry {index} is signed by key {entry.key_id[:16]}… never added")
                elif k.org != entry.org or k.purpose != "artifact":
                    publish_problems.append(
                        f"entry {index}: key {entry.key_id[:16]}… is a {k.purpose} key of {k.org!r}, "
                        f"not an artifact key of {entry.org!r}"
                    )
                elif r is not None and r.time <= entry.time:
                    publish_problems.append(f"entry {index} uses key {entry.key_id[:16]}… revoked before it")
        elif isinstance(entry, RetractEntry):
            retracted.add(entry.artifact_id)
            first = published.get(entry.artifact_id)
            if first is None:
                retract_problems.append(f"entry {index} retracts {entry.artifact_id[:16]}…, never published before")
            elif entry.by == "publisher" and first[1].org != entry.org:
                retract_problems.append(f"entry {index}: {entry.org!r} retracts an artifact of {first[1].org!r}")
        elif isinstance(entry, PolicyEntry):
            first = published.get(entry.artifact_id)
            latest = versions.get(entry.artifact_id)
            if first is None:
                policy_problems.append(f"entry {index} versions the policy of {entry.artifact_id[:16]}…, never published before")
            elif first[1].org != entry.org:
                policy_problems.append(f"entry {index}: {entry.org!r} versions the policy of an artifact of {first[1].org!r}")
            elif entry.artifact_id in retracted:
                policy_problems.append(f"entry {index} versions the policy of {entry.artifact_id[:16]}… after its retraction")
            elif latest is not None and latest.withdrawn:
                policy_problems.append(f"entry {index} versions the policy of {entry.artifact_id[:16]}… after its withdrawal")
            elif latest is not None and entry.previous_policy_sha256 != latest.policy_sha256:
                policy_problems.append(
                    f"entry {index} follows policy {entry.previous_policy_sha256}, the version before it is {latest.policy_sha256}"
                )
            versions[entry.artifact_id] = entry
    report.counts = counts

    def add(name: str, problems: list[str], ok: str) -> None:
        if problems:
            checks.append(CheckResult(name, "fail", "; ".join(problems[:5]) + (" …" if len(problems) > 5 else "")))
            report.findings.extend(problems)
        else:
            checks.append(CheckResult(name, "pass", ok))

    add("entries", parse_problems, f"{view.size} well-formed entries in time order")
    add("key_history", key_problems, f"{len(keys)} key(s) added, {len(revoked)} revoked")
    add("publish_entries", publish_problems, f"{len(published)} artifact(s), each by a key valid at the time")
    add("retractions", retract_problems, f"{counts.get('retract', 0)} retraction(s), each of an earlier artifact")
    add(
        "policy_entries",
        policy_problems,
        f"{counts.get('policy', 0)} policy version(s) of {len(versions)} artifact(s), each by its publisher, in one chain",
    )
    try:
        api = key_disagreements()
    except SynthspaceError as exc:  # an unsigned auditor may not read the org directory
        checks.append(CheckResult("org_directory", "skip", f"org directory not readable: {exc}"))
    else:
        add("org_directory", api, "GET /v1/orgs agrees with the key history in the log")
    return report
