"""Acceptance rules that look beyond one Statement: its parents' usage policies and licences,
and the agreements its lineage lists.

The coordinator applies them at publish with the parents from its catalog and its own log; the
auditor's `parent_policy` and `parent_agreements` checks with the parents and log entries it
verified. One rule, two callers; problems are `synthspace.acceptance.Problem`s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Final

from synthspace.acceptance import Problem
from synthspace.agreement import agreement_request
from synthspace.errors import SynthspaceError
from synthspace.licences import incompatibility
from synthspace.lineage import Statement
from synthspace.log_entries import AgreementEntry
from synthspace.policy import decide, enforced_policy, permits
from synthspace.policy_versions import is_withdrawal

if TYPE_CHECKING:
    from synthspace.policy import UsagePolicy


# --- Rules that need the parents' verified Statements (usage policy, licence) ---------------
# The coordinator applies them at publish with the parents from its catalog; the auditor's
# `parent_policy` check with the parents it verified while walking the lineage.

# What building on a parent in each role uses it for (other roles are not checked here).
ROLE_ACTIONS: Final[dict[str, str]] = {"source": "derive", "training-data": "train"}


def users_of(statement: Statement, parent_sha256: str) -> list[str]:
    """The orgs that used a parent: the participants whose declared training digests include
    it (an adapter), else the child's producer."""
    pred = statement.predicate
    if pred.training is not None:
        orgs = sorted(o for o, digests in pred.training.training_artifacts.items() if parent_sha256 in digests)
        if orgs:
            return orgs
    return [pred.producer.org]


def parent_problems(
    statement: Statement,
    parents: Mapping[str, Statement],
    *,
    at: datetime,
    policies: Mapping[str, UsagePolicy] | None = None,
) -> list[Problem]:
    """`policy_forbids`: a parent's usage policy did not permit its use for this child (derive
    for a `source`, federated train for `training-data`, at time `at`, by the org that used it);
    `parent_policy_withdrawn`: the parent's publisher had withdrawn its policy;
    `licence_incompatible`: the child carries a more permissive licence than a parent
    (`synthspace.licences`). `parents` maps artifact id -> that parent's verified Statement;
    parents missing from it are not judged here (the lineage check reports them). `policies`
    maps a parent id to the policy in force for it at `at` when a logged version replaced the
    signed one (`synthspace.policy_versions`); others are judged on their signed policy."""
    pred = statement.predicate
    problems: list[Problem] = []
    for link in pred.parents:
        action = ROLE_ACTIONS.get(link.role)
        parent = parents.get(link.artifact_id)
        if action is None or parent is None:
            continue
        ppred = parent.predicate
        name = f"parent {link.artifact_id[:16]}… ({ppred.title!r} of {ppred.producer.org!r})"
        policy = (policies or {}).get(link.artifact_id) or enforced_policy(ppred.policy)
        if is_withdrawal(policy):
            problems.append(
                Problem("parent_policy_withdrawn", f"{name}: its publisher withdrew its usage policy; nothing may be built on it", "parent_policy")
            )
            continue
        federated = action == "train" and pred.training is not None
        rounds = pred.training.rounds if pred.training is not None else None
        for org in users_of(statement, link.digest.sha256):
            decision = permits(
                policy, action, org, publisher=ppred.producer.org, now=at,  # type: ignore[arg-type]
                rounds=rounds, federated=federated,
            )
            if not decision.permitted:
                problems.append(
                    Problem("policy_forbids", f"{name} does not permit {action} by {org!r}: {decision.reason}", "parent_policy")
                )
        why = incompatibility(pred.license, ppred.license)
        if why is not None:
            problems.append(Problem("licence_incompatible", f"the child's licence vs {name}: {why}", "parent_policy"))
    return problems


# --- Agreements a lineage lists (`predicate.agreements`) --------------------------------------
# The coordinator applies this at publish (its own log and key table), the auditor's
# `parent_agreements` check on its verified log and key history: one rule, two callers.


def listed_agreement_problems(
    statement: Statement,
    parents: Mapping[str, Statement] | None,
    *,
    entry_at: Callable[[int], object | None],
    artifact_key_org: Callable[[str], str | None],
    policy_at: Callable[[str, int], UsagePolicy | None] | None = None,
) -> list[Problem] | None:
    """None when the lineage lists no agreements (published before they were listed: not
    judged). Otherwise the problems (empty: all hold) of each listed agreement: the `agreement`
    log entry at its index (`entry_at(index)`: the parsed entry, None beyond the log) has the
    listed envelope digest and terms, was signed by the org that used the parent
    (`users_of`) with an enrolled artifact key of it (`artifact_key_org(key_id)`: its org, None
    when it is not an artifact key), for the action the parent's role needs (`ROLE_ACTIONS`),
    naming the parent's signed policy, which permitted it when it was signed; and every other
    org's source/training-data parent is covered by one. `parents`: artifact id -> the parent's
    verified Statement (missing ones, or None, are not judged on policy or coverage).
    `policy_at(parent_id, index)`: the parent's policy in force just before log index `index`
    when a logged version replaced the signed one (None: the signed one was in force)."""
    pred = statement.predicate
    listed = pred.agreements
    if listed is None:
        return None
    links = {p.artifact_id: p for p in pred.parents}
    problems: list[Problem] = []
    covered: set[tuple[str, str]] = set()

    def bad(code: str, message: str) -> None:
        problems.append(Problem(code, message, "parent_agreements"))

    for ref in listed:
        where = f"agreement {ref.agreement_id[:16]}… (log index {ref.log_index})"
        link = links.get(ref.artifact_id)
        if link is None:
            bad("agreement_not_a_parent", f"{where} is for {ref.artifact_id[:16]}…, not a parent of this artifact")
            continue
        try:
            entry = entry_at(ref.log_index)
        except (SynthspaceError, ValueError) as exc:
            bad("listed_agreement_missing", f"{where}: the log entry does not parse: {exc}")
            continue
        if entry is None:
            bad("listed_agreement_missing", f"{where} is missing: the log has no entry {ref.log_index}")
            continue
        if not isinstance(entry, AgreementEntry) or entry.envelope_sha256 != ref.agreement_id:
            bad("listed_agreement_missing", f"{where} is missing: log entry {ref.log_index} is not that agreement")
            continue
        logged = (entry.artifact_id, entry.org, entry.action, entry.purpose, entry.policy_sha256)
        if logged != (ref.artifact_id, ref.org, ref.action, ref.purpose, ref.policy_sha256):
            bad("listed_agreement_mismatch", f"{where}: the log entry's terms differ from the ones the lineage lists")
            continue
        users = users_of(statement, link.digest.sha256)
        if entry.org not in users:
            bad(
                "listed_agreement_wrong_org",
                f"{where} is signed by {entry.org!r}, not by {' or '.join(map(repr, users))} who used the parent",
            )
            continue
        if artifact_key_org(entry.key_id) != entry.org:
            bad("listed_agreement_wrong_key", f"{where}: key {entry.key_id[:16]}… is not an enrolled artifact key of {entry.org!r}")
            continue
        needed = ROLE_ACTIONS.get(link.role)
        if needed is not None and entry.action != needed:
            bad("listed_agreement_wrong_action", f"{where} agrees to {entry.action!r}; a {link.role} parent needs {needed!r}")
            continue
        parent = parents.get(ref.artifact_id) if parents is not None else None
        if parent is not None:
            ppred = parent.predicate
            policy = (policy_at(ref.artifact_id, ref.log_index) if policy_at else None) or ppred.effective_policy()
            if entry.policy_sha256 != policy.digest():
                bad(
                    "listed_agreement_policy_mismatch",
                    f"{where} names policy {entry.policy_sha256}, the parent's policy in force then is {policy.digest()}",
                )
                continue
            request = agreement_request(entry.org, ref.action, entry.purpose, entry.signed_time)
            decision = decide(policy, request, publisher=ppred.producer.org)
            if not decision.permitted:
                bad("listed_agreement_not_permitted", f"{where}: the parent's policy did not permit it: {decision.reason}")
                continue
        covered.add((ref.artifact_id, entry.org))
    for link in pred.parents:
        if link.role not in ROLE_ACTIONS:
            continue
        parent = parents.get(link.artifact_id) if parents is not None else None
        if parent is None:
            continue  # not verified: the lineage check reports it
        publisher = parent.predicate.producer.org
        for org in users_of(statement, link.digest.sha256):
            if org != publisher and (link.artifact_id, org) not in covered:
                bad(
                    "agreement_not_listed",
                    f"parent {link.artifact_id[:16]}… of {publisher!r}: no valid agreement of {org!r} is listed",
                )
    return problems
