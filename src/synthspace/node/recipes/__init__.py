"""Recipes: YAML configs naming seed and output fields, the prompt, sampling and persona assignment."""

from synthspace.node.recipes.loading import RecipeError, load_recipe, parse_recipe, recipe_digest
from synthspace.node.recipes.models import (
    BooleanField,
    EnumField,
    FixedValue,
    IntegerField,
    NumberField,
    RandomAssignment,
    RangeValue,
    Recipe,
    SeedField,
    StratifiedAssignment,
    StringField,
    StringListField,
)
from synthspace.node.recipes.template import PromptRenderer, TemplateRenderError

__all__ = [
    "BooleanField",
    "EnumField",
    "FixedValue",
    "IntegerField",
    "NumberField",
    "PromptRenderer",
    "RandomAssignment",
    "RangeValue",
    "Recipe",
    "RecipeError",
    "SeedField",
    "StratifiedAssignment",
    "StringField",
    "StringListField",
    "TemplateRenderError",
    "load_recipe",
    "parse_recipe",
    "recipe_digest",
]
