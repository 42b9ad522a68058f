"""LLM-as-judge through the openai backend against a real stub server on 127.0.0.1: rubric
scores drop records below a criterion's minimum, unreadable verdicts drop the record, the
judge model lands in the gate result, per-record scores in the node-private detail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from gates_helpers import RunFactory
from test_filtering import RECIPE, good_en

from synthspace.node.gates import run_gates
from tests.judge_stub import JudgeStub, judge_stub, user_text


def _verdict(body: dict[str, Any]) -> str:
    user = user_text(body)
    if "UNREADABLE" in user:
        return "I think it is fine"
    bad = "boring" in user
    return json.dumps({"helpfulness": 1 if bad else 5, "fluency": 4})


@pytest.fixture()
def stub() -> Iterator[JudgeStub]:
    with judge_stub(_verdict) as served:
        yield served


def test_judge_drops_low_scores_and_records_the_model(make_run: RunFactory, stub: JudgeStub) -> None:
    records = good_en()[:30]
    records[3] = {
        **records[3],
        "dialogue": ["This is a boring reply about nothing.", "Yes, it is boring."],
    }
    records[7] = {**records[7], "dialogue": ["UNREADABLE verdict please.", "Sure thing."]}
    records[11] = {**records[11], "dialogue": ["{{ x }}", "{{ y }}"]}  # dropped before the judge
    gates = {
        "judge": {
            "enabled": True,
            "backend": "openai",
            "model": "stub-judge",
            "base_url": stub.url,
            "criteria": [
                {
                    "name": "helpfulness",
                    "description": "5: solves the issue; 1: useless",
                    "min_score": 3,
                },
                {"name": "fluency", "description": "5: natural English; 1: broken", "min_score": 2},
            ],
        }
    }
    run = make_run(records, schema=RECIPE.output_json_schema(), locale="en_US", gates=gates)
    report = run_gates(run)
    judge = report.gate("judge")
    assert (
        judge.metrics["judged_records"] == 29 and len(stub.seen) == 29
    )  # not the placeholder one
    assert (
        judge.metrics["judge_model_id"] == "stub-judge"
        and judge.metrics["judge_backend"] == "openai"
    )
    assert report.dropped_positions["judge:helpfulness"] == [3]
    assert report.dropped_positions["judge:unreadable"] == [7]
    assert report.kept == 27 and report.passed
    schema = stub.seen[0]["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["helpfulness", "fluency"]
    detail = json.loads((run / "private" / "gate-detail.json").read_text(encoding="utf-8"))
    scores = {d["position"]: d["scores"] for d in detail["judge"]}
    assert scores[3] == {"helpfulness": 1, "fluency": 4} and 7 not in scores and len(scores) == 28
    assert "boring" not in json.dumps(report.model_dump(mode="json"))


def test_an_enabled_judge_needs_a_rubric() -> None:
    from synthspace.errors import ConfigError
    from synthspace.node.gates import gates_config_from_mapping

    with pytest.raises(ConfigError, match="at least one criterion"):
        gates_config_from_mapping({"judge": {"enabled": True}})
