"""Parsing and validating model output; retries and drops in a real run (scripted in-process backend)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from synthspace.node.generate import read_records, run_generation
from synthspace.node.generate.backends import Backend, Completion, GenerationRequest, GeneratorInfo
from synthspace.node.generate.manifest import load_manifest
from synthspace.node.generate.structured import OutputValidator
from synthspace.node.recipes import parse_recipe
from tests.node.generate.conftest import TINY_RECIPE, write_personas

GOOD = {"question": "Why is tea hot?", "answer": "It was boiled.", "level": "easy", "score": 3}


@pytest.fixture()
def validator() -> OutputValidator:
    return OutputValidator(parse_recipe(TINY_RECIPE))


@pytest.mark.parametrize("text", [json.dumps(GOOD), "```json\n" + json.dumps(GOOD) + "\n```", "Sure! " + json.dumps(GOOD) + " Hope it helps."])
def test_valid_outputs_parse(validator: OutputValidator, text: str) -> None:
    rec, reason, _ = validator.check(Completion(text=text))
    assert reason is None and rec == GOOD


@pytest.mark.parametrize(
    ("completion", "reason", "detail"),
    [
        (Completion(text='{"question": "Why'), "invalid_json", "not JSON"),
        (Completion(text='{"question": "Why', finish_reason="length"), "truncated", "not JSON"),
        (Completion(text="   "), "empty", "empty"),
        (Completion(text="", error="boom"), "backend_error", "boom"),
        (Completion(text="[1, 2]"), "schema_violation", "expected a JSON object"),
        (Completion(text=json.dumps({**GOOD, "score": "3"})), "schema_violation", "score"),
        (Completion(text=json.dumps({**GOOD, "score": 9})), "schema_violation", "score"),
        (Completion(text=json.dumps({**GOOD, "level": "medium"})), "schema_violation", "level"),
        (Completion(text=json.dumps({**GOOD, "extra": 1})), "schema_violation", "extra"),
        (Completion(text=json.dumps({**GOOD, "answer": "x" * 61})), "schema_violation", "answer"),
        (Completion(text=json.dumps({k: v for k, v in GOOD.items() if k != "answer"})), "schema_violation", "answer"),
    ],
)
def test_invalid_outputs_get_a_reason(validator: OutputValidator, completion: Completion, reason: str, detail: str) -> None:
    rec, got, msg = validator.check(completion)
    assert rec is None and got == reason and detail in msg


class ScriptedBackend(Backend):
    """Answers from a script keyed by (record, attempt), so retries are observable."""

    name = "openai"

    def __init__(self, bad_attempts: dict[int, int], batch: int = 3) -> None:
        self.bad_attempts = bad_attempts  # seed_index -> attempts that come back invalid
        self.seen: dict[str, int] = {}
        self.max_batch_size = batch
        self.max_concurrency = 2
        self.requests: list[GenerationRequest] = []

    def info(self) -> GeneratorInfo:
        return GeneratorInfo("openai", "scripted", None, {})

    async def agenerate(self, requests: Sequence[GenerationRequest], json_schema: dict[str, Any] | None) -> list[Completion]:
        assert json_schema is not None and json_schema["additionalProperties"] is False
        out = []
        for r in requests:
            self.requests.append(r)
            n = self.seen[r.key] = self.seen.get(r.key, 0) + 1
            topic = r.messages[-1]["content"].split(".")[0]
            seed_index = ["tea kettles", "bicycles", "libraries", "gardens", "trains"].index(topic.removeprefix("Topic: "))
            if n <= self.bad_attempts.get(seed_index, 0):
                out.append(Completion(text='{"question": 12}', completion_tokens=5))
            else:
                out.append(Completion(text=json.dumps({**GOOD, "question": f"Q {r.key[:6]}?"}), completion_tokens=20))
        return out


def test_retries_then_drops_counted_by_reason(tiny: dict[str, Path]) -> None:
    # seed 1 fails once (retried, then fine); seed 2 always fails (dropped after 1 + 2 retries).
    be = ScriptedBackend({1: 1, 2: 99})
    m = run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], backend=be, home=tiny["home"])
    assert m.requested == 15 and m.status == "complete"
    assert m.dropped == {"schema_violation": 3}
    assert m.completed == 12
    assert m.retries == 3 * 1 + 3 * 2  # seed 1: 3 outputs x 1 retry; seed 2: 3 outputs x 2 retries
    df = read_records(tiny["out"])
    assert len(df) == 12 and df["record_id"].is_unique
    assert set(df["_seed_index"]) == {0, 1, 3, 4}
    assert (df.loc[df["_seed_index"] == 1, "_attempts"] == 2).all()
    assert list(df.columns[:5]) == ["record_id", "question", "answer", "level", "score"]
    # Every request carried the recipe's sampling draws and token limit.
    assert all(0.5 <= r.temperature <= 0.9 and r.top_p == 0.95 and r.max_tokens == 96 for r in be.requests)
    # A rerun finds nothing to do: dropped records are final, done records are not regenerated.
    be2 = ScriptedBackend({})
    m2 = run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], backend=be2, home=tiny["home"])
    assert be2.requests == [] and m2.completed == 12 and m2.resumes == 1


def test_personas_assigned_stratified_and_recorded(tiny: dict[str, Path]) -> None:
    recipe = tiny["recipe"]
    recipe.write_text(TINY_RECIPE + "persona_assignment: {strategy: stratified, attribute: region, seed: 3}\n")
    personas = write_personas(tiny["out"].parent / "personas.parquet")
    be = ScriptedBackend({})
    m = run_generation(recipe, tiny["seeds"], tiny["out"], personas=personas, backend=be, home=tiny["home"])
    df = read_records(tiny["out"])
    assert len(df) == 15 and df["persona_id"].notna().all()
    regions = {f"p{i:03d}": ("north", "south", "east")[i % 3] if i < 9 else "north" for i in range(12)}
    counts = df["persona_id"].map(regions).value_counts().to_dict()
    assert counts == {"north": 5, "south": 5, "east": 5}  # strata used evenly although north has 6 of 12 personas
    assert any("Asked by someone from" in r.messages[-1]["content"] for r in be.requests)
    assert m.persona_source.kind == "spec" and m.persona_source.count == 12
    assert m.persona_source.spec_digest == "sha256:" + "ab" * 32
    assert m.persona_source.set_digest and m.personas_path


def test_limit_and_resume_refuses_other_inputs(tiny: dict[str, Path]) -> None:
    m = run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], backend=ScriptedBackend({}), home=tiny["home"], limit=4)
    df = read_records(tiny["out"])
    assert m.requested == 4 and len(df) == 4 and sorted(df["_seed_index"]) == [0, 1, 2, 3]  # spread over seeds first
    first_ids = set(df["record_id"])
    m = run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], backend=ScriptedBackend({}), home=tiny["home"], limit=9)
    df = read_records(tiny["out"])
    assert m.requested == 9 and len(df) == 9 and first_ids < set(df["record_id"])
    from synthspace.node.generate import RunDirError

    with pytest.raises(RunDirError, match="beyond --limit"):
        run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], backend=ScriptedBackend({}), home=tiny["home"], limit=2)
    tiny["recipe"].write_text(TINY_RECIPE.replace("max_tokens: 96", "max_tokens: 95"))
    with pytest.raises(RunDirError, match="different recipe"):
        run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], backend=ScriptedBackend({}), home=tiny["home"])
    assert load_manifest(tiny["out"]).completed == 9


ALL_TYPES_RECIPE = TINY_RECIPE.replace(
    "  - {name: score, type: integer, minimum: 1, maximum: 5}\n",
    "  - {name: score, type: integer, minimum: 1, maximum: 5}\n"
    "  - {name: ratio, type: number, minimum: 0, maximum: 1.5}\n"
    "  - {name: flag, type: boolean}\n"
    "  - {name: code, type: string, pattern: '^[A-Z]{2}[0-9]+$', max_length: 8}\n"
    "  - {name: turns, type: string_list, min_items: 1, max_items: 3, item_max_length: 5}\n",
)


def test_record_validation_matches_the_record_model() -> None:
    # The validator checks records as a TypedDict (no model instance per record); verdicts, reasons,
    # records and messages must be exactly the record model's.
    import random

    from synthspace.node.generate.structured import record_model

    recipe = parse_recipe(ALL_TYPES_RECIPE)
    validator, model = OutputValidator(recipe), record_model(recipe)
    good: dict[str, Any] = {**GOOD, "ratio": 0.5, "flag": True, "code": "AB12", "turns": ["hi", "yo"]}
    odd: list[Any] = [None, 0, 1, -1, 7, 1.0, 0.25, 2.5, float("nan"), float("inf"), True, False, "", "x", "3", "AB1",
                      "ab1", "easy", "hard", "toolongvalue", [], ["a"], ["a", "b", "c", "d"], ["toolong"], [1], {"a": 1}]
    rng = random.Random(5)
    cases: list[Any] = [good, [good], "text", {**good, "extra": 1}]
    for _ in range(3000):
        value = dict(good)
        for _ in range(rng.randint(1, 3)):
            key = rng.choice([*good, "extra"])
            if rng.random() < 0.15:
                value.pop(key, None)
            else:
                value[key] = rng.choice(odd)
        cases.append(value)
    for value in cases:
        got = validator.check_value(value)
        if not isinstance(value, dict):
            assert got[1] == "schema_violation"
            continue
        try:
            want: tuple[Any, ...] = (model.model_validate(value).model_dump(), None, "")
        except Exception as exc:
            first = exc.errors()[0]  # type: ignore[attr-defined]
            want = (None, "schema_violation", f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        assert got == want, value
        if got[0] is not None:  # same column order and value types (1 == 1.0 would hide an int)
            assert [(k, type(v)) for k, v in got[0].items()] == [(k, type(v)) for k, v in want[0].items()]


def test_a_failed_shard_write_fails_the_run_and_a_rerun_completes_it(tiny: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # Shards are written on the writer thread: its failure must still fail the run (status
    # "failed"), keep what was written, and leave a run that resumes to exactly the plan.
    from synthspace.node.generate import execution

    real = execution.write_shard
    calls: list[int] = []

    def flaky(run_dir: Any, rows: Any, schema: Any) -> Any:
        calls.append(len(rows))
        if len(calls) == 2:
            raise OSError("disk full")
        return real(run_dir, rows, schema)

    monkeypatch.setattr(execution, "write_shard", flaky)
    with pytest.raises(OSError, match="disk full"):
        run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], backend=ScriptedBackend({}), home=tiny["home"], shard_size=4)
    m = load_manifest(tiny["out"])
    assert m.status == "failed" and m.completed == 4 and len(m.shards) == 1
    monkeypatch.setattr(execution, "write_shard", real)
    m = run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], backend=ScriptedBackend({}), home=tiny["home"], shard_size=4)
    df = read_records(tiny["out"])
    assert m.status == "complete" and m.completed == 15 and len(df) == 15 and df["record_id"].is_unique
