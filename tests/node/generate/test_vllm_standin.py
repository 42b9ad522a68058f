"""The in-process vLLM backend driven against a STAND-IN vllm module (vLLM cannot be installed here).

What this shows: the backend builds vLLM's SamplingParams with the request's sampling values,
seed and structured-output schema, calls `LLM.chat` with every request's messages in one batch,
and maps RequestOutput fields to records, through a whole `run_generation`. What it cannot
show: vLLM's own generation, its guided decoding or GPU behaviour (see docs/generation.md).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthspace.node.generate import get_backend, read_records, run_generation
from synthspace.node.generate.structured import OutputValidator
from synthspace.node.recipes import load_recipe

STANDIN = Path(__file__).parent / "vllm_standin"


@pytest.fixture()
def standin_vllm(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(STANDIN))
    vllm = importlib.import_module("vllm")
    assert getattr(vllm, "IS_STANDIN", False), "the stand-in, not a real vLLM, must be imported here"
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the stand-in needs no GPU
    vllm.CALLS.clear()
    yield vllm
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        sys.modules.pop(name, None)


def test_a_run_through_the_vllm_backend(standin_vllm, tiny: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    be = get_backend("vllm", model="/models/some-model", batch_size=4, max_model_len=2048)
    m = run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], backend=be, home=tiny["home"], limit=10)
    assert m.status == "complete" and m.completed == 10 and not m.dropped
    assert m.generator.backend == "vllm" and m.generator.model_id == "/models/some-model"
    df = read_records(tiny["out"])
    validator = OutputValidator(load_recipe(tiny["recipe"]))
    for row in df.to_dict("records"):
        rec = {k: row[k] for k in ("question", "answer", "level", "score")}
        rec["score"] = int(rec["score"])
        assert validator.check_value(rec)[1] is None
    calls = standin_vllm.CALLS
    assert sum(len(c["messages"]) for c in calls) == 10 and max(len(c["messages"]) for c in calls) <= 4
    params = [p for c in calls for p in c["params"]]
    schema = load_recipe(tiny["recipe"]).output_json_schema()
    assert all(p.structured_outputs.json == schema for p in params)
    assert all(p.max_tokens == 96 and 0.5 <= p.temperature <= 0.9 and p.top_p == 0.95 for p in params)
    assert len({p.seed for p in params}) == 10  # one seed per record


def test_truncated_outputs_are_length_finishes(standin_vllm) -> None:  # type: ignore[no-untyped-def]
    from synthspace.node.generate.backends import GenerationRequest

    be = get_backend("vllm", model="m")
    [c] = be.generate([GenerationRequest(key="0", messages=[{"role": "user", "content": "hi"}], max_tokens=5)], None)
    assert c.finish_reason == "length" and len(c.text) == 20 and c.completion_tokens == 5


def test_unknown_llm_options_are_refused(standin_vllm) -> None:  # type: ignore[no-untyped-def]
    from synthspace.node.generate.backends import GenerationRequest

    be = get_backend("vllm", model="m", not_an_option=1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        be.generate([GenerationRequest(key="0", messages=[{"role": "user", "content": "hi"}])], None)
