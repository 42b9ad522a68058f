"""The demo's own recipes (written for the bundled 135M model): they load, the example each
prompt shows the model is itself a valid output, and the grammar patterns refuse failure shapes
seen from the bundled model (leading digit strings, timestamps, placeholders, katakana noise)."""

from __future__ import annotations

import json
import re

import pytest

from synthspace.demo.plans import ORGS, demo_recipe
from synthspace.node.generate.structured import record_model
from synthspace.node.recipes.loading import load_recipe
from synthspace.node.recipes.models import StringField

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
def test_the_prompt_example_is_a_valid_output_and_no_seed(plan: object) -> None:
    """The one-shot example the prompt shows (templated from the seed's public fields) is a valid
    record, and the prompt never shows a seed's private example text."""
    import jinja2

    recipe = load_recipe(plan.recipe)  # type: ignore[attr-defined]
    lines = [line for line in recipe.prompt.template.splitlines() if line.strip().startswith("{")]
    assert len(lines) == 1
    seeds = [json.loads(line) for line in plan.seeds.read_text().splitlines() if line.strip()]  # type: ignore[attr-defined]
    patterns = _patterns(plan.recipe)  # type: ignore[attr-defined]
    valid = 0
    for seed in seeds:
        example = json.loads(jinja2.Template(lines[0]).render(seed=seed))
        try:
            record_model(recipe).model_validate(example)
        except ValueError:
            continue
        assert all(re.fullmatch(p, example[name]) for name, p in patterns.items())
        valid += 1
    # The legal seeds were written for the patterns; some shared support seeds hold dashes or
    # brackets the grammar rules out, so the model rephrases those.
    assert valid >= (len(seeds) if plan.org == "kanagawa-legal" else len(seeds) // 2), valid  # type: ignore[attr-defined]
    used = set(re.findall(r"seed\.(\w+)", recipe.prompt.template))
    assert used and not used & {"question", "answer", "customer_message", "agent_reply"}, used
    assert not [v for s in seeds for v in map(str, s.values()) if len(v) > 12 and v in recipe.prompt.template]


@pytest.mark.parametrize("plan", ORGS, ids=lambda p: p.org)
def test_patterns_refuse_the_bundled_models_failure_shapes(plan: object) -> None:
    for name, pattern in _patterns(plan.recipe).items():  # type: ignore[attr-defined]
        for bad in BAD:
            assert not re.fullmatch(pattern, bad), (name, bad)


@pytest.mark.parametrize("plan", ORGS, ids=lambda p: p.org)
def test_demo_recipes_overgenerate(plan: object) -> None:
    # The gates drop unusable records one by one; the run still reaches its target.
    assert load_recipe(plan.recipe).generation.overgenerate >= 1.5  # type: ignore[attr-defined]
