"""The per-record shortcuts in generation give exactly what the plain code they replace gives."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from synthspace.node.generate import fastjson
from synthspace.node.generate.backends.openai_backend import _json_number
from synthspace.node.generate.execution import task_request
from synthspace.node.generate.planning import _u64, build_plan, record_id
from synthspace.node.recipes import parse_recipe, recipe_digest
from synthspace.node.recipes.models import FixedValue
from tests.node.generate.conftest import TINY_RECIPE


def _outcome(fn: Any, arg: Any) -> tuple[str, str]:
    try:
        return "ok", repr(fn(arg))
    except Exception as exc:  # the same exception type and message are part of the contract
        return "error", f"{type(exc).__name__}: {exc}"


TEXTS = ['{"a": 1}', ' {"a": 1}', '{"a": 1} ', '{"a": 1}\n', '{"a": 1}x', "", "  ", "{", "[1, 2]", '"x"', "1",
         "NaN", '{"a": NaN, "b": -Infinity}', "\ufeff{}", '{"a": "\\ud800"}', '{"a": "\u65e5\u672c"}', "[] []"]


@pytest.mark.parametrize("text", TEXTS)
def test_fastjson_loads_is_json_loads(text: str) -> None:
    assert _outcome(fastjson.loads, text) == _outcome(json.loads, text)
    raw = text.encode("utf-8", "surrogatepass")
    assert _outcome(fastjson.loads, raw) == _outcome(json.loads, raw)


@pytest.mark.parametrize("raw", ['{"a": 1}'.encode("utf-16-le"), "[1]".encode("utf-16-be"), "[1]".encode("utf-32"),
                                 b'\xef\xbb\xbf{"a": 1}', b'{"a": "\xff"}', b"{", b"["])
def test_fastjson_loads_bytes_is_json_loads(raw: bytes) -> None:
    assert _outcome(fastjson.loads, raw) == _outcome(json.loads, raw)


class _F(float):
    def __repr__(self) -> str:
        return "nonsense"


@pytest.mark.parametrize("x", [0, 1, -7, 2**31 - 1, 2**70, 0.0, -0.0, 0.95, 0.123456789, 1e-7, 1e22, 5e-324,
                               float("inf"), float("-inf"), float("nan"), True, False, _F(0.5)])
def test_json_number_is_json_dumps(x: Any) -> None:
    assert _json_number(x) == json.dumps(x)


def _draw(spec: Any, *key: object) -> float:
    """The per-task reference formula of a sampling draw (the plan draws them in bulk)."""
    if isinstance(spec, FixedValue):
        return float(spec.value)
    return random.Random(_u64(*key)).uniform(spec.low, spec.high)


@pytest.mark.parametrize("extra", [
    "",
    "persona_assignment: {strategy: random, seed: 99}\n",
    "persona_assignment: {strategy: stratified, attribute: region, seed: 5}\n",
])
@pytest.mark.parametrize("top_p", ["{kind: fixed, value: 0.95}", "{kind: range, low: 0.8, high: 1.0}"])
def test_plan_matches_the_reference_formulas(extra: str, top_p: str) -> None:
    """build_plan's bulk draws and ids equal the per-task formulas: a fresh seeded Random each."""
    recipe = parse_recipe(TINY_RECIPE.replace("top_p: {kind: fixed, value: 0.95}", f"top_p: {top_p}\n  seed: 4242") + extra)
    digest = recipe_digest(recipe)
    personas = [{"persona_id": f"p{i}", "region": ["n", "s", "e"][i % 3]} for i in range(17)]
    s, assign = recipe.sampling, recipe.persona_assignment
    for ps in ([], personas):
        plan = build_plan(recipe, digest, "root", 11, ps, None)
        assert len(plan) == 33
        for t in plan:
            k, seed_index = divmod(t.index, 11)
            assert (t.seed_index, t.k) == (seed_index, k)
            assert t.temperature == _draw(s.temperature, s.seed, "temperature", seed_index, k)
            assert t.top_p == _draw(s.top_p, s.seed, "top_p", seed_index, k)
            if ps and assign.strategy == "random":
                assert t.persona_index == random.Random(_u64(assign.seed, "persona", seed_index, k)).randrange(len(ps))
            pid = ps[t.persona_index]["persona_id"] if t.persona_index is not None else None
            assert t.record_id == record_id(digest, "root", seed_index, pid, k)


@pytest.mark.parametrize("attempt", [0, 1, 2, 17])
def test_attempt_seed_is_the_u64_formula(attempt: int) -> None:
    for rid in ("0" * 32, "3fa1c2", "\u65e5-id"):
        req = task_request(rid, [], 0.5, 1.0, 16, attempt)
        assert req.seed == _u64(rid, attempt) % (2**31)
