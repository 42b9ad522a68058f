"""The results file of an `evaluation` artifact and the ONE check that it agrees with its
signed record: the coordinator runs it at publish, the auditor's `evaluation_results` check
after re-hashing the file.

The file is one UTF-8 JSON object, `{"summary": {...}, "results": [...]}`: the summary as
`synthspace eval` writes it (benchmark name, digest and items; model; adapter digest and
artifact id; metrics per model; delta; command) and one result per item and model
(`{"model": "base"|"adapter", "id", "kind", "correct", "predicted", "expected", "scores"}`).
"""

from __future__ import annotations

import json
from typing import Any, Final

from synthspace.lineage import Evaluation

MAX_RESULTS_BYTES: Final = 32 * 1024 * 1024


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
