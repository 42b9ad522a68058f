"""The results file of an `evaluation` artifact and the ONE check that it agrees with its
signed record: the coordinator runs it at publish, the auditor's `evaluation_results` check
after re-hashing the file.

The file is one UTF-8 JSON object, `{"summary": {...}, "results": [...]}`: the summary as
`synthspace eval` writes it (benchmark name, digest and items; model; adapter digest and
artifact id; metrics per model; delta; command) and one result per item and model
(`{"model": "base"|"adapter", "id", "kind", "correct", "predicted", "expected", "scores"}`;
a `judged` result adds `"judge": {"scores": {criterion: 1-5} | null, "rationale", "min_score"}`).

A judged result's `correct` is recomputed from its judge scores (`judge_correct`: every
criterion at least `min_score`; unreadable verdict = wrong): the scorer uses the same function,
so a results file that calls a low-scored answer correct disagrees with itself and is refused.
"""

from __future__ import annotations

import json
from typing import Any, Final

from synthspace.lineage import Evaluation

MAX_RESULTS_BYTES: Final = 32 * 1024 * 1024


def judge_correct(judge: Any) -> bool | None:
    """Whether a judged result's `judge` object makes its answer correct (None: malformed)."""
    if not isinstance(judge, dict):
        return None
    need, scores = judge.get("min_score"), judge.get("scores")
    if isinstance(need, bool) or not isinstance(need, int) or not 1 <= need <= 5:
        return None
    if scores is None:
        return False
    if not isinstance(scores, dict) or not scores:
        return None
    values = list(scores.values())
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5 for v in values):
        return None
    return min(values) >= need


def _judged_problems(evaluation: Evaluation, summary: dict[str, Any], rows: list[Any]) -> list[str]:
    """Judged results agree with their own judge scores, and with the record's judge."""
    problems: list[str] = []
    judge = evaluation.judge
    for label in evaluation.metrics:
        judged = [r for r in rows if r["model"] == label and r.get("kind") == "judged"]
        expected = judge.items if judge is not None else 0
        if len(judged) != expected:
            problems.append(f"{label}: {len(judged)} judged results, the signed record says {expected}")
        for r in judged:
            verdict = judge_correct(r.get("judge"))
            if verdict is None:
                problems.append(f"{label}: judged result {r.get('id')!r} carries no readable judge scores")
            elif verdict is not r.get("correct"):
                problems.append(
                    f"{label}: judged result {r.get('id')!r} says correct={r.get('correct')} but its judge "
                    f"scores say {verdict}"
                )
    named = summary.get("judge")
    if judge is not None and (
        not isinstance(named, dict) or named.get("rubric_digest") != judge.rubric_digest
    ):
        problems.append("the summary names another judge than the signed record")
    return problems


def parse_results(raw: bytes) -> tuple[dict[str, Any], list[Any]] | str:
    """(summary, results) of a results file, or why it is not one."""
    if len(raw) > MAX_RESULTS_BYTES:
        return f"an evaluation results file must be at most {MAX_RESULTS_BYTES} bytes"
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return f"an evaluation results file must be UTF-8 JSON: {exc}"
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("summary"), dict)
        or not isinstance(doc.get("results"), list)
    ):
        return 'an evaluation results file must be a JSON object with "summary" and "results"'
    return doc["summary"], doc["results"]


def results_problems(evaluation: Evaluation, raw: bytes) -> list[str]:
    """Where the results file disagrees with the signed record (empty: it agrees). Per model
    the per-item results must count the record's items and correct answers; the summary must
    name the same benchmark digest, adapter and counts."""
    parsed = parse_results(raw)
    if isinstance(parsed, str):
        return [parsed]
    summary, rows = parsed
    problems: list[str] = []
    bench = summary.get("benchmark")
    if not isinstance(bench, dict) or bench.get("digest") != evaluation.benchmark_digest:
        problems.append("the summary names another benchmark digest than the signed record")
    adapter = summary.get("adapter")
    if (
        not isinstance(adapter, dict)
        or adapter.get("artifact_id") != evaluation.model.adapter_artifact_id
    ):
        problems.append("the summary names another adapter than the signed record")
    if not all(isinstance(r, dict) and r.get("model") in evaluation.metrics for r in rows):
        problems.append("a per-item result is not an object naming a scored model")
        return problems
    problems.extend(_judged_problems(evaluation, summary, rows))
    found = summary.get("metrics")
    metrics: dict[str, Any] = found if isinstance(found, dict) else {}
    for label, m in evaluation.metrics.items():
        mine = [r for r in rows if r["model"] == label]
        correct = sum(1 for r in mine if r.get("correct") is True)
        if len(mine) != m.items or correct != m.correct:
            problems.append(
                f"{label}: {correct}/{len(mine)} correct in the per-item results, the signed record says {m.correct}/{m.items}"
            )
        got = metrics.get(label)
        if (
            not isinstance(got, dict)
            or got.get("correct") != m.correct
            or got.get("items") != m.items
        ):
            problems.append(f"{label}: the summary's counts differ from the signed record's")
    return problems
