"""Reading recipe YAML into a validated `Recipe`, with errors that point at the offending line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from synthspace.canonical_json import digest
from synthspace.errors import ConfigError
from synthspace.node.recipes.models import Recipe
from synthspace.node.recipes.template import PromptRenderer

# libyaml's parser with PyYAML's safe constructor and resolver: the same values as
# yaml.safe_load for a valid recipe, in a fraction of the time (the pure-Python parser was most
# of a run's fixed cost). Without libyaml it is the pure-Python SafeLoader.
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RecipeError(ConfigError):
    """A recipe file is missing, not YAML, or does not validate."""


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at pydantic location `loc` (deepest node that exists)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
        else:
            nxt = None  # tagged-union names ('StringField', 'fixed') are not YAML keys; skip them
            continue
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def format_validation_error(exc: ValidationError, source: str, root: yaml.Node | None) -> str:
    """One line per problem: `source:LINE: field.path: message`."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(root, loc)
        prefix = f"{source}:{line}" if line else source
        lines.append(f"{prefix}: {where}: {err['msg']}")
    return "; ".join(lines)


def parse_recipe(text: str, source: str = "<recipe>") -> Recipe:
    """Validate recipe YAML text; raises RecipeError naming the file, line and field."""
    try:
        try:
            data = yaml.load(text, Loader=_FAST_LOADER)  # a safe loader (SafeConstructor)
        except yaml.YAMLError:
            data = yaml.safe_load(text)  # the pure-Python parser's own error (or its reading)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise RecipeError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: a recipe must be a YAML mapping with keys task, seed_fields, output_fields, prompt, ...")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        # The node tree (for line numbers) only when there is an error to place: parsing the
        # YAML a second time was half of a valid recipe's load time.
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raise RecipeError(f"invalid recipe: {format_validation_error(exc, source, root)}") from None
    # Compile the templates now so a syntax error surfaces before any generation starts.
    PromptRenderer(recipe, source=source)
    return recipe


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"recipe file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {p}: {exc}") from None
    return parse_recipe(text, source=str(p))


def recipe_digest(recipe: Recipe) -> str:
    """'sha256:<hex>' of the canonical JSON of the validated recipe (defaults filled in)."""
    return digest(recipe.model_dump(mode="json"))
