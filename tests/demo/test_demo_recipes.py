"""The demo's own recipes (written for the bundled 135M model): they load, the example each
prompt shows the model is itself a valid output, and the grammar patterns refuse failure shapes
seen from the bundled model (leading digit strings, timestamps, placeholders, katakana noise)."""

from __future__ import annotations

import json
import re

import pytest

from synthspace.demo.datasets import overgenerated
from synthspace.demo.plans import ORGS, demo_recipe
from synthspace.node.recipes.loading import load_recipe
from synthspace.node.recipes.models import StringField

# Output field -> seed field whose value the prompt shows as the example of that output field.
EXAMPLE_OF = {
    "kanagawa-legal": {"question": "question", "answer": "answer", "cited_article": "statute"},
    "osaka-support": {"customer": "customer_message", "agent": "agent_reply"},
}

# Shapes the grammar itself rules out. Digit runs, dotted numbers and hex inside an otherwise
# well-formed sentence pass the grammar; the pii and usefulness gates drop those records.
BAD = [
    "726371131393286256?",
    "It happened on 2020-09-21T14:30:21.",
    "Call me at (555) 010-4477 please.",
    "Hello {{ 1 }} there, how are you?",
    "ブッォにバアアコッドが利用されます.",
    "Mail me at someone@example.com today.",
    "",
]


def _patterns(plan_recipe: object) -> dict[str, str]:
    recipe = load_recipe(plan_recipe)  # type: ignore[arg-type]
    return {f.name: f.pattern for f in recipe.output_fields if isinstance(f, StringField) and f.pattern}


@pytest.mark.parametrize("plan", ORGS, ids=lambda p: p.org)
def test_demo_recipe_loads_and_is_english(plan: object, tmp_path) -> None:  # type: ignore[no-untyped-def]
    recipe = load_recipe(plan.recipe)  # type: ignore[attr-defined]
    assert recipe.locale == "en_US"  # the bundled model cannot write Japanese (README)
    assert plan.seeds.is_file()  # type: ignore[attr-defined]
    # Each attempt gets its own sampling seed; everything else is the recipe file.
    a = load_recipe(demo_recipe(plan, tmp_path / "a.yaml", 0))  # type: ignore[arg-type]
    b = load_recipe(demo_recipe(plan, tmp_path / "b.yaml", 1))  # type: ignore[arg-type]
    assert a.sampling.seed != b.sampling.seed
    assert a.output_fields == b.output_fields == recipe.output_fields


@pytest.mark.parametrize("plan", ORGS, ids=lambda p: p.org)
def test_the_prompt_example_is_a_valid_output(plan: object) -> None:
    patterns = _patterns(plan.recipe)  # type: ignore[attr-defined]
    assert patterns, "every demo text field is grammar-constrained"
    seeds = [json.loads(line) for line in plan.seeds.read_text().splitlines() if line.strip()]  # type: ignore[attr-defined]
    mapping = EXAMPLE_OF[plan.org]  # type: ignore[attr-defined]
    fitting = 0
    for seed in seeds:
        fitting += all(re.fullmatch(patterns[out], seed[src]) for out, src in mapping.items() if out in patterns)
    # The legal seeds were written for the pattern; the shared support seeds hold digits
    # ("1.7L", a phone number) on purpose (PII positive controls), so most, not all, fit.
    assert fitting >= (len(seeds) if plan.org == "kanagawa-legal" else len(seeds) // 2), fitting  # type: ignore[attr-defined]


@pytest.mark.parametrize("plan", ORGS, ids=lambda p: p.org)
def test_patterns_refuse_the_bundled_models_failure_shapes(plan: object) -> None:
    for name, pattern in _patterns(plan.recipe).items():  # type: ignore[attr-defined]
        for bad in BAD:
            assert not re.fullmatch(pattern, bad), (name, bad)


def test_overgenerate_asks_for_more_than_wanted() -> None:
    assert overgenerated(3) == 5 and overgenerated(8) == 12
    assert all(overgenerated(n) > n for n in range(1, 50))
