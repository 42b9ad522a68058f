"""Rendering a recipe's prompt in a sandbox.

Recipes may come from anyone, so templates run in Jinja2's ImmutableSandboxedEnvironment: no
access to dunder or private attributes (`__class__`, `__globals__`, ...), no mutation of the
values passed in, no file system or import access. StrictUndefined turns a misspelt variable
into an error instead of an empty string that would silently degrade every prompt.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from synthspace.errors import ConfigError
from synthspace.node.recipes.models import Recipe

MAX_PROMPT_CHARS = 200_000


class TemplateRenderError(ConfigError):
    """A prompt template failed to compile or render (undefined variable, forbidden access, ...)."""


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    # Nothing from the host leaks in: keep only Jinja's harmless built-in globals.
    env.globals = {k: v for k, v in env.globals.items() if k in {"range", "dict", "lipsum", "cycler", "joiner", "namespace"}}
    return env


COMPILED_CACHE = 64  # compiled templates kept, by source text


@functools.lru_cache(maxsize=COMPILED_CACHE)
def _compile(source: str) -> Template:
    """The template compiled in a fresh sandboxed environment, once per source text: a run
    compiles its recipe's templates when the recipe is parsed and again for the renderer, and
    a compile costs milliseconds. A compiled template renders without changing itself (and
    the immutable sandbox keeps templates from changing anything), so one can serve every
    renderer of that text; an error is raised, and not kept (lru_cache keeps only results)."""
    return _environment().from_string(source)


def recipe_context(recipe: Recipe) -> dict[str, Any]:
    """What a template sees as `recipe`: metadata and the output schema, never file paths."""
    return {
        "task": recipe.task,
        "description": recipe.description,
        "locale": recipe.locale,
        "license": recipe.license,
        "tags": list(recipe.tags),
        "output_fields": [f.model_dump(mode="json") for f in recipe.output_fields],
        "output_field_names": recipe.output_field_names,
    }


def _describe_field(field: Mapping[str, Any]) -> str:
    kind = field["type"]
    if kind == "string":
        what = f"text of {field['min_length']}-{field['max_length']} characters"
    elif kind in ("integer", "number"):
        lo, hi = field.get("minimum"), field.get("maximum")
        what = "a whole number" if kind == "integer" else "a number"
        if lo is not None and hi is not None:
            what += f" from {lo} to {hi}"
    elif kind == "boolean":
        what = "true or false"
    elif kind == "enum":
        what = "one of " + ", ".join(f'"{c}"' for c in field["choices"])
    elif kind == "string_list":
        what = (f"a list of {field['min_items']}-{field['max_items']} strings, each of "
                f"{field['item_min_length']}-{field['item_max_length']} characters")
    else:  # a future field type: its JSON schema still constrains it
        what = kind
    desc = f": {field['description']}" if field.get("description") else ""
    return f"- {field['name']} ({what}){desc}"


def output_format_instructions(recipe: Recipe) -> str:
    """What the model is told about the record it must write, derived from the output fields."""
    lines = [_describe_field(f.model_dump(mode="json")) for f in recipe.output_fields]
    return "Answer with one JSON object with exactly these fields:\n" + "\n".join(lines)


class PromptRenderer:
    """Compiled system/user templates of one recipe."""

    def __init__(self, recipe: Recipe, source: str = "<recipe>") -> None:
        self._recipe_ctx = recipe_context(recipe)
        self._source = source
        self._format = output_format_instructions(recipe) if recipe.prompt.output_format == "append" else None
        try:
            self._user = _compile(recipe.prompt.template)
            self._system = _compile(recipe.prompt.system) if recipe.prompt.system else None
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" (template line {line})" if line else ""
            raise TemplateRenderError(f"{source}: prompt template does not compile{where}: {exc}") from None

    def render(self, seed: Mapping[str, Any], persona: Mapping[str, Any] | None) -> list[dict[str, str]]:
        """Chat messages for one output: optional system message, then the user message."""
        ctx = {"seed": dict(seed), "persona": dict(persona) if persona else {}, "recipe": self._recipe_ctx}
        messages = []
        try:
            if self._system is not None:
                messages.append({"role": "system", "content": self._system.render(ctx).strip()})
            user = self._user.render(ctx).strip()
            if self._format is not None:
                user = f"{user}\n\n{self._format}"
            messages.append({"role": "user", "content": user})
        except SecurityError as exc:
            raise TemplateRenderError(f"{self._source}: prompt template tried a forbidden operation: {exc}") from None
        except TemplateError as exc:
            raise TemplateRenderError(f"{self._source}: prompt template failed to render: {exc}") from None
        except Exception as exc:  # template code is user input: any failure is a recipe error
            raise TemplateRenderError(
                f"{self._source}: prompt template failed to render: {type(exc).__name__}: {exc}"
            ) from None
        if any(len(m["content"]) > MAX_PROMPT_CHARS for m in messages):
            raise TemplateRenderError(f"{self._source}: rendered prompt exceeds {MAX_PROMPT_CHARS} characters")
        return messages
