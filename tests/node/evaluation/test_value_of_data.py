"""benchmarks/value_of_data.py: its recipe, federated split and averaging, table, and (slow) the
whole runner on two items with one SFT step per condition on a given synthetic Parquet."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("value_of_data", ROOT / "benchmarks/value_of_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VOD = _bench()


def test_recipe_admits_every_seed_statute(tmp_path: Path) -> None:
    from synthspace.node.recipes.loading import load_recipe

    seeds = VOD.load_seeds()
    assert len(seeds) >= 30
    recipe = load_recipe(VOD.recipe_for(seeds, tmp_path / "r.yaml", sampling_seed=5))
    assert recipe.sampling.seed == 5
    allow = set(recipe.gates.leakage.allowlist)
    assert all(s["statute"] in allow and s["article_text"] in allow for s in seeds)
    cited = next(f for f in recipe.output_fields if f.name == "cited_article")
    assert all(re.fullmatch(cited.pattern, s["statute"]) for s in seeds)
    # positive control: the demo recipe's own pattern refuses the hyphenated law names
    demo = next(f for f in load_recipe(VOD.DEMO_RECIPE).output_fields if f.name == "cited_article")
    assert not re.fullmatch(demo.pattern, "Fictional E-Scooter Traffic Act, Article 8")


def test_seed_examples_are_the_seeds_question_answer_pairs() -> None:
    seeds = VOD.load_seeds()
    examples = VOD.seed_examples(seeds)
    assert len(examples) == len(seeds)
    assert (examples[0].prompt, examples[0].answer) == (seeds[0]["question"], seeds[0]["answer"])


def test_split_by_law_gives_each_node_its_own_statutes() -> None:
    frame = pd.DataFrame(
        {
            "question": [f"q{i}?" for i in range(4)],
            "answer": [f"a{i}." for i in range(4)],
            "cited_article": [
                "Fictional E-Scooter Traffic Act, Article 8",
                "Fictional Community Library Act, Article 7",
                "Fictional Citizen Data Handling Ordinance, Article 3",
                "Fictional Park Drone Flight Ordinance, Article 6",
            ],
        }
    )
    a, b = VOD.split_by_law(frame)
    assert [e.prompt for e in a] == ["q0?", "q2?"] and [e.prompt for e in b] == ["q1?", "q3?"]
    # one law family only: the records alternate, so neither node is empty
    a, b = VOD.split_by_law(frame.iloc[[0, 2]])
    assert len(a) == len(b) == 1


def test_fedavg_is_the_example_weighted_mean() -> None:
    import torch

    s1 = {"x.lora_A.weight": torch.zeros(2, 3), "x.lora_B.weight": torch.ones(3, 2)}
    s2 = {"x.lora_A.weight": torch.full((2, 3), 4.0), "x.lora_B.weight": torch.zeros(3, 2)}
    avg = VOD.fedavg([s1, s2], [1, 3])
    assert torch.allclose(avg["x.lora_A.weight"], torch.full((2, 3), 3.0))
    assert torch.allclose(avg["x.lora_B.weight"], torch.full((3, 2), 0.25))


def test_table_quotes_counts_wilson_intervals_and_deltas() -> None:
    metric = {"items": 36, "correct": 7, "accuracy": 7 / 36, "ci95": [0.0977, 0.3502]}
    result = {
        "benchmarks": {"en": {"items": 36}},
        "conditions": [
            {"name": "base", "examples": None, "steps": None, "metrics": {"en": metric}},
            {
                "name": "seeds only", "examples": 30, "steps": 60, "metrics": {"en": metric},
                "delta_vs_base": {"en": {"mean": 0.0, "ci95": [-0.1, 0.1]}},
            },
        ],
    }  # fmt: skip
    lines = VOD.format_table(result).splitlines()
    assert len(lines) == 4 and "n=36" in lines[0]
    assert "| base | – | – | 7/36 = 0.194 [0.098, 0.350] |" == lines[2]
    assert "Δ +0.000 [-0.10, +0.10]" in lines[3] and "| seeds only | 30 | 60 |" in lines[3]


@pytest.mark.slow
def test_runner_end_to_end_on_two_items(tmp_path: Path) -> None:
    """No generation (--synthetic-data): base, seeds, synthetic and federated conditions, one SFT
    step each, scored on the first two English items; the JSON carries each condition's metrics."""
    data = tmp_path / "synth.parquet"
    pd.DataFrame(
        {
            "record_id": ["r1", "r2"],
            "question": ["How long may a business take to disclose my data?", "Can I ride on the pavement?"],
            "answer": ["Within thirty days of the request.", "No, unless limited to six kilometres per hour."],
            "cited_article": [
                "Fictional Citizen Data Handling Ordinance, Article 3",
                "Fictional E-Scooter Traffic Act, Article 8",
            ],
        }
    ).to_parquet(data)
    out = tmp_path / "r.json"
    argv = ["--synthetic-data", str(data), "--items", "2", "--langs", "en", "--steps", "2",
            "--rounds", "1", "--batch-size", "1", "--max-seq-len", "96", "--json", str(out)]  # fmt: skip
    result = VOD.main(argv)
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["table"] == result["table"]
    names = [c["name"] for c in saved["conditions"]]
    assert names[:3] == ["base", "seeds only", "gated synthetic (one node)"] and "federated" in names[3]
    for cond in saved["conditions"]:
        assert cond["metrics"]["en"]["items"] == 2
    fed = saved["conditions"][3]
    assert fed["node_examples"] == [1, 1] and fed["steps"] == 2
    assert saved["synthetic"]["kept"] == 2 and saved["benchmarks"]["en"]["items"] == 2
    assert saved["command"].startswith("python benchmarks/value_of_data.py --synthetic-data")
