"""`synthspace eval --compare-base` tells the bundled model from an adapter trained on the benchmark's facts.

The four items are ones the base model gets wrong (measured: docs/benchmarks.md); a rank-4 LoRA
trained a few steps on their correct answers must score higher, so the paired delta is positive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthspace.node.evaluation.benchmark import ChoiceItem, load_benchmark, shipped_benchmark

ITEM_IDS = ("en-data-3c", "en-data-5a", "en-data-5b", "en-data-5c")


def _train_adapter(items: list[ChoiceItem], out: Path) -> None:
    from safetensors.torch import save_file

    from synthspace.node.federated.lora import (
        LoraSettings,
        adapter_state,
        attach_lora,
        load_base_model,
        train_steps,
    )
    from synthspace.node.federated.training_data import Example

    base = load_base_model()
    settings = LoraSettings(rank=4, alpha=8)
    peft_model = attach_lora(base.model, settings)
    examples = [Example(text="", prompt=i.question, answer=i.options[i.answer]) for i in items]
    train_steps(
        peft_model, base.tokenizer, examples, steps=12, batch_size=4, lr=1e-2, max_len=256, seed=0
    )
    out.mkdir()
    save_file(adapter_state(peft_model), str(out / "adapter.safetensors"))
    (out / "adapter_config.json").write_text(
        json.dumps(settings.peft_config().to_dict(), default=list), encoding="utf-8"
    )


@pytest.mark.slow
def test_compare_base_tells_base_from_trained_adapter(tmp_path: Path) -> None:
    items = [i for i in load_benchmark(shipped_benchmark("en_statutes")) if i.id in ITEM_IDS]
    assert len(items) == len(ITEM_IDS) and all(isinstance(i, ChoiceItem) for i in items)
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(i.model_dump_json() + "\n" for i in items), encoding="utf-8")
    _train_adapter([i for i in items if isinstance(i, ChoiceItem)], tmp_path / "adapter")

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthspace.cli.main",
            "eval",
            "--benchmark",
            str(bench),
            "--adapter",
            str(tmp_path / "adapter"),
            "--compare-base",
            "--json",
            "--quiet",
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    base, tuned = summary["metrics"]["base"], summary["metrics"]["adapter"]
    assert base["correct"] <= 1  # these items were chosen because the base model misses them
    assert tuned["correct"] > base["correct"] + 1
    assert summary["delta"]["adapter_minus_base"] > 0
    assert summary["adapter"]["digest"].startswith("sha256:")
    rows = (tmp_path / "r" / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2 * len(ITEM_IDS)
