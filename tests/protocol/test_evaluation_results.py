"""The results file of an evaluation agrees with its signed record (synthspace.evaluation_results)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from synthspace.evaluation_results import parse_results, results_problems
from synthspace.lineage import Evaluation

ADAPTER = "a" * 64
RECORD = Evaluation.model_validate(
    {
        "benchmark_name": "b.jsonl",
        "benchmark_digest": "sha256:" + "c" * 64,
        "items": 2,
        "model": {
            "model_id": "m",
            "adapter_digest": "sha256:" + "b" * 64,
            "adapter_artifact_id": ADAPTER,
        },
        "metrics": {
            "base": {"items": 2, "correct": 1, "accuracy": 0.5, "ci95": [0.09, 0.91]},
            "adapter": {"items": 2, "correct": 2, "accuracy": 1.0, "ci95": [0.34, 1.0]},
        },
        "delta": {"adapter_minus_base": 0.5, "ci95": [-0.2, 1.0]},
        "scoring": "s",
        "command": "c",
    }
)


def _doc() -> dict[str, Any]:
    return {
        "summary": {
            "benchmark": {"name": "b.jsonl", "digest": "sha256:" + "c" * 64, "items": 2},
            "adapter": {"digest": "sha256:" + "b" * 64, "artifact_id": ADAPTER},
            "metrics": {"base": {"items": 2, "correct": 1}, "adapter": {"items": 2, "correct": 2}},
        },
        "results": [
            {"model": "base", "id": "1", "correct": True},
            {"model": "base", "id": "2", "correct": False},
            {"model": "adapter", "id": "1", "correct": True},
            {"model": "adapter", "id": "2", "correct": True},
        ],
    }


def test_agreeing_results_have_no_problems() -> None:
    assert results_problems(RECORD, json.dumps(_doc()).encode()) == []


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["results"][1].update(correct=True), "base: 2/2 correct"),
        (lambda d: d["results"].pop(), "adapter: 1/1 correct"),
        (lambda d: d["results"][0].update(model="other"), "not an object naming a scored model"),
        (
            lambda d: d["summary"]["metrics"]["adapter"].update(correct=1),
            "adapter: the summary's counts",
        ),
        (
            lambda d: d["summary"]["benchmark"].update(digest="sha256:" + "d" * 64),
            "another benchmark",
        ),
        (lambda d: d["summary"]["adapter"].update(artifact_id="e" * 64), "another adapter"),
        (lambda d: d["results"][2].update(correct="yes"), "adapter: 1/2 correct"),
    ],
)
def test_each_disagreement_is_named(edit: Any, needle: str) -> None:
    doc = _doc()
    edit(doc)
    problems = results_problems(RECORD, json.dumps(doc).encode())
    assert any(needle in p for p in problems), problems


@pytest.mark.parametrize(
    "raw", [b"\xff\xfe", b"[]", b'{"summary": {}}', b"not json", b'{"summary": [], "results": []}']
)
def test_what_is_not_a_results_file(raw: bytes) -> None:
    assert isinstance(parse_results(raw), str)
    assert len(results_problems(RECORD, raw)) == 1


JUDGED = Evaluation.model_validate(
    {
        **RECORD.model_dump(mode="json"),
        "judge": {
            "backend": "openai",
            "model_id": "j",
            "rubric_digest": "sha256:" + "f" * 64,
            "min_score": 4,
            "items": 1,
        },
    }
)


def _judged_doc() -> dict[str, Any]:
    doc = _doc()
    doc["summary"]["judge"] = {"rubric_digest": "sha256:" + "f" * 64}
    for r in doc["results"]:
        if r["id"] == "2":
            good = r["correct"]
            r.update(
                kind="judged",
                judge={"scores": {"correctness": 5 if good else 2}, "rationale": "r", "min_score": 4},
            )
    return doc


def test_judged_results_agree_with_their_judge_scores() -> None:
    assert results_problems(JUDGED, json.dumps(_judged_doc()).encode()) == []
    # an unreadable verdict (scores null) counts wrong
    doc = _judged_doc()
    doc["results"][1]["judge"]["scores"] = None
    assert results_problems(JUDGED, json.dumps(doc).encode()) == []


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        # positive control: a low-scored answer called correct (counts adjusted to match)
        (
            lambda d: (
                d["results"][1].update(correct=True),
                d["summary"]["metrics"]["base"].update(correct=2),
            ),
            "judged result '2' says correct=True but its judge scores say False",
        ),
        (lambda d: d["results"][3]["judge"].update(min_score=7), "no readable judge scores"),
        (lambda d: d["results"][3]["judge"].update(scores={"correctness": 9}), "no readable"),
        (lambda d: d["results"][3].update(kind="exact"), "adapter: 0 judged results"),
        (lambda d: d["summary"].update(judge=None), "another judge"),
    ],
)
def test_each_judged_disagreement_is_named(edit: Any, needle: str) -> None:
    doc = _judged_doc()
    edit(doc)
    problems = results_problems(JUDGED, json.dumps(doc).encode())
    assert any(needle in p for p in problems), problems


def test_judged_rows_without_a_judge_in_the_record_are_refused() -> None:
    problems = results_problems(RECORD, json.dumps(_judged_doc()).encode())
    assert any("1 judged results, the signed record says 0" in p for p in problems), problems
