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

The rules that also need the parents' Statements or the log (usage policies, licences,
agreements) are in `synthspace.acceptance_lineage`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from synthspace.lineage import GateResult, LineagePredicate, Statement


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
