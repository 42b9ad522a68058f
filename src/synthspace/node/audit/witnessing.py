"""Witnessed checkpoints in an audit, and the offline proof bundle a pull keeps.

With a witness policy (a C2SP tlog-policy file at HOME/witness-policy), an audit also fetches
the coordinator's cosigned checkpoint, requires the policy's quorum of witness cosignatures on
it, checks it is consistent with the checkpoint this audit verified, and checks the artifact's
publish entry is included under it: the named check `witnessed`. Either way a pull keeps
`proof.tlog` (C2SP tlog-proof: the entry's inclusion proof with the checkpoint it is against,
cosigned when witnessed), which `synthspace audit DIR --offline` verifies with no network.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

from synthspace import transparency_log as tlog
from synthspace.checkpoint import Verifier
from synthspace.errors import SynthspaceError
from synthspace.keys import load_public_key_pem
from synthspace.node.audit.auditor_state import AuditorState
from synthspace.node.audit.context import AuditContext
from synthspace.node.audit.log_monitor import LogView, sync_log
from synthspace.node.audit.report import AuditReport
from synthspace.node.coordinator_client import CoordinatorClient
from synthspace.tlog_proof import ProofBundle, verify_bundle
from synthspace.witness import (
    WitnessError,
    WitnessKey,
    WitnessPolicy,
    verify_witnessed,
    witness_name_for,
)

POLICY_FILE = "witness-policy"
PROOF_FILE = "proof.tlog"


def load_policy(home: Path) -> WitnessPolicy | None:
    """The node's witness policy, or None when it has none. Raises WitnessError naming the line."""
    path = Path(home) / POLICY_FILE
    if not path.is_file():
        return None
    return WitnessPolicy.parse(path.read_text(encoding="utf-8"))


def _pinned(policy: WitnessPolicy, log: Verifier) -> WitnessPolicy:
    # The log key the node pinned is the one trusted, whatever log lines the policy file holds.
    return WitnessPolicy(logs={log.name: log}, witnesses=policy.witnesses, groups=policy.groups, quorum=policy.quorum)


def check_witnessed(
    report: AuditReport, ctx: AuditContext, client: CoordinatorClient, policy: WitnessPolicy | None, log: Verifier
) -> None:
    """Online: the `witnessed` check (with a policy) and the proof bundle for a pull."""
    receipt = report.receipt
    if receipt is None or ctx.checkpoint is None or ctx.view is None:
        return  # log_inclusion failed or was skipped; it says why
    index = int(receipt["log_index"])
    leaf = base64.b64decode(receipt["entry_leaf"])
    if policy is None:
        proof = tuple(bytes.fromhex(h) for h in receipt["inclusion_proof"]["hashes"])
        report.proof_bundle = ProofBundle(index, proof, ctx.view.note).to_text()
        return
    view = ctx.checkpoint
    try:
        note = client.cosigned_checkpoint()
        cosigned, cosigners = verify_witnessed(note, _pinned(policy, log))
        lo, hi = sorted([(cosigned.size, cosigned.root), (view.size, view.root)])
        consistency = client.consistency_proof(lo[0], hi[0]) if 0 < lo[0] < hi[0] else []
        tlog.verify_consistency(lo[0], hi[0], lo[1], hi[1], consistency)
        if index >= cosigned.size:
            raise WitnessError(
                f"publish entry {index} is not covered yet by a witnessed checkpoint (cosigned size {cosigned.size}); "
                "witnesses cosign new checkpoints within seconds: audit again shortly"
            )
        inclusion = client.inclusion_proof(index, cosigned.size)
        tlog.verify_inclusion(tlog.leaf_hash(leaf), index, cosigned.size, inclusion, cosigned.root)
    except SynthspaceError as exc:
        report.add("witnessed", "fail", str(exc))
        return
    report.proof_bundle = ProofBundle(index, tuple(inclusion), note).to_text()
    report.add(
        "witnessed",
        "pass",
        f"entry {index} is in the checkpoint of size {cosigned.size} cosigned by {', '.join(sorted(cosigners))} "
        f"(policy quorum {policy.quorum!r}), consistent with the one verified here",
    )


def check_proof_bundle_offline(
    report: AuditReport, bundle_dir: Path, policy: WitnessPolicy | None, log: Verifier, entry_leaf: bytes | None
) -> None:
    """Offline: `proof.tlog` proves the bundle's publish entry is in a checkpoint the pinned log
    key signed (and, with a policy, its quorum of witnesses cosigned)."""
    path = Path(bundle_dir) / PROOF_FILE
    if not path.is_file():
        if policy is not None:
            report.add("witnessed", "fail", f"{PROOF_FILE} is missing: pull the artifact again to keep its proof bundle")
        return
    if entry_leaf is None:
        report.add("witnessed", "fail", "the bundle's receipt holds no log entry to check the proof bundle against")
        return
    try:
        bundle = ProofBundle.from_text(path.read_text(encoding="utf-8"))
        checkpoint, cosigners = verify_bundle(bundle, entry_leaf, log, _pinned(policy, log) if policy else None)
    except (SynthspaceError, OSError, UnicodeDecodeError) as exc:
        report.add("witnessed", "fail", f"{PROOF_FILE}: {exc}")
        return
    who = f", cosigned by {', '.join(sorted(cosigners))}" if cosigners else ""
    report.add("witnessed", "pass", f"{PROOF_FILE}: entry {bundle.index} is in the signed checkpoint of size {checkpoint.size}{who}")


# ---- a policy built from the witnesses enrolled at the coordinator ----------------------


class WitnessDirectoryMismatch(WitnessError):
    """The coordinator's org directory lists other witness keys than its verified log holds."""


def enrolled_witnesses_in_log(view: LogView) -> dict[str, tuple[str, str]]:
    """{key id: (org, vkey)} of the witness keys the verified log holds, added and not revoked."""
    active: dict[str, tuple[str, str]] = {}
    for _, entry in view.key_entries():
        if entry.purpose != "witness":
            continue
        if entry.type == "key-add":
            vkey = WitnessKey.for_key(witness_name_for(entry.org), load_public_key_pem(entry.public_key_pem))
            active[entry.key_id] = (entry.org, vkey.to_string())
        else:
            active.pop(entry.key_id, None)
    return active


def _directory_witnesses(client: CoordinatorClient) -> dict[str, tuple[str, str, str]]:
    """{key id: (org, vkey, url)} of the active witness keys GET /v1/orgs lists (unverified)."""
    out: dict[str, tuple[str, str, str]] = {}
    for record in client.orgs():
        for key in record.keys:
            if key.purpose == "witness" and key.revoked_at is None:
                if not key.witness_key or not key.witness_url:
                    raise WitnessDirectoryMismatch(f"the org directory lists witness key {key.key_id[:16]}… of {record.org!r} without its vkey or URL")
                out[key.key_id] = (record.org, key.witness_key, key.witness_url)
    return out


def _compare(logged: dict[str, tuple[str, str]], listed: dict[str, tuple[str, str, str]]) -> list[str]:
    problems = []
    for kid, (org, vkey, _) in sorted(listed.items()):
        if kid not in logged:
            problems.append(f"witness key {kid[:16]}… of {org!r} is listed but not an active witness key in the log")
        elif logged[kid] != (org, vkey):
            problems.append(f"witness key {kid[:16]}… is listed as {org!r} {vkey!r}, the log says {logged[kid][0]!r} {logged[kid][1]!r}")
    for kid, (org, _) in sorted(logged.items()):
        if kid not in listed:
            problems.append(f"the log holds active witness key {kid[:16]}… of {org!r}, the org directory does not list it")
    return problems


def policy_from_coordinator(
    client: CoordinatorClient, state: AuditorState, verifier: Verifier, quorum: int, *, exclude: Sequence[str] = ()
) -> tuple[str, list[str]]:
    """A C2SP tlog-policy listing every witness enrolled at the coordinator, quorum `quorum`.

    The keys come from the verified log (sync_log: signed checkpoint, consistency with the last
    one seen, all entries hashing to the root), and must be exactly the ones the org directory
    lists; the URLs, which the log does not hold, come from the directory. Orgs in `exclude`
    are left out. Returns (policy text, witness orgs). Raises WitnessDirectoryMismatch when
    the directory and the log disagree (twice, so a key enrolled in between is not an error),
    WitnessError when there are fewer witnesses than the quorum.
    """
    problems: list[str] = []
    for _ in range(2):
        listed = _directory_witnesses(client)
        view = sync_log(client, state, verifier)
        logged = enrolled_witnesses_in_log(view)
        problems = _compare(logged, listed)
        if not problems:
            break
    else:
        raise WitnessDirectoryMismatch("the org directory disagrees with the log's witness key entries: " + "; ".join(problems))
    chosen = sorted((org, vkey, url) for org, vkey, url in listed.values() if org not in set(exclude))
    orgs = [org for org, _, _ in chosen]
    if len(set(orgs)) != len(orgs):
        raise WitnessDirectoryMismatch("an org has more than one active witness key; the coordinator should have revoked the older one")
    if not 1 <= quorum <= len(chosen):
        raise WitnessError(f"quorum {quorum} needs at least {quorum} enrolled witnesses; the log holds {len(chosen)}")
    key_text = state.pinned_verifier_key()
    assert key_text is not None  # sync_log ran with a pinned verifier
    lines = [
        f"# witnesses enrolled at {client.base_url}, verified against its log at size {view.size}",
        f"log {key_text}",
        *(f"witness {org} {vkey} {url}" for org, vkey, url in chosen),
        f"group enrolled {quorum} {' '.join(orgs)}",
        "quorum enrolled",
    ]
    text = "\n".join(lines) + "\n"
    WitnessPolicy.parse(text)  # what is written must load
    return text, orgs
