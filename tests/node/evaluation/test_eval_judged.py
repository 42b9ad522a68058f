"""Judged free-answer items: the model's answer scored by an LLM judge (a real OpenAI-compatible
stub on 127.0.0.1, tests/judge_stub.py) against the item's reference answer.

The stub grades like a judge that reads: 5 when the answer contains the reference answer, 2
otherwise, with a rationale; 'UNREADABLE' in the reference gets a verdict that is not JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from synthspace.cli.main import app
from synthspace.node.evaluation.benchmark import JudgedItem, load_benchmark
from synthspace.node.evaluation.judged import AnswerJudge, JudgeUnavailableError, judge_config
from synthspace.node.evaluation.stats import wilson_interval
from tests.federated import conftest as federation_fixtures
from tests.judge_stub import JudgeStub, judge_stub, judged_record

tiny_model = federation_fixtures.tiny_model  # the tiny 2-layer Llama folder (session fixture)


def _grade(body: dict[str, Any]) -> str:
    record = judged_record(body)
    if "UNREADABLE" in record["reference_answer"]:
        return "the answer looks fine to me"
    right = record["reference_answer"].lower() in record["answer"].lower()
    return json.dumps(
        {
            "correctness": 5 if right else 2,
            "rationale": "states the reference answer" if right else "misses the reference answer",
        }
    )


@pytest.fixture()
def stub() -> Iterator[JudgeStub]:
    with judge_stub(_grade) as served:
        yield served


def _item(i: str, answer: str, min_score: int | None = None) -> JudgedItem:
    return JudgedItem(id=i, kind="judged", question="How long is the notice period?", answer=answer,
                      min_score=min_score)  # fmt: skip


def test_the_judge_scores_answers_against_the_reference(stub: JudgeStub) -> None:
    judge = AnswerJudge(judge_config("openai", "stub-judge", stub.url))
    items = [_item("right", "30 days"), _item("wrong", "30 days"), _item("lenient", "30 days", 2),
             _item("garbled", "UNREADABLE")]  # fmt: skip
    answers = ["It is 30 days.", "It is 7 days.", "It is 7 days.", "30 days"]
    results = {r.id: r for r in judge.score(items, answers)}
    assert results["right"].correct and results["right"].judge == {
        "scores": {"correctness": 5}, "rationale": "states the reference answer", "min_score": 4,
    }  # fmt: skip
    # positive control: a wrong answer the judge scores low counts wrong
    assert not results["wrong"].correct and results["wrong"].judge["scores"] == {"correctness": 2}
    # the same score meets an item's own lower threshold
    assert results["lenient"].correct and results["lenient"].judge["min_score"] == 2
    # a verdict that is not JSON counts wrong, with no scores
    assert not results["garbled"].correct and results["garbled"].judge["scores"] is None
    assert results["wrong"].predicted == "It is 7 days." and results["wrong"].expected == "30 days"
    # structured output: one integer 1-5 per criterion and a rationale, the reference in the prompt
    schema = stub.seen[0]["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["correctness", "rationale"]
    assert schema["properties"]["correctness"] == {"type": "integer", "minimum": 1, "maximum": 5}
    # requests run concurrently, so stub.seen is in arrival order: match records, not positions
    sent = sorted(
        (judged_record(b)["reference_answer"], judged_record(b)["answer"]) for b in stub.seen
    )
    assert sent == sorted(zip([i.answer for i in items], answers, strict=True))


def test_the_judge_record_names_model_and_rubric(stub: JudgeStub) -> None:
    judge = AnswerJudge(judge_config("openai", "stub-judge", stub.url), min_score=4)
    described = judge.describe(3)
    assert described["backend"] == "openai" and described["model_id"] == "stub-judge"
    assert described["model_digest"] is None and described["items"] == 3
    assert described["rubric_digest"].startswith("sha256:") and described["min_score"] == 4
    # the threshold is part of what the rubric digest pins
    other = AnswerJudge(judge_config("openai", "stub-judge", stub.url), min_score=3)
    assert other.rubric_digest() != judge.rubric_digest()
    assert stub.seen == []  # describing the judge asks it nothing


def test_a_judge_that_cannot_be_built_is_a_clear_error() -> None:
    with pytest.raises(JudgeUnavailableError, match="needs an endpoint"):
        AnswerJudge(judge_config("openai", "m", None)).describe(1)


BENCH = [
    {"id": "c1", "kind": "choice", "question": "Which code means not found?", "options": ["404", "200"], "answer": 0},
    {"id": "j1", "kind": "judged", "question": "How long is the notice period?", "answer": "thirty days"},
    {"id": "j2", "kind": "judged", "question": "Who signs the form?", "answer": "the registrar", "min_score": 2},
]  # fmt: skip


def _bench(tmp_path: Path) -> Path:
    path = tmp_path / "judged.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in BENCH), encoding="utf-8")
    assert [type(i).__name__ for i in load_benchmark(path)] == ["ChoiceItem", "JudgedItem", "JudgedItem"]
    return path


def test_judged_items_without_a_judge_exit_2_before_any_model_loads(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "--benchmark", str(_bench(tmp_path)), "--model", str(tmp_path / "no-such-model")]
    )
    assert result.exit_code == 2, result.output
    assert "2 judged item(s) need a judge: pass --judge-backend" in result.output
    result = CliRunner().invoke(app, ["eval", "--benchmark", str(_bench(tmp_path)), "--judge-model", "m"])
    assert result.exit_code == 2 and "need --judge-backend" in result.output


def _eval(bench: Path, out: Path, model: Path, stub: JudgeStub, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        app,
        ["eval", "--benchmark", str(bench), "--model", str(model), "--out", str(out), "--json",
         "--quiet", "--judge-backend", "openai", "--judge-model", "stub-judge",
         "--judge-base-url", stub.url, *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_eval_scores_judged_items_through_the_judge(
    tmp_path: Path, tiny_model: Path, stub: JudgeStub
) -> None:
    bench = _bench(tmp_path)
    summary = _eval(bench, tmp_path / "r", tiny_model, stub)
    rows = [json.loads(line) for line in (tmp_path / "r" / "results.jsonl").read_text().splitlines()]
    judged = {r["id"]: r for r in rows if r["kind"] == "judged"}
    assert len(stub.seen) == 2  # one verdict per judged item, none for the choice item
    # the tiny random model never says the reference: the judge scores 2 both times; j1 needs 4
    # (the default threshold), j2 declares 2
    assert judged["j1"]["judge"]["scores"] == {"correctness": 2} and not judged["j1"]["correct"]
    assert judged["j2"]["judge"]["min_score"] == 2 and judged["j2"]["correct"]
    assert judged["j1"]["judge"]["rationale"] == "misses the reference answer"
    assert judged["j1"]["expected"] == "thirty days" and isinstance(judged["j1"]["predicted"], str)
    # the judge saw each item's stored answer; requests run concurrently, so stub.seen is in
    # arrival order and each request is matched to its item by question, not by position
    sent = {judged_record(b)["question"]: judged_record(b) for b in stub.seen}
    for item in BENCH[1:]:
        assert sent[item["question"]]["answer"] == judged[item["id"]]["predicted"]
        assert sent[item["question"]]["reference_answer"] == item["answer"]
    m = summary["metrics"]["base"]
    correct = sum(r["correct"] for r in rows)
    assert m["correct"] == correct and m["items"] == 3
    assert m["ci95"] == list(wilson_interval(correct, 3))
    judge = summary["judge"]
    assert judge["model_id"] == "stub-judge" and judge["items"] == 2 and judge["min_score"] == 4
    # a CLI threshold applies to items that declare none (j1), not to j2's own
    lenient = _eval(bench, tmp_path / "r2", tiny_model, stub, "--judge-min-score", "2")
    rows2 = [json.loads(line) for line in (tmp_path / "r2" / "results.jsonl").read_text().splitlines()]
    assert {r["id"]: r["correct"] for r in rows2 if r["kind"] == "judged"} == {"j1": True, "j2": True}
    assert lenient["judge"]["rubric_digest"] != judge["rubric_digest"]
    assert lenient["metrics"]["base"]["correct"] == m["correct"] + 1
