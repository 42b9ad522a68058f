"""Acceptance rules of a lineage Statement: the ONE place that says what a publishable artifact's
gates must look like.

`statement_problems(statement)` returns a list of coded problems (empty = acceptable). The
coordinator's publish path answers the first one as a 4xx with its code; the auditor reports
them under named checks; the node refuses to publish on them. Nothing here imports the node or
the coordinator.

Extending (the tables below are the extension points):
- a new artifact kind: add a `KindRules` entry to `KIND_RULES` (and the kind to
  `LineagePredicate.kind`);
- a new gate: add its name to `KNOWN_GATES` (every gate a node may record must be listed, an
  unknown name is refused) and, when its metrics can contradict its `passed` flag, a
  `GateConsistency` function to `CONSISTENCY`;
- a gate required for a kind: add a `RequiredGate` to that kind's `required` (with `when` for
  a conditional requirement, e.g. only when the Statement commits to seeds);
- a Statement-level rule (e.g. usage policies): append a function to `STATEMENT_RULES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from synthspace.agreement import agreement_request
from synthspace.errors import SynthspaceError
from synthspace.licences import incompatibility
from synthspace.lineage import GateResult, LineagePredicate, Statement
from synthspace.log_entries import AgreementEntry
from synthspace.policy import decide, enforced_policy, permits
from synthspace.policy_versions import is_withdrawal

if TYPE_CHECKING:
    from synthspace.policy import UsagePolicy


@dataclass(frozen=True)
class Problem:
    """One reason a Statement is not acceptable: a stable code and a human message."""

    code: str
    message: str
    check: str = "gates"  # the auditor's named check this problem belongs to

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class RequiredGate:
    """A gate that must be recorded, blocking, for a kind (when `when` holds, if given)."""

    name: str
    why: str
    when: Callable[[LineagePredicate], bool] | None = None


@dataclass(frozen=True)
class KindRules:
    """What the gates of one artifact kind must look like."""

    needs_gates: bool
    required: tuple[RequiredGate, ...] = field(default_factory=tuple)


def _has_seeds(pred: LineagePredicate) -> bool:
    return pred.seed_commitment is not None and pred.seed_commitment.count > 0


# Which gates are REQUIRED (present and blocking) per artifact kind.
KIND_RULES: Final[dict[str, KindRules]] = {
    "dataset": KindRules(
        needs_gates=True,
        required=(
            RequiredGate("pii", "every dataset is scanned for personal data"),
            RequiredGate(
                "seed_leakage",
                "a dataset generated from committed seeds must be checked for seed leakage",
                when=_has_seeds,
            ),
        ),
    ),
    "derived-dataset": KindRules(needs_gates=True),
    "model-adapter": KindRules(needs_gates=False),
    # An evaluation's subject is a results file, not records: there is nothing to gate, so no
    # gate is required (any it records must still be known and consistent). What it must carry
    # instead is checked by `_evaluation_shape` below.
    "evaluation": KindRules(needs_gates=False),
}

# Every gate name a node may record. Anything else is refused (an invented name proves nothing).
KNOWN_GATES: Final[frozenset[str]] = frozenset(
    {
        # node/gates (privacy)
        "seed_leakage",
        "pii",
        "pii_replay",
        "canaries",
        "membership",
        # node/gates (quality and record-level filtering)
        "near_duplicates",
        "schema_validity",
        "usefulness",
        "record_filter",
        "quality",
        "diversity",
        "persona_coverage",
        "judge",
        # node/derive
        "parents_verified",
        "exact_duplicates",
        # model adapters
        "adapter_format",
    }
)


def _int(metrics: Mapping[str, Any], key: str) -> int | None:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _num(values: Mapping[str, Any], key: str) -> float | None:
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _dropped_for(gates: Mapping[str, GateResult], reason_prefix: str) -> int:
    """Records the record filter says it dropped for a reason (prefix match: `pii:email`)."""
    rf = gates.get("record_filter")
    if rf is None:
        return 0
    by_reason = rf.metrics.get("dropped_by_reason")
    if not isinstance(by_reason, dict):
        return 0
    return sum(
        v
        for k, v in by_reason.items()
        if isinstance(k, str) and k.startswith(reason_prefix) and isinstance(v, int) and not isinstance(v, bool)
    )


# A consistency rule: given one passed gate and all gates by name, why its metrics contradict
# `passed=true` (None when they do not).
GateConsistency = Callable[[GateResult, Mapping[str, GateResult]], str | None]


def _pii(g: GateResult, gates: Mapping[str, GateResult]) -> str | None:
    found = _int(g.metrics, "records_with_pii")
    if found is None:
        return "metrics lack records_with_pii (an integer)"
    dropped = max(_int(g.metrics, "dropped_records") or 0, _dropped_for(gates, "pii"))
    if dropped and "record_filter" not in gates and found > 0:
        return f"{found} record(s) with PII claimed dropped, but no record_filter gate records the drop"
    redacted = _int(g.metrics, "redacted_records") or 0  # PII replaced, record kept
    left = max(found - dropped - redacted, 0)
    records = _int(g.metrics, "records")
    limit = _num(g.thresholds, "max_record_rate") or 0.0
    if left > 0 and (records is None or records <= 0 or left / records > limit):
        return f"{left} record(s) with PII kept, above the threshold, yet passed"
    return None


def _seed_leakage(g: GateResult, gates: Mapping[str, GateResult]) -> str | None:
    failing = _int(g.metrics, "failing_records")
    if failing is None:
        return "metrics lack failing_records (an integer)"
    max_failing = _int(g.thresholds, "max_failing_records") or 0
    dropped = _dropped_for(gates, "seed_leakage")
    if failing - dropped > max_failing:
        return f"{failing - dropped} record(s) leaking seed text kept, yet passed"
    return None


def _zero_metric(key: str) -> GateConsistency:
    def rule(g: GateResult, _gates: Mapping[str, GateResult]) -> str | None:
        value = _int(g.metrics, key)
        if value is None:
            return f"metrics lack {key} (an integer)"
        return f"{key} is {value}, yet passed" if value > 0 else None

    return rule


def _membership(g: GateResult, _gates: Mapping[str, GateResult]) -> str | None:
    auc, limit = _num(g.metrics, "auc"), _num(g.thresholds, "max_auc")
    if auc is None or limit is None:
        return "metrics lack auc or thresholds lack max_auc"
    return f"auc {auc} is not below max_auc {limit}, yet passed" if auc >= limit else None


def _record_filter(g: GateResult, _gates: Mapping[str, GateResult]) -> str | None:
    records, kept, dropped = (_int(g.metrics, k) for k in ("records", "kept", "dropped"))
    if records is None or kept is None or dropped is None:
        return "metrics lack records, kept or dropped (integers)"
    if kept + dropped != records or kept < 0 or dropped < 0:
        return f"kept {kept} + dropped {dropped} != records {records}"
    if kept == 0:
        return "no record kept, yet passed"
    return None


# Per-gate rules: a passed gate whose metrics say otherwise is a problem (`gate_inconsistent`).
CONSISTENCY: Final[dict[str, GateConsistency]] = {
    "pii": _pii,
    "seed_leakage": _seed_leakage,
    "pii_replay": _zero_metric("records_with_replay"),
    "canaries": _zero_metric("records_with_canary"),
    "membership": _membership,
    "record_filter": _record_filter,
}


def gate_problems(statement: Statement, *, accept_failed_nonblocking_gates: bool = True) -> list[Problem]:
    """The gate rules: recorded, passed, known, unique, required ones blocking, consistent."""
    pred = statement.predicate
    problems: list[Problem] = []
    rules = KIND_RULES.get(pred.kind)
    if rules is None:
        return [Problem("unknown_kind", f"no acceptance rules for artifact kind {pred.kind!r}")]
    if rules.needs_gates and not pred.gates:
        return [
            Problem(
                "gates_missing",
                f"a {pred.kind} must carry its gate results; run `synthspace gate` before publishing",
            )
        ]
    failed = statement.failed_blocking_gates()
    if failed:
        problems.append(Problem("gates_failed", f"blocking gates failed: {', '.join(failed)}"))
    other = [g.name for g in pred.gates if not g.blocking and not g.passed]
    if other and not accept_failed_nonblocking_gates:
        problems.append(
            Problem(
                "gates_failed",
                f"gates failed: {', '.join(other)} (this coordinator requires every recorded gate to pass)",
            )
        )
    by_name: dict[str, GateResult] = {}
    for g in pred.gates:
        if g.name in by_name:
            problems.append(Problem("gate_duplicate", f"gate {g.name!r} is recorded more than once"))
        by_name[g.name] = g
    unknown = sorted(n for n in by_name if n not in KNOWN_GATES)
    if unknown:
        problems.append(Problem("gate_unknown", f"unknown gate name(s): {', '.join(unknown)}"))
    for req in rules.required:
        if req.when is not None and not req.when(pred):
            continue
        got = by_name.get(req.name)
        if got is None:
            problems.append(Problem("gate_required_missing", f"required gate {req.name!r} not recorded: {req.why}"))
        elif not got.blocking:
            problems.append(Problem("gate_not_blocking", f"required gate {req.name!r} is recorded as non-blocking"))
    for name, g in by_name.items():
        rule = CONSISTENCY.get(name)
        if g.passed and rule is not None:
            why = rule(g, by_name)
            if why:
                problems.append(Problem("gate_inconsistent", f"gate {name!r}: {why}"))
    return problems


# Statement-level rules beyond the gates (e.g. usage policies): each returns its problems.
StatementRule = Callable[[Statement], list[Problem]]


def _redaction(statement: Statement) -> list[Problem]:
    """A recorded redaction must be one the pii gate says it made."""
    red = statement.predicate.redaction
    if red is None:
        return []
    pii = next((g for g in statement.predicate.gates if g.name == "pii"), None)
    made = _int(pii.metrics, "redacted_records") if pii is not None else None
    if made is None or red.records > made:
        return [
            Problem(
                "redaction_inconsistent",
                f"the lineage records {red.records} redacted record(s), the pii gate {made}",
            )
        ]
    if sum(red.spans_by_type.values()) < red.records:
        return [Problem("redaction_inconsistent", "fewer redacted spans than redacted records")]
    return []


def _evaluation_shape(statement: Statement) -> list[Problem]:
    """kind `evaluation` <=> an `evaluation` record; a catalog adapter it scored is its
    `evaluated-model` parent with the same digest, and every such parent is that adapter."""
    pred = statement.predicate
    ev = pred.evaluation
    if pred.kind != "evaluation":
        if ev is not None:
            return [Problem("evaluation_invalid", f"a {pred.kind} cannot carry an evaluation record")]
        if any(p.role == "evaluated-model" for p in pred.parents):
            return [Problem("evaluation_invalid", f"only an evaluation has evaluated-model parents, not a {pred.kind}")]
        return []
    if ev is None:
        return [Problem("evaluation_invalid", "an evaluation must carry its evaluation record (benchmark, models, metrics)")]
    problems: list[Problem] = []
    for label, m in ev.metrics.items():
        if m.items != ev.items or m.correct > m.items:
            problems.append(
                Problem("evaluation_invalid", f"{label}: {m.correct}/{m.items} correct does not fit {ev.items} benchmark items")
            )
        elif abs(m.accuracy - m.correct / m.items) > 1e-9 or not m.ci95[0] <= m.accuracy <= m.ci95[1]:
            problems.append(
                Problem("evaluation_invalid", f"{label}: accuracy {m.accuracy} is not {m.correct}/{m.items} within its interval")
            )
    if ev.judge is not None and ev.judge.items > ev.items:
        problems.append(
            Problem("evaluation_invalid", f"{ev.judge.items} judged items do not fit {ev.items} benchmark items")
        )
    if ev.delta is not None and not ev.delta.ci95[0] <= ev.delta.adapter_minus_base <= ev.delta.ci95[1]:
        problems.append(Problem("evaluation_invalid", "the delta lies outside its own interval"))
    if "adapter" in ev.metrics and ev.model.adapter_digest is None:
        problems.append(Problem("evaluation_invalid", "adapter metrics without an adapter digest"))
    evaluated = [p for p in pred.parents if p.role == "evaluated-model"]
    aid = ev.model.adapter_artifact_id
    if aid is None:
        if evaluated:
            problems.append(Problem("evaluation_invalid", "an evaluated-model parent, but the record names no catalog adapter"))
        return problems
    if [p.artifact_id for p in evaluated] != [aid]:
        problems.append(
            Problem("evaluation_invalid", f"the evaluated adapter {aid} must be the one evaluated-model parent")
        )
    elif ev.model.adapter_digest != f"sha256:{evaluated[0].digest.sha256}":
        problems.append(
            Problem("evaluation_invalid", "the adapter digest differs from the evaluated-model parent's digest")
        )
    return problems


STATEMENT_RULES: Final[list[StatementRule]] = [_redaction, _evaluation_shape]


def statement_problems(statement: Statement, *, accept_failed_nonblocking_gates: bool = True) -> list[Problem]:
    """Every acceptance problem of a Statement, most important first; empty means acceptable."""
    problems = gate_problems(statement, accept_failed_nonblocking_gates=accept_failed_nonblocking_gates)
    for rule in STATEMENT_RULES:
        problems.extend(rule(statement))
    return problems


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
