"""The transformers backend with the bundled SmolLM2-135M: grammar-constrained decoding yields valid records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthspace.node.generate import get_backend, read_records, run_generation
from synthspace.node.generate.backends import GenerationRequest
from synthspace.node.generate.manifest import load_manifest
from synthspace.node.generate.structured import OutputValidator
from synthspace.node.models.embedded import EMBEDDED_MODEL_ID, model_digest
from synthspace.node.recipes import load_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend():  # type: ignore[no-untyped-def]
    # One thread: on a shared CI/dev CPU two OpenMP threads can be many times slower.
    be = get_backend("transformers", device="cpu", batch_size=4, threads=1, batching="continuous")
    be.load()
    return be


def test_real_records_from_the_embedded_model(tiny: dict[str, Path], backend) -> None:  # type: ignore[no-untyped-def]
    m = run_generation(tiny["recipe"], tiny["seeds"], tiny["out"], backend=backend, home=tiny["home"], limit=4)
    assert m.completed == 4 and m.status == "complete" and not m.dropped
    assert m.generator.backend == "transformers" and m.generator.model_id == EMBEDDED_MODEL_ID
    assert m.generator.model_digest == model_digest() and m.generator.parameters["grammar"] == "xgrammar"
    df = read_records(tiny["out"])
    assert len(df) == 4 and df["record_id"].is_unique
    validator = OutputValidator(load_recipe(tiny["recipe"]))
    for row in df.to_dict("records"):
        rec = {k: row[k] for k in ("question", "answer", "level", "score")}
        rec["score"] = int(rec["score"])
        got, reason, msg = validator.check_value(rec)
        assert reason is None, msg
    assert (df["_completion_tokens"] > 5).all()
    assert load_manifest(tiny["out"]).completion_tokens >= int(df["_completion_tokens"].sum())


def test_grammar_holds_for_every_row_of_a_mixed_batch(backend) -> None:  # type: ignore[no-untyped-def]
    schema = {"type": "object", "properties": {"colour": {"type": "string", "enum": ["red", "green"]},
              "n": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["colour", "n"], "additionalProperties": False}
    reqs = [GenerationRequest(key=str(i), messages=[{"role": "user", "content": p}], temperature=t, top_p=tp, max_tokens=24, seed=i)
            for i, (p, t, tp) in enumerate([("Pick a colour.", 0.0, 1.0), ("Write a poem about the sea.", 1.3, 0.9),
                                             ("Say hello", 0.7, 0.5)])]
    out = backend.generate(reqs, schema)
    for c in out:
        value = json.loads(c.text)
        assert value["colour"] in {"red", "green"} and 1 <= value["n"] <= 9 and set(value) == {"colour", "n"}
        assert c.finish_reason == "stop" and c.completion_tokens > 0


def test_complete_text_is_free_text(backend) -> None:  # type: ignore[no-untyped-def]
    [text] = backend.complete_text(["Describe a fictional baker in one sentence."], max_tokens=24, temperature=0.7)
    assert isinstance(text, str) and len(text.strip()) > 0


def test_missing_local_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    from synthspace.node.generate.backends import BackendUnavailableError

    with pytest.raises(BackendUnavailableError, match="not a local folder"):
        get_backend("transformers", model="HuggingFaceTB/SmolLM2-360M")


def test_static_batching_still_yields_valid_records() -> None:
    be = get_backend("transformers", device="cpu", batch_size=2, threads=1, batching="static")
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}},
              "required": ["n"], "additionalProperties": False}
    reqs = [GenerationRequest(key=str(i), messages=[{"role": "user", "content": "Pick a number."}], temperature=0.7,
                              max_tokens=16, seed=i) for i in range(3)]
    out = be.generate(reqs, schema)
    assert [1 <= json.loads(c.text)["n"] <= 9 for c in out] == [True] * 3
    assert be.info().parameters["batching"] == "static"


def test_continuous_batching_is_the_default() -> None:
    be = get_backend("transformers", device="cpu", batch_size=8)
    assert be.info().parameters["batching"] == "continuous"
    assert (be.max_batch_size, be.max_concurrency) == (1, 16)  # one request per call, 2x slots in flight


def test_a_finished_row_frees_its_slot_at_once(backend) -> None:  # type: ignore[no-untyped-def]
    """Two slots, one long request and three short ones: the short ones run one after another
    beside the long one, so the loop takes max(long, sum of short) steps, not long + short."""
    from synthspace.node.generate.backends.continuous import ContinuousScheduler

    model, tok = backend.load()
    sched = ContinuousScheduler(model, tok, "cpu", 2, None, 1, autostart=False)
    long = GenerationRequest(key="long", messages=[{"role": "user", "content": "Tell a long story about a lighthouse."}],
                             temperature=0.0, max_tokens=20)
    short = [GenerationRequest(key=f"s{i}", messages=[{"role": "user", "content": f"Say {i}."}], temperature=0.7,
                               max_tokens=3, seed=i) for i in range(3)]
    futures = [sched.submit(r, None) for r in [long, *short]]
    sched.start()
    out = [f.result(timeout=300) for f in futures]
    sched.close()
    steps = [c.completion_tokens for c in out]  # one decode step per generated (or stop) token
    assert sched.slot_steps == sum(steps)
    assert sched.steps == max(steps[0], sum(steps[1:]))
    assert all(c.text for c in out)


def test_reused_prompt_kv_changes_no_greedy_output(backend) -> None:  # type: ignore[no-untyped-def]
    """Kept prompt KV (a whole prompt seen again, or a shared system-prompt prefix) gives the same
    greedy records as prefilling every prompt from scratch."""
    from synthspace.node.generate.backends.continuous import ContinuousScheduler

    model, tok = backend.load()
    system = {"role": "system", "content": "You write one short JSON record about a fictional kettle shop."}
    reqs = [GenerationRequest(key=str(i), messages=[system, {"role": "user", "content": f"Record {i}: a {c} kettle."}],
                              temperature=0.0, max_tokens=12) for i, c in enumerate(["red", "blue", "green"])]

    def run(cache_bytes: int, batches: list[list[GenerationRequest]]) -> tuple[list[str], ContinuousScheduler]:
        sched = ContinuousScheduler(model, tok, "cpu", 2, None, 1, autostart=False, prompt_cache_bytes=cache_bytes)
        sched.start()
        texts = [f.result(timeout=300).text for batch in batches for f in [sched.submit(r, None) for r in batch]]
        sched.close()
        return texts, sched

    fresh, cold = run(0, [reqs, reqs])
    reused, warm = run(256 << 20, [reqs, reqs])
    assert reused == fresh and fresh[:3] == fresh[3:]
    assert cold.prompts.hits == 0 and cold.prompts.reused_tokens == 0
    assert warm.prompts.hits == 3  # the second round prefilled nothing
    assert warm.prompts.reused_tokens > 3 * 10  # the first round's later prompts reused the system prompt
