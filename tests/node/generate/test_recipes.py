"""Recipe validation: clear errors with line numbers, schema generation, digest, shipped examples."""

from __future__ import annotations

import pytest

from synthspace.errors import ConfigError
from synthspace.node.examples import EXAMPLES, example_path
from synthspace.node.recipes import Recipe, RecipeError, load_recipe, parse_recipe, recipe_digest
from synthspace.node.seeds import load_seeds
from tests.node.generate.conftest import TINY_RECIPE


def test_tiny_recipe_parses_and_builds_a_strict_json_schema() -> None:
    r = parse_recipe(TINY_RECIPE)
    schema = r.output_json_schema()
    assert schema["required"] == ["question", "answer", "level", "score"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["level"]["enum"] == ["easy", "hard"]
    assert schema["properties"]["score"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert schema["properties"]["question"]["maxLength"] == 60


def test_unknown_key_is_rejected_with_its_line() -> None:
    text = TINY_RECIPE.replace("  outputs_per_seed: 3", "  outputs_per_seed: 3\n  outputs_per_sed: 4")
    with pytest.raises(RecipeError) as exc:
        parse_recipe(text, source="r.yaml")
    msg = str(exc.value)
    line = text.splitlines().index("  outputs_per_sed: 4") + 1
    assert f"r.yaml:{line}" in msg and "outputs_per_sed" in msg and "Extra inputs" in msg


def test_wrong_field_type_names_the_path_and_line() -> None:
    text = TINY_RECIPE.replace("{name: score, type: integer, minimum: 1, maximum: 5}", "{name: score, type: integer, minimum: 9, maximum: 5}")
    with pytest.raises(RecipeError) as exc:
        parse_recipe(text, source="r.yaml")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "name: score" in ln)
    assert f"r.yaml:{line}" in str(exc.value) and "minimum 9 exceeds maximum 5" in str(exc.value)


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("type: enum, choices: [easy, hard]", "type: enum, choices: [easy, easy]", "choices must be distinct"),
        ("type: enum, choices: [easy, hard]", "type: colour", "does not match any of the expected tags"),
        ("{name: answer,", "{name: question,", "duplicate names: question"),
        ("{name: answer,", "{name: _secret,", "String should match pattern"),
        ("{name: answer,", "{name: record_id,", "reserved"),
        ("{kind: range, low: 0.5, high: 0.9}", "{kind: range, low: 0.9, high: 0.5}", "low 0.9 exceeds high 0.5"),
        ("{kind: fixed, value: 0.95}", "{kind: fixed, value: 1.5}", "top_p 1.5 is outside"),
        ("{kind: fixed, value: 0.95}", "{kind: sometimes, value: 0.95}", "does not match any of the expected tags"),
        ("max_retries: 2", "max_retries: -1", "greater than or equal to 0"),
        ("task: tiny_qa", "task: Tiny QA!", "String should match pattern"),
        ("locale: en_US", "locale: english", "String should match pattern"),
    ],
)
def test_invalid_recipes_fail_clearly(old: str, new: str, needle: str) -> None:
    assert old in TINY_RECIPE
    with pytest.raises(RecipeError) as exc:
        parse_recipe(TINY_RECIPE.replace(old, new, 1), source="bad.yaml")
    assert needle in str(exc.value)
    assert str(exc.value).count("bad.yaml") >= 1


def test_stratified_assignment_requires_attribute() -> None:
    text = TINY_RECIPE + "persona_assignment: {strategy: stratified}\n"
    with pytest.raises(RecipeError, match="persona_assignment.*attribute.*Field required"):
        parse_recipe(text)
    ok = parse_recipe(TINY_RECIPE + "persona_assignment: {strategy: stratified, attribute: region}\n")
    assert ok.persona_assignment.strategy == "stratified"


def test_yaml_syntax_error_reports_line() -> None:
    with pytest.raises(RecipeError, match=r"r\.yaml:3: not valid YAML: mapping values"):
        parse_recipe("task: x\nlicense: MIT\nlocale: a: b\n", source="r.yaml")
    with pytest.raises(RecipeError, match="must be a YAML mapping"):
        parse_recipe("- just\n- a list\n")


def test_template_syntax_error_is_caught_at_load() -> None:
    text = TINY_RECIPE.replace("Write one short", "{% if seed.topic %}Write one short")
    with pytest.raises(ConfigError, match="does not compile"):
        parse_recipe(text)


def test_missing_file_is_a_recipe_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_digest_is_stable_and_content_sensitive() -> None:
    a = recipe_digest(parse_recipe(TINY_RECIPE))
    # Formatting and key order do not matter: the digest is over the validated model.
    reordered = TINY_RECIPE.replace("license: CC0-1.0\nlocale: en_US", "locale: en_US\nlicense: CC0-1.0") + "\n# comment\n"
    assert recipe_digest(parse_recipe(reordered)) == a
    assert a.startswith("sha256:") and len(a) == 71
    assert recipe_digest(parse_recipe(TINY_RECIPE.replace("max_tokens: 96", "max_tokens: 97"))) != a


def test_every_recipe_field_is_described() -> None:
    schema = Recipe.model_json_schema()
    missing = []
    for name, model in {"Recipe": schema, **schema.get("$defs", {})}.items():
        for prop, spec in model.get("properties", {}).items():
            if "description" not in spec:
                missing.append(f"{name}.{prop}")
    assert not missing, missing


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_shipped_examples_load_with_their_seeds(name: str) -> None:
    recipe_file, seeds_file = EXAMPLES[name]
    recipe = load_recipe(example_path(recipe_file))
    seeds = load_seeds(example_path(seeds_file), recipe.seed_fields)
    assert 10 <= len(seeds) <= 30
    from synthspace.node.recipes import PromptRenderer

    msgs = PromptRenderer(recipe).render(seeds.records[0], {"persona_id": "x", "region": "関東", "narrative": "n"})
    assert msgs[-1]["role"] == "user" and seeds.records[0][recipe.seed_fields[0].name] in msgs[-1]["content"]
