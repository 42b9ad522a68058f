"""A recipe may carry its own gate thresholds; they are validated by the gates' config model."""

from __future__ import annotations

import pytest
import yaml

from synthspace.node.examples import example_path
from synthspace.node.gates.config import gates_config_from_mapping
from synthspace.node.recipes import RecipeError, parse_recipe


def _recipe_with(gates: object) -> str:
    data = yaml.safe_load(example_path("en_support.yaml").read_text(encoding="utf-8"))
    data["gates"] = gates
    return yaml.safe_dump(data, allow_unicode=True)


def test_recipe_gates_section_is_accepted_and_reaches_the_gates() -> None:
    recipe = parse_recipe(_recipe_with({"leakage": {"lcs_fail_chars": 40}}))
    assert recipe.gates is not None and recipe.gates.leakage.lcs_fail_chars == 40
    assert gates_config_from_mapping(recipe.gates).leakage.lcs_fail_chars == 40


def test_recipe_gates_with_an_unknown_setting_is_a_recipe_error() -> None:
    with pytest.raises(RecipeError, match="gates"):
        parse_recipe(_recipe_with({"leakage": {"no_such_threshold": 1}}))
