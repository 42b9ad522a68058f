"""Recipe-declared gate rules: grounding validators and the LLM judge's rubric (the models;
`node/quality/grounding.py` and `node/quality/judge.py` apply them). Part of `GatesConfig`."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from synthspace.config_model import StrictModel


class GateModel(StrictModel):
    """Base of every gate configuration model: unknown keys are rejected."""


class _FieldValidator(GateModel):
    """A validator of one output field; its failures are reported as `grounding:<name>`."""

    field: str = Field(min_length=1, description="Output field checked.")
    name: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,40}$",
        description="Reason name, reported as grounding:<name> (default: the field's name); "
        "names what the rule checks when a field has several rules, e.g. meta_text.",
    )


class SeedMatchValidator(_FieldValidator):
    kind: Literal["seed_equals", "seed_contains"] = Field(
        description="seed_equals: the field equals the seed field's value; seed_contains: the "
        "field contains it (compared NFKC, case-folded, without spaces)."
    )
    seed_field: str = Field(min_length=1, description="Seed field whose value must appear.")
    scope: Literal["own", "any"] = Field(
        default="own",
        description="own: the record's own seed (falls back to any seed when the record carries "
        "no seed index, e.g. `gate --records`); any: some seed.",
    )


class RegexValidator(_FieldValidator):
    kind: Literal["regex"] = Field(description="The field must match a regular expression.")
    pattern: str = Field(min_length=1, description="Python regular expression (re.search).")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from exc
        return v


class EnumValidator(_FieldValidator):
    kind: Literal["enum"] = Field(description="The field must be one of the listed values.")
    values: list[str] = Field(min_length=1, description="Allowed values.")


class RangeValidator(_FieldValidator):
    kind: Literal["range"] = Field(description="The field must be a number within bounds.")
    minimum: float | None = Field(default=None, description="Smallest allowed value (inclusive).")
    maximum: float | None = Field(default=None, description="Largest allowed value (inclusive).")


class CallableValidator(GateModel):
    kind: Literal["callable"] = Field(
        description="A Python function `f(record: dict, seed: dict | None) -> bool | str | None`; "
        "False or a string (the reason) fails the record."
    )
    target: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="Import path 'package.module:function' (node-local code the operator trusts).",
    )
    name: str = Field(
        default="custom", pattern=r"^[a-z][a-z0-9_]{0,40}$", description="Reason name."
    )


Validator = Annotated[
    SeedMatchValidator | RegexValidator | EnumValidator | RangeValidator | CallableValidator,
    Field(discriminator="kind"),
]


class JudgeCriterion(GateModel):
    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,40}$", description="Criterion name, e.g. faithfulness."
    )
    description: str = Field(min_length=1, description="What a 5 and a 1 mean, shown to the judge.")
    min_score: int = Field(
        default=3,
        ge=1,
        le=5,
        description="A record scoring below this on the criterion is dropped.",
    )


class JudgeConfig(GateModel):
    enabled: bool = Field(default=False, description="Score each record with an LLM judge.")
    blocking: bool = Field(
        default=True, description="A failure (kept share below min_kept) blocks publishing."
    )
    backend: Literal["openai", "vllm", "transformers"] = Field(
        default="openai", description="Judge backend (node/generate/backends)."
    )
    model: str | None = Field(
        default=None, description="Judge model id (openai/vllm) or local folder (transformers)."
    )
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL (openai backend)."
    )
    criteria: list[JudgeCriterion] = Field(
        default_factory=list, description="The rubric: named criteria scored 1-5."
    )
    max_tokens: int = Field(default=128, ge=16, le=4096, description="Tokens per verdict.")

    @model_validator(mode="after")
    def _rubric(self) -> JudgeConfig:
        if self.enabled and not self.criteria:
            raise ValueError("an enabled judge needs at least one criterion")
        names = [c.name for c in self.criteria]
        if len(set(names)) != len(names):
            raise ValueError("judge criteria must have distinct names")
        return self


class AnswerGroundingRule(GateModel):
    """An output field that must say only what its seed source says (node/quality/answer_grounding.py)."""

    field: str = Field(min_length=1, description="Output field checked, e.g. answer.")
    source_fields: list[str] = Field(
        min_length=1,
        description="Seed fields the field must be faithful to (the text the prompt showed, e.g. "
        "statute and article_text).",
    )
    context_fields: list[str] = Field(
        default_factory=list,
        description="Output fields of the same record whose words count as given too (e.g. the "
        "question the answer replies to).",
    )
    numbers: bool = Field(
        default=True,
        description="Every number or duration in the field (digits or number words: 30, thirty, "
        "forty five) must appear in the source or context.",
    )
    names: bool = Field(
        default=True,
        description="English: capitalised names inside a sentence (California, Supreme Court) and "
        "jurisdiction words (federal, state law, constitution) must appear in the source, the "
        "context or the prompt.",
    )
    polarity: bool = Field(
        default=True,
        description="English: a sentence must keep the negation of the source sentence it overlaps "
        "most (must / must not, may / may not, can / cannot).",
    )
    max_novel_share: float | None = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="English: largest share of content words (stemmed; stop words and numbers "
        "aside) found in neither the source nor the context, over the field and over each of "
        "its sentences (null = off). The prompt's words do not count as grounded.",
    )
    min_content_words: int = Field(
        default=4,
        ge=1,
        description="The novel-share test judges the field and each of its sentences holding at "
        "least this many content words.",
    )
    min_source_words: int | None = Field(
        default=None,
        ge=1,
        description="English: fewest distinct content words (stemmed; allowed words aside) the "
        "field must take from the source that its context does not already hold: a reply that "
        "brings nothing of the help text it was given does not pass it on (null = off).",
    )
    min_source_words_per_sentence: int | None = Field(
        default=None,
        ge=1,
        description="English: fewest content words of the source (stemmed; allowed words aside) "
        "each sentence of two or more content words must hold: a sentence that only pads the "
        "answer (\"This law is the law of the land.\") says nothing of the source (null = off).",
    )
    max_foreign_words: int | None = Field(
        default=None,
        ge=0,
        description="English: most content words (repeats counted) the field may take from other "
        "seeds' sources while its own source and context lack them: a sign it mixed up "
        "articles (\"landlord\" in an answer about the tenant's article) (null = off).",
    )
    allow: list[str] = Field(
        default_factory=list,
        description="Words, names or numbers always counted as grounded (case-insensitive).",
    )
    scope: Literal["own", "best"] = Field(
        default="own",
        description="own: the record's own seed (the best-matching seed when the record carries "
        "no seed index, e.g. `gate --records`); best: always the seed whose source overlaps the "
        "field most.",
    )


Role = Literal["customer", "agent"]


class RoleRule(GateModel):
    """A dialogue field that must read as its speaker (node/quality/roles.py)."""

    field: str = Field(min_length=1, description="Output field checked (a text or a list of turns).")
    roles: list[Role] = Field(
        min_length=1,
        description="The speaker of the field; for a list field the speakers of its items in turn, "
        "repeating (e.g. [customer, agent]).",
    )
    margin: int = Field(
        default=0,
        ge=0,
        description="A turn holding a cue of the other role fails when it holds at least this "
        "many more of them than of its own (0: a tie fails too).",
    )
    extra_customer_cues: list[str] = Field(
        default_factory=list,
        description="More phrases (lower case, matched on word boundaries) only a customer says.",
    )
    extra_agent_cues: list[str] = Field(
        default_factory=list,
        description="More phrases (lower case, matched on word boundaries) only an agent says.",
    )
