"""The acceptance rules of a Statement (synthspace.acceptance): one rule, coded problems."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from synthspace.acceptance import KIND_RULES, KNOWN_GATES, statement_problems
from synthspace.lineage import (
    DigestSet,
    GateResult,
    LineagePredicate,
    Producer,
    SeedCommitment,
    Statement,
    Subject,
    Times,
)


def _statement(kind: str = "dataset", gates: list[GateResult] | None = None, **pred: Any) -> Statement:
    now = datetime.now(UTC)
    return Statement(
        subject=[Subject(name="data.parquet", digest=DigestSet(sha256="0" * 64))],
        predicate=LineagePredicate(
            kind=kind,  # type: ignore[arg-type]
            title="t",
            producer=Producer(org="o", artifact_key_id="0" * 64, software="test"),
            times=Times(started=now, finished=now, signed=now),
            gates=gates if gates is not None else [],
            **pred,
        ),
    )


def _pii(**metrics: Any) -> GateResult:
    return GateResult(name="pii", blocking=True, passed=True, metrics={"records": 100, "records_with_pii": 0, **metrics})


def _codes(st: Statement) -> list[str]:
    return [p.code for p in statement_problems(st)]


def test_clean_dataset_is_accepted() -> None:
    assert _codes(_statement(gates=[_pii()])) == []


def test_every_kind_has_rules() -> None:
    kinds = LineagePredicate.model_fields["kind"].annotation.__args__  # type: ignore[union-attr]
    assert set(kinds) <= set(KIND_RULES)


@pytest.mark.parametrize("kind", ["dataset", "derived-dataset"])
def test_datasets_need_gates(kind: str) -> None:
    # one rule for both dataset kinds (the coordinator and the auditor used to disagree here)
    assert _codes(_statement(kind, gates=[]))[0] == "gates_missing"


def test_invented_gate_name_is_refused() -> None:
    fake = GateResult(name="totally_safe", blocking=True, passed=True)
    assert "gate_unknown" in _codes(_statement(gates=[_pii(), fake]))
    # a dataset whose only gate is invented: also misses the required pii gate
    assert set(_codes(_statement(gates=[fake]))) == {"gate_unknown", "gate_required_missing"}


def test_required_gate_must_be_blocking() -> None:
    soft = GateResult(name="pii", blocking=False, passed=True, metrics={"records": 1, "records_with_pii": 0})
    assert _codes(_statement(gates=[soft])) == ["gate_not_blocking"]


def test_seed_leakage_required_when_seeds_committed() -> None:
    seeds = SeedCommitment(root="0" * 64, count=3)
    assert _codes(_statement(gates=[_pii()], seed_commitment=seeds)) == ["gate_required_missing"]
    leak = GateResult(name="seed_leakage", blocking=True, passed=True, metrics={"failing_records": 0})
    assert _codes(_statement(gates=[_pii(), leak], seed_commitment=seeds)) == []


def test_failed_blocking_gate() -> None:
    failed = GateResult(name="pii", blocking=True, passed=False, metrics={"records_with_pii": 3})
    assert _codes(_statement(gates=[failed])) == ["gates_failed"]


def test_pii_found_but_passed_is_inconsistent() -> None:
    assert _codes(_statement(gates=[_pii(records_with_pii=2)])) == ["gate_inconsistent"]
    # positive control: the same count, dropped by the record filter, is consistent
    rf = GateResult(
        name="record_filter", blocking=True, passed=True,
        metrics={"records": 100, "kept": 98, "dropped": 2, "dropped_by_reason": {"pii:email": 2}},
    )  # fmt: skip
    assert _codes(_statement(gates=[_pii(records_with_pii=2, dropped_records=2), rf])) == []
    # dropped claimed by the gate alone, with no record_filter to show it: inconsistent
    assert _codes(_statement(gates=[_pii(records_with_pii=2, dropped_records=2)])) == ["gate_inconsistent"]


def test_redacted_pii_counts_as_handled_and_must_match_the_lineage() -> None:
    from synthspace.lineage import Redaction

    # Records whose PII was redacted (kept) are handled, like dropped ones.
    assert _codes(_statement(gates=[_pii(records_with_pii=3, redacted_records=3)])) == []
    assert _codes(_statement(gates=[_pii(records_with_pii=3, redacted_records=2)])) == ["gate_inconsistent"]
    red = Redaction(mode="placeholder", records=2, spans_by_type={"phone": 2})
    ok = _pii(records_with_pii=3, redacted_records=3)
    assert _codes(_statement(gates=[ok], redaction=red)) == []
    # The lineage may not claim more redacted records than the pii gate made, nor any when the
    # gate recorded none.
    too_many = red.model_copy(update={"records": 4})
    assert _codes(_statement(gates=[ok], redaction=too_many)) == ["redaction_inconsistent"]
    assert _codes(_statement(gates=[_pii()], redaction=red)) == ["redaction_inconsistent"]


def test_pii_without_metrics_is_inconsistent() -> None:
    bare = GateResult(name="pii", blocking=True, passed=True)
    assert _codes(_statement(gates=[bare])) == ["gate_inconsistent"]


@pytest.mark.parametrize(
    ("name", "metrics", "thresholds"),
    [
        ("seed_leakage", {"failing_records": 4}, {}),
        ("canaries", {"records_with_canary": 1}, {}),
        ("pii_replay", {"records_with_replay": 1}, {}),
        ("membership", {"auc": 0.9}, {"max_auc": 0.6}),
        ("record_filter", {"records": 10, "kept": 0, "dropped": 10}, {}),
        ("record_filter", {"records": 10, "kept": 9, "dropped": 0}, {}),
    ],
)
def test_contradicting_metrics(name: str, metrics: dict[str, Any], thresholds: dict[str, Any]) -> None:
    g = GateResult(name=name, blocking=True, passed=True, metrics=metrics, thresholds=thresholds)
    assert _codes(_statement(gates=[_pii(), g])) == ["gate_inconsistent"]


def test_duplicate_gate() -> None:
    assert _codes(_statement(gates=[_pii(), _pii()])) == ["gate_duplicate"]


def test_adapter_needs_no_gates() -> None:
    assert _codes(_statement("model-adapter", gates=[])) == []


def test_gates_package_names_are_known() -> None:
    """Every gate name the node's gates package records is in the acceptance registry."""
    import re
    from pathlib import Path

    import synthspace.node.gates as gates_pkg

    src = "".join(p.read_text() for p in Path(gates_pkg.__file__).parent.glob("*.py"))
    names = set(re.findall(r'run\.add\(\s*"([a-z_]+)"', src))
    assert names, "positive control: the pattern finds the gates"
    assert names <= KNOWN_GATES, names - KNOWN_GATES


def _evaluation_record(adapter_id: str | None = "a" * 64, adapter_sha: str = "b" * 64, **over: Any) -> Any:
    from synthspace.lineage import Evaluation

    fields: dict[str, Any] = {
        "benchmark_name": "bench.jsonl",
        "benchmark_digest": "sha256:" + "c" * 64,
        "items": 10,
        "model": {"model_id": "m", "adapter_digest": f"sha256:{adapter_sha}", "adapter_artifact_id": adapter_id},
        "metrics": {
            "base": {"items": 10, "correct": 4, "accuracy": 0.4, "ci95": [0.17, 0.69]},
            "adapter": {"items": 10, "correct": 7, "accuracy": 0.7, "ci95": [0.40, 0.89]},
        },
        "delta": {"adapter_minus_base": 0.3, "ci95": [0.02, 0.58]},
        "scoring": "choice: log-likelihood",
        "command": "synthspace eval --publish",
    }
    fields.update(over)
    return Evaluation.model_validate(fields)


def _evaluated(aid: str = "a" * 64, sha: str = "b" * 64) -> list[Any]:
    from synthspace.lineage import Parent

    return [Parent(artifact_id=aid, digest=DigestSet(sha256=sha), role="evaluated-model")]


JUDGE = {
    "backend": "openai",
    "model_id": "judge-model",
    "model_digest": None,
    "rubric_digest": "sha256:" + "f" * 64,
    "min_score": 4,
    "items": 10,
}


def test_a_judged_evaluation_names_its_judge() -> None:
    from pydantic import ValidationError

    record = _evaluation_record(judge=JUDGE)
    assert _codes(_statement("evaluation", evaluation=record, parents=_evaluated())) == []
    with pytest.raises(ValidationError):  # the judge is a structured record, not free text
        _evaluation_record(judge="some judge")
    with pytest.raises(ValidationError):
        _evaluation_record(judge={**JUDGE, "min_score": 6})


def test_evaluation_needs_no_gates_but_its_record_and_parent() -> None:
    # No records to gate: an evaluation with no gates is acceptable (the rule says so explicitly).
    assert KIND_RULES["evaluation"].needs_gates is False and KIND_RULES["evaluation"].required == ()
    assert _codes(_statement("evaluation", evaluation=_evaluation_record(), parents=_evaluated())) == []
    assert _codes(_statement("evaluation", parents=_evaluated())) == ["evaluation_invalid"]


@pytest.mark.parametrize(
    "case",
    [
        "parent_digest_differs",
        "parent_missing",
        "second_evaluated_parent",
        "accuracy_not_correct_over_items",
        "accuracy_outside_interval",
        "items_differ",
        "delta_outside_interval",
        "more_judged_items_than_items",
    ],
)
def test_inconsistent_evaluations_are_refused(case: str) -> None:
    record, parents = _evaluation_record(), _evaluated()
    bad_metric = {"items": 10, "correct": 7, "accuracy": 0.7, "ci95": [0.40, 0.89]}
    if case == "parent_digest_differs":
        parents = _evaluated(sha="d" * 64)
    elif case == "parent_missing":
        parents = []
    elif case == "second_evaluated_parent":
        parents = parents + _evaluated(aid="e" * 64)
    elif case == "accuracy_not_correct_over_items":
        record = _evaluation_record(metrics={"adapter": {**bad_metric, "accuracy": 0.9, "ci95": [0.5, 0.95]}})
    elif case == "accuracy_outside_interval":
        record = _evaluation_record(metrics={"adapter": {**bad_metric, "ci95": [0.1, 0.2]}})
    elif case == "items_differ":
        record = _evaluation_record(metrics={"adapter": {**bad_metric, "items": 12, "accuracy": 7 / 12}})
    elif case == "delta_outside_interval":
        record = _evaluation_record(delta={"adapter_minus_base": 0.3, "ci95": [0.4, 0.5]})
    elif case == "more_judged_items_than_items":
        record = _evaluation_record(judge={**JUDGE, "items": 11})
    assert _codes(_statement("evaluation", evaluation=record, parents=parents)) == ["evaluation_invalid"]


def test_evaluation_records_and_roles_belong_to_evaluations_only() -> None:
    gates = [_pii()]
    assert _codes(_statement(gates=gates, evaluation=_evaluation_record())) == ["evaluation_invalid"]
    assert _codes(_statement(gates=gates, parents=_evaluated())) == ["evaluation_invalid"]
    assert _codes(_statement(gates=gates)) == []  # positive control


def test_statements_without_an_evaluation_serialise_as_before() -> None:
    # The field was added later: absent (not null) unless set, so earlier statements keep their bytes.
    assert b'"evaluation"' not in _statement(gates=[_pii()]).to_json_bytes()
    st = _statement("evaluation", evaluation=_evaluation_record(), parents=_evaluated())
    assert Statement.from_json_bytes(st.to_json_bytes()) == st
    assert b'"evaluation":{' in st.to_json_bytes()
