"""Parsing model output into a record and validating it against the recipe's output schema."""

from __future__ import annotations

import functools
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    create_model,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs this TypedDict before Python 3.12

from synthspace.node.generate import fastjson
from synthspace.node.generate.backends.base import Completion
from synthspace.node.recipes.models import (
    BooleanField,
    EnumField,
    IntegerField,
    NumberField,
    Recipe,
    StringField,
    StringListField,
)

DropReason = Literal["backend_error", "empty", "truncated", "invalid_json", "schema_violation"]
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _annotation(f: Any) -> Any:
    if isinstance(f, StringField):
        return Annotated[str, Field(min_length=f.min_length, max_length=f.max_length, pattern=f.pattern, strict=True)]
    if isinstance(f, IntegerField):
        return Annotated[StrictInt, Field(ge=f.minimum, le=f.maximum)]
    if isinstance(f, NumberField):
        return Annotated[float, Field(ge=f.minimum, le=f.maximum, allow_inf_nan=False)]
    if isinstance(f, BooleanField):
        return StrictBool
    if isinstance(f, EnumField):
        return Literal[tuple(f.choices)]
    if isinstance(f, StringListField):
        item = Annotated[str, Field(min_length=f.item_min_length, max_length=f.item_max_length, strict=True)]
        return Annotated[list[item], Field(min_length=f.min_items, max_length=f.max_items)]  # type: ignore[valid-type]
    raise TypeError(f"unknown output field type {type(f).__name__}")


_RECORD_CONFIG = ConfigDict(extra="forbid", regex_engine="python-re")


class _RecordBase(BaseModel):
    model_config = _RECORD_CONFIG


def record_model(recipe: Recipe) -> type[BaseModel]:
    """A pydantic model of one output record (same constraints as the JSON schema)."""
    fields: dict[str, Any] = {f.name: (_annotation(f), ...) for f in recipe.output_fields}
    return create_model(f"Record_{recipe.task}", __base__=_RecordBase, **fields)


def record_dict_validator(recipe: Recipe) -> TypeAdapter[Any]:
    """The same constraints as `record_model` on a TypedDict: validating yields the record dict
    directly, without building a model instance and dumping it again (per record, that was
    half the validation time)."""
    td = TypedDict(f"Record_{recipe.task}", {f.name: _annotation(f) for f in recipe.output_fields})  # type: ignore[misc]
    return TypeAdapter(with_config(_RECORD_CONFIG)(td))


def extract_json(text: str) -> Any:
    """The JSON value in a completion, tolerating code fences and prose around one object."""
    s = text.strip()
    m = _FENCE.match(s)
    if m:
        s = m.group(1)
    try:
        return fastjson.loads(s)
    except json.JSONDecodeError:
        start, end = s.find("{"), s.rfind("}")
        if start != -1 and end > start:
            return fastjson.loads(s[start : end + 1])
        raise


VALIDATOR_CACHE = 32  # (record model, validate function) pairs kept, by task name and output fields


class _OutputShape:
    """A recipe as the record model and validator see it: equal (and hashed) by its task name
    and output fields, which is all both depend on."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self.key = json.dumps(
            [recipe.task, [f.model_dump(mode="json") for f in recipe.output_fields]], sort_keys=True
        )

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _OutputShape) and other.key == self.key


@functools.lru_cache(maxsize=VALIDATOR_CACHE)
def _validator_parts_of(shape: _OutputShape) -> tuple[type[BaseModel], Any]:
    return record_model(shape.recipe), record_dict_validator(shape.recipe).validator.validate_python


def _validator_parts(recipe: Recipe) -> tuple[type[BaseModel], Any]:
    """`record_model(recipe)` and the TypedDict validator's validate function, built once per task
    name and output fields (both depend on nothing else): building them took milliseconds per run,
    and neither is changed by use."""
    return _validator_parts_of(_OutputShape(recipe))


class OutputValidator:
    """Turns a Completion into a validated record dict, or a drop reason and message."""

    def __init__(self, recipe: Recipe) -> None:
        # The model is still built: a field name the model refuses fails here as before.
        self.model, self._validate = _validator_parts(recipe)
        self.names = recipe.output_field_names

    def check(self, completion: Completion) -> tuple[dict[str, Any] | None, DropReason | None, str]:
        if completion.error:
            return None, "backend_error", completion.error
        if not completion.text.strip():
            return None, ("truncated" if completion.finish_reason == "length" else "empty"), "empty completion"
        try:
            value = extract_json(completion.text)
        except json.JSONDecodeError as exc:
            reason: DropReason = "truncated" if completion.finish_reason == "length" else "invalid_json"
            return None, reason, f"not JSON: {exc.msg}"
        return self.check_value(value)

    def check_value(self, value: Any) -> tuple[dict[str, Any] | None, DropReason | None, str]:
        """Validate an already-parsed JSON value."""
        if not isinstance(value, dict):
            return None, "schema_violation", f"expected a JSON object, got {type(value).__name__}"
        try:
            rec: dict[str, Any] = self._validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return None, "schema_violation", f"{where}: {first['msg']}"
        return rec, None, ""
