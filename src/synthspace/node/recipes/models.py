"""Recipe configuration models: what to generate, from which seeds, with which prompt.

A recipe is YAML validated by these pydantic models. Every model forbids unknown keys (a typo is
an error, not a silently ignored setting), every field carries a description (they become the
recipe's JSON schema, see `Recipe.model_json_schema()`), and variants are tagged unions with a
`Literal` discriminator, as in NeMo Data Designer's config layer.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from synthspace.config_model import FrozenModel
from synthspace.node.recipes.gates import GatesConfig

_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"


class RecipeModel(FrozenModel):
    """Base of every recipe model: unknown keys are rejected, values are frozen once validated."""


# --- seed fields ---------------------------------------------------------------------------


class SeedField(RecipeModel):
    name: str = Field(pattern=_NAME, description="Column or key name in the seed file.")
    type: Literal["string", "integer", "number", "boolean"] = Field(
        default="string", description="Expected type of the seed value."
    )
    required: bool = Field(default=True, description="Whether every seed record must carry a non-empty value.")
    description: str = Field(default="", description="What the field holds (documentation only).")


# --- output fields: a tagged union on `type` -----------------------------------------------


class _OutputFieldBase(RecipeModel):
    name: str = Field(pattern=_NAME, description="Output column name; must not start with '_' (node-private).")
    description: str = Field(default="", description="What the field holds; passed to the model in the JSON schema.")

    def json_schema(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _with_description(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.description:
            schema["description"] = self.description
        return schema


class StringField(_OutputFieldBase):
    type: Literal["string"] = Field(description="A text value.")
    min_length: int = Field(default=1, ge=0, description="Minimum length in characters.")
    max_length: int = Field(default=2000, ge=1, le=100_000, description="Maximum length in characters.")
    pattern: str | None = Field(default=None, description="Regular expression the value must match (JSON Schema semantics: anchor it with ^ and $).")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"pattern does not compile: {exc}") from exc
        return v

    @model_validator(mode="after")
    def _bounds(self) -> StringField:
        if self.min_length > self.max_length:
            raise ValueError(f"min_length {self.min_length} exceeds max_length {self.max_length}")
        return self

    def json_schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": "string", "minLength": self.min_length, "maxLength": self.max_length}
        if self.pattern is not None:
            s["pattern"] = self.pattern
        return self._with_description(s)


class IntegerField(_OutputFieldBase):
    type: Literal["integer"] = Field(description="A whole number.")
    minimum: int | None = Field(default=None, description="Smallest allowed value (inclusive).")
    maximum: int | None = Field(default=None, description="Largest allowed value (inclusive).")

    @model_validator(mode="after")
    def _bounds(self) -> IntegerField:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum} exceeds maximum {self.maximum}")
        return self

    def json_schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            s["minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        return self._with_description(s)


class NumberField(_OutputFieldBase):
    type: Literal["number"] = Field(description="A real number.")
    minimum: float | None = Field(default=None, description="Smallest allowed value (inclusive).")
    maximum: float | None = Field(default=None, description="Largest allowed value (inclusive).")

    @model_validator(mode="after")
    def _bounds(self) -> NumberField:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum} exceeds maximum {self.maximum}")
        return self

    def json_schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": "number"}
        if self.minimum is not None:
            s["minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        return self._with_description(s)


class BooleanField(_OutputFieldBase):
    type: Literal["boolean"] = Field(description="true or false.")

    def json_schema(self) -> dict[str, Any]:
        return self._with_description({"type": "boolean"})


class EnumField(_OutputFieldBase):
    type: Literal["enum"] = Field(description="One of a fixed list of strings.")
    choices: list[str] = Field(min_length=1, description="The allowed values.")

    @field_validator("choices")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("choices must be distinct")
        return v

    def json_schema(self) -> dict[str, Any]:
        return self._with_description({"type": "string", "enum": list(self.choices)})


class StringListField(_OutputFieldBase):
    type: Literal["string_list"] = Field(description="A list of text values, e.g. dialogue turns.")
    min_items: int = Field(default=1, ge=0, description="Minimum number of items.")
    max_items: int = Field(default=10, ge=1, le=1000, description="Maximum number of items.")
    item_min_length: int = Field(default=1, ge=0, description="Minimum length of each item in characters.")
    item_max_length: int = Field(default=1000, ge=1, description="Maximum length of each item in characters.")

    @model_validator(mode="after")
    def _bounds(self) -> StringListField:
        if self.min_items > self.max_items:
            raise ValueError(f"min_items {self.min_items} exceeds max_items {self.max_items}")
        if self.item_min_length > self.item_max_length:
            raise ValueError("item_min_length exceeds item_max_length")
        return self

    def json_schema(self) -> dict[str, Any]:
        return self._with_description(
            {
                "type": "array",
                "items": {"type": "string", "minLength": self.item_min_length, "maxLength": self.item_max_length},
                "minItems": self.min_items,
                "maxItems": self.max_items,
            }
        )


OutputField = Annotated[
    StringField | IntegerField | NumberField | BooleanField | EnumField | StringListField,
    Field(discriminator="type"),
]


# --- persona assignment: random | stratified ------------------------------------------------


class RandomAssignment(RecipeModel):
    strategy: Literal["random"] = Field(description="Each output draws a persona uniformly at random.")
    seed: int = Field(default=0, description="Random seed; the same seed gives the same assignment.")


class StratifiedAssignment(RecipeModel):
    strategy: Literal["stratified"] = Field(
        description="Outputs cycle through the values of a persona attribute so every stratum is used evenly."
    )
    attribute: str = Field(min_length=1, description="Persona attribute (Parquet column) to stratify by, e.g. prefecture.")
    seed: int = Field(default=0, description="Random seed for the pick inside each stratum.")


PersonaAssignment = Annotated[RandomAssignment | StratifiedAssignment, Field(discriminator="strategy")]


# --- sampling parameters: fixed | range -----------------------------------------------------


class FixedValue(RecipeModel):
    kind: Literal["fixed"] = Field(description="The same value for every output.")
    value: float = Field(description="The value.")


class RangeValue(RecipeModel):
    kind: Literal["range"] = Field(description="Drawn uniformly from [low, high] per output, reproducibly.")
    low: float = Field(description="Lower bound (inclusive).")
    high: float = Field(description="Upper bound (inclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> RangeValue:
        if self.low > self.high:
            raise ValueError(f"low {self.low} exceeds high {self.high}")
        return self


SamplingValue = Annotated[FixedValue | RangeValue, Field(discriminator="kind")]


def _fixed(v: float) -> FixedValue:
    return FixedValue(kind="fixed", value=v)


class Sampling(RecipeModel):
    temperature: SamplingValue = Field(default_factory=lambda: _fixed(0.7), description="Sampling temperature (0 = greedy).")
    top_p: SamplingValue = Field(default_factory=lambda: _fixed(0.95), description="Nucleus sampling probability mass.")
    max_tokens: int = Field(default=512, ge=1, le=32768, description="Most tokens generated per output.")
    seed: int = Field(default=0, description="Seed for drawing range-valued parameters per output.")

    @model_validator(mode="after")
    def _ranges(self) -> Sampling:
        for name, lo, hi in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
            spec = getattr(self, name)
            values = [spec.value] if isinstance(spec, FixedValue) else [spec.low, spec.high]
            for v in values:
                if not lo <= v <= hi:
                    raise ValueError(f"{name} {v} is outside [{lo}, {hi}]")
        top_p = self.top_p
        if (isinstance(top_p, FixedValue) and top_p.value == 0) or (isinstance(top_p, RangeValue) and top_p.low == 0):
            raise ValueError("top_p must be greater than 0")
        return self


# --- prompt, generation, backend defaults ---------------------------------------------------


class Prompt(RecipeModel):
    system: str | None = Field(default=None, description="Optional system message (a Jinja2 template too).")
    template: str = Field(min_length=1, description="Jinja2 template of the user message over `seed`, `persona` and `recipe`.")
    output_format: Literal["append", "none"] = Field(
        default="append",
        description="'append' adds a plain-language list of the output fields (name, type, limits, "
        "description) to the user message: grammar-constrained decoding fixes the JSON shape, but "
        "only the prompt tells the model what each field should hold. 'none' when the template says it.",
    )


class Generation(RecipeModel):
    outputs_per_seed: int = Field(default=1, ge=1, le=100_000, description="How many outputs to generate from each seed.")
    max_retries: int = Field(default=2, ge=0, le=20, description="Retries of an output that fails validation before it is dropped.")
    overgenerate: float = Field(
        default=1.0,
        ge=1.0,
        le=5.0,
        description="Generate this many times the target count (e.g. 1.5) so that the run still "
        "reaches its target after the gates drop records; the surplus beyond the target is dropped.",
    )


class BackendDefaults(RecipeModel):
    name: Literal["transformers", "openai", "vllm"] = Field(default="transformers", description="Default backend; --backend overrides.")
    model: str | None = Field(default=None, description="Default model id or path; --model overrides. None = the embedded model.")


class Recipe(RecipeModel):
    """A generation recipe: task metadata, seed and output fields, prompt, sampling and persona assignment."""

    version: Literal[1] = Field(default=1, description="Recipe format version.")
    task: str = Field(pattern=r"^[a-z][a-z0-9_\-]{0,63}$", description="Task name, e.g. ja_legal_qa; becomes the catalog task.")
    description: str = Field(default="", max_length=5000, description="What the generated data is for.")
    license: str = Field(default="CC-BY-4.0", min_length=1, description="SPDX license id of the generated data.")
    locale: str | None = Field(default=None, pattern=r"^[a-z]{2,3}_[A-Z]{2}$", description="Locale of the content, e.g. ja_JP.")
    tags: list[str] = Field(default_factory=list, description="Free tags for catalog search.")
    seed_fields: list[SeedField] = Field(min_length=1, description="Fields every seed record carries.")
    output_fields: list[OutputField] = Field(min_length=1, description="Fields of each generated record; they define the output JSON schema.")
    prompt: Prompt = Field(description="The prompt templates.")
    generation: Generation = Field(default_factory=Generation, description="How many outputs and how many retries.")
    persona_assignment: PersonaAssignment = Field(
        default_factory=lambda: RandomAssignment(strategy="random"),
        description="How personas are assigned to outputs.",
    )
    sampling: Sampling = Field(default_factory=Sampling, description="Sampling parameters.")
    backend: BackendDefaults = Field(default_factory=BackendDefaults, description="Default backend and model.")
    gates: GatesConfig | None = Field(
        default=None,
        description="Privacy, quality and usefulness gate thresholds for runs of this recipe "
        "(docs/gates.md); carried into the run manifest, so the gates never re-read this file.",
    )

    @model_validator(mode="after")
    def _names(self) -> Recipe:
        for group in ("seed_fields", "output_fields"):
            names = [f.name for f in getattr(self, group)]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{group} has duplicate names: {', '.join(dup)}")
        reserved = {"record_id", "persona_id"}
        for f in self.output_fields:
            if f.name in reserved:
                raise ValueError(f"output field name {f.name!r} is reserved")
        if self.gates is not None:
            self._rule_fields()
        return self

    def _rule_fields(self) -> None:
        """Answer-grounding and role rules name fields this recipe has."""
        u = self.gates.usefulness if self.gates is not None else None
        if u is None:
            return
        outputs = set(self.output_field_names)
        seeds = {f.name for f in self.seed_fields}
        for g in u.answer_grounding:
            for name in [g.field, *g.context_fields]:
                if name not in outputs:
                    raise ValueError(f"gates.usefulness.answer_grounding: no output field {name!r}")
            for name in g.source_fields:
                if name not in seeds:
                    raise ValueError(f"gates.usefulness.answer_grounding: no seed field {name!r}")
        for r in u.roles:
            if r.field not in outputs:
                raise ValueError(f"gates.usefulness.roles: no output field {r.field!r}")

    @property
    def output_field_names(self) -> list[str]:
        return [f.name for f in self.output_fields]

    def output_json_schema(self) -> dict[str, Any]:
        """JSON schema of one output record: every field required, no other keys."""
        return {
            "type": "object",
            "title": self.task,
            "properties": {f.name: f.json_schema() for f in self.output_fields},
            "required": self.output_field_names,
            "additionalProperties": False,
        }
