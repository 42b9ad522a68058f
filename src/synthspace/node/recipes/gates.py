"""Gate thresholds: one pydantic model per gate, safe defaults, loadable from YAML.

A node keeps them in a `gates.yaml`; a recipe carries the same model under its `gates:` key
(`Recipe.gates`), which generation copies into the run manifest, so the gates of a run read
the thresholds it was generated with. Unknown keys are errors, so a typo in a threshold never
silently falls back to a default. Lives beside the recipe models (which embed it) and not in
the gates package, so loading a recipe does not load the gate runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from synthspace.errors import ConfigError
from synthspace.node.privacy.canaries import DEFAULT_CANARY_PATTERN
from synthspace.node.privacy.pii import PII_TYPES, PiiType
from synthspace.node.recipes.gate_rules import (
    AnswerGroundingRule,
    GateModel,
    JudgeConfig,
    RoleRule,
    Validator,
)


class LeakageConfig(GateModel):
    enabled: bool = Field(default=True, description="Run the seed-leakage gate.")
    blocking: bool = Field(default=True, description="A failure blocks publishing.")
    ngram_n: int = Field(
        default=13, ge=4, le=200, description="Character n-gram length for containment."
    )
    containment_fail: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="A record fails when at least this share of its n-grams occurs in the seeds.",
    )
    containment_review: float = Field(
        default=0.2,
        gt=0.0,
        le=1.0,
        description="Records at or above this share are counted for review.",
    )
    lcs_review_chars: int = Field(
        default=20,
        ge=1,
        description="A common substring with a seed longer than this is counted for review.",
    )
    lcs_fail_chars: int = Field(
        default=50,
        ge=2,
        description="A common substring with a seed at least this long fails the record.",
    )
    exact_min_chars: int = Field(
        default=10,
        ge=1,
        description="An output field equal to a seed field fails if it has at least this many characters.",
    )
    max_failing_records: int = Field(
        default=0, ge=0, description="How many failing records the gate tolerates (0 = none)."
    )
    allowlist: list[str] = Field(
        default_factory=list,
        description="Phrases that may legitimately repeat (statute quotations, boilerplate); never matched.",
    )
    allowlist_file: Path | None = Field(
        default=None,
        description="File with one allow-listed phrase per line (relative to the config file).",
    )

    @model_validator(mode="after")
    def _order(self) -> LeakageConfig:
        if self.lcs_fail_chars <= self.lcs_review_chars:
            raise ValueError("lcs_fail_chars must be greater than lcs_review_chars")
        if self.containment_fail < self.containment_review:
            raise ValueError("containment_fail must be at least containment_review")
        return self


class PiiConfig(GateModel):
    enabled: bool = Field(default=True, description="Run PII detection.")
    blocking: bool = Field(default=True, description="A failure blocks publishing.")
    types: list[PiiType] = Field(
        default_factory=lambda: list(PII_TYPES), description="PII types detected."
    )
    blocking_types: list[PiiType] = Field(
        default_factory=lambda: list(PII_TYPES),
        description="Types whose findings count against the gate; the others are only reported.",
    )
    max_record_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Largest tolerated share of records holding a blocking-type finding (0 = none).",
    )
    ignore_reserved: bool = Field(
        default=True,
        description="Ignore documentation values that cannot be personal (example.com, 192.0.2.0/24, loopback).",
    )
    action: Literal["drop", "redact"] = Field(
        default="drop",
        description="What happens to a record holding blocking PII: drop it, or redact: replace "
        "each PII span and keep the record (dropped after all when PII is still found).",
    )
    redaction: Literal["placeholder", "synthetic"] = Field(
        default="placeholder",
        description="With action redact: a typed placeholder ([PHONE], [EMAIL], [PERSON]...), or "
        "a fictional value of the same type (555-01xx phones, example.com mail).",
    )


class ReplayConfig(GateModel):
    enabled: bool = Field(
        default=True, description="Fail when a PII value found in the seeds appears in an output."
    )
    blocking: bool = Field(default=True, description="A failure blocks publishing.")


class CanaryConfig(GateModel):
    enabled: bool = Field(default=True, description="Run the canary gate.")
    blocking: bool = Field(default=True, description="A failure blocks publishing.")
    canaries: list[str] = Field(
        default_factory=list, description="Canary strings that must never appear."
    )
    canaries_file: Path | None = Field(
        default=None, description="File with one canary per line (relative to the config file)."
    )
    seed_pattern: str | None = Field(
        default=DEFAULT_CANARY_PATTERN,
        description="Regular expression; every match inside the seeds is a canary too (null = off).",
    )


class NearDuplicateConfig(GateModel):
    enabled: bool = Field(default=True, description="Run exact- and near-duplicate detection.")
    blocking: bool = Field(default=True, description="A failure blocks publishing.")
    jaccard_threshold: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="Estimated Jaccard similarity at which two records are near duplicates.",
    )
    max_rate: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Largest tolerated share of redundant near-duplicate records (after exact-duplicate removal).",
    )
    num_perm: int = Field(default=64, ge=8, le=512, description="MinHash functions per record.")
    shingle_chars: int = Field(default=5, ge=2, le=50, description="Character shingle length.")
    shingle_sample: Literal[1, 2, 4, 8] = Field(
        default=4,
        description="Keep 1 in this many shingles (hash-chosen, identical across records) to bound work.",
    )


class SchemaConfig(GateModel):
    enabled: bool = Field(
        default=True, description="Re-validate records against the output schema."
    )
    blocking: bool = Field(default=True, description="A failure blocks publishing.")
    min_valid_rate: float = Field(
        default=0.99, ge=0.0, le=1.0, description="Smallest acceptable share of valid records."
    )


class QualityConfig(GateModel):
    enabled: bool = Field(default=True, description="Compute diversity and length statistics.")
    blocking: bool = Field(default=False, description="A failure blocks publishing.")
    sample_size: int = Field(
        default=10_000,
        ge=100,
        description="Records sampled (seeded) for distinct-n and compression.",
    )
    min_distinct_2: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Fail below this distinct-2 (null = report only)."
    )
    max_compression_ratio: float | None = Field(
        default=None, gt=0.0, description="Fail above this compression ratio (null = report only)."
    )
    min_records: int = Field(default=1, ge=0, description="Fail when the run holds fewer records.")


class CoverageConfig(GateModel):
    enabled: bool = Field(
        default=True,
        description="Compare record shares per persona attribute value with the persona set.",
    )
    blocking: bool = Field(default=False, description="A failure blocks publishing.")
    min_value_coverage: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Fail when an attribute has a smaller share of its values covered.",
    )
    max_total_variation: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Fail when an attribute's record distribution is this far off (null = report only).",
    )
    max_values: int = Field(
        default=60, ge=2, description="Attributes with more distinct values are skipped."
    )


class MembershipConfig(GateModel):
    enabled: Literal["auto", "on", "off"] = Field(
        default="auto", description="auto: run when seeds unused by generation (a holdout) exist."
    )
    blocking: bool = Field(default=True, description="A failure blocks publishing.")
    max_auc: float = Field(
        default=0.7, ge=0.5, le=1.0, description="Fail when the used-vs-held-out AUC reaches this."
    )
    min_group: int = Field(
        default=5, ge=1, description="Run only with at least this many used and held-out seeds."
    )


class UsefulnessConfig(GateModel):
    enabled: bool = Field(default=True, description="Run the per-record usefulness checks.")
    blocking: bool = Field(
        default=True, description="A failure (kept share below min_kept) blocks publishing."
    )
    language: bool = Field(
        default=True, description="Check each text field is in the recipe locale's language."
    )
    min_target_share: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Smallest share of a field's letters written in the locale's scripts.",
    )
    max_unknown_share: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Largest share of a record's locale letters inside unknown (non-dictionary) words.",
    )
    min_unknown_words: int | None = Field(
        default=None,
        ge=1,
        description="...and only when it holds at least this many unknown words, so one rare "
        "domain term never sinks a record (null = the language's default: 2 Japanese tokens, "
        "3 English words).",
    )
    max_digit_run: int = Field(
        default=13, ge=4, description="Longest tolerated run of consecutive digits."
    )
    max_numeric_share: float = Field(
        default=0.7,
        ge=0.0,
        le=1.0,
        description="Largest share of digits and number punctuation in a field of 8+ characters.",
    )
    min_hex_run: int = Field(default=12, ge=6, description="Hex runs this long are noise.")
    min_base64_run: int = Field(default=24, ge=8, description="Base64 runs this long are noise.")
    instruction_min_chars: int = Field(
        default=12,
        ge=4,
        description="Prompt instruction phrases at least this long (squashed) count when copied back.",
    )
    repeat_min_chars: int = Field(
        default=12,
        ge=2,
        description="A sentence at least this long (squashed) may not occur twice in a record.",
    )
    repeat_clause_min_chars: int = Field(
        default=20,
        ge=2,
        description="A clause (between commas, semicolons or sentence ends) at least this long "
        "(squashed) may not occur twice in one text field.",
    )
    max_uppercase_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Largest share of capitals among a prose field's Latin letters (1 = off).",
    )
    uppercase_min_letters: int = Field(
        default=24,
        ge=1,
        description="The capitals check judges only prose fields with at least this many Latin letters.",
    )
    repetition_ngram: int = Field(
        default=6, ge=3, le=50, description="Character n-gram length of the self-repetition check."
    )
    max_repetition: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Largest share of a record's character n-grams that repeat earlier ones.",
    )
    min_meaningful_chars: int = Field(
        default=2, ge=0, description="A text field needs at least this many letters."
    )
    min_words: int = Field(
        default=1,
        ge=0,
        description="A text field needs this many words (English) or Japanese characters (Japanese).",
    )
    min_function_words: int = Field(
        default=0,
        ge=0,
        description="English prose fields need this many function words (the, you, can, ...): "
        "a name or a label where a sentence belongs has none (0 = off).",
    )
    require_sentence_end: bool = Field(
        default=True,
        description="A prose field (max length 100+ characters; truncation_min_words+ words) must "
        "end like a sentence, not mid-word.",
    )
    truncation_min_words: int = Field(
        default=1,
        ge=1,
        description="Fields with at least this many words (x4 Japanese characters) count as prose.",
    )
    validators: list[Validator] = Field(
        default_factory=list, description="Grounding validators over output fields."
    )
    answer_grounding: list[AnswerGroundingRule] = Field(
        default_factory=list,
        description="Output fields that must be faithful to their seed source (numbers, names, "
        "negation, novel words); a failing record is dropped as usefulness:ungrounded or "
        "usefulness:contradiction.",
    )
    roles: list[RoleRule] = Field(
        default_factory=list,
        description="Dialogue fields that must read as their speaker (customer or agent); a "
        "failing record is dropped as usefulness:role_swap.",
    )


class DiversityConfig(GateModel):
    enabled: bool = Field(default=True, description="Run the run-level diversity checks.")
    blocking: bool = Field(default=True, description="A failure blocks publishing.")
    min_records: int = Field(
        default=20,
        ge=2,
        description="Enum collapse is judged only over at least this many kept records.",
    )
    min_distinct_2: float | None = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Fail when the kept records' distinct-2 is lower (null = off).",
    )


class FilteringConfig(GateModel):
    min_kept: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Refuse the run when fewer than this share of its records are kept.",
    )
    drop_records: bool = Field(
        default=True,
        description="Drop records that a gate blames and keep the rest; false = any blamed "
        "record fails its gate (all-or-nothing).",
    )


class GatesConfig(GateModel):
    """Every gate's thresholds. The defaults are the safe ones: any leak, PII or canary fails."""

    leakage: LeakageConfig = Field(default_factory=LeakageConfig, description="Seed leakage.")
    pii: PiiConfig = Field(default_factory=PiiConfig, description="PII detection.")
    pii_replay: ReplayConfig = Field(
        default_factory=ReplayConfig, description="PII replay from seeds."
    )
    canaries: CanaryConfig = Field(default_factory=CanaryConfig, description="Canary strings.")
    near_duplicates: NearDuplicateConfig = Field(
        default_factory=NearDuplicateConfig, description="Duplicates."
    )
    schema_validity: SchemaConfig = Field(
        default_factory=SchemaConfig, description="Schema validity."
    )
    quality: QualityConfig = Field(
        default_factory=QualityConfig, description="Diversity statistics."
    )
    persona_coverage: CoverageConfig = Field(
        default_factory=CoverageConfig, description="Persona coverage."
    )
    membership: MembershipConfig = Field(
        default_factory=MembershipConfig, description="Membership AUC."
    )
    usefulness: UsefulnessConfig = Field(
        default_factory=UsefulnessConfig, description="Per-record usefulness."
    )
    diversity: DiversityConfig = Field(
        default_factory=DiversityConfig, description="Run-level diversity."
    )
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="LLM-as-judge rubric.")
    filtering: FilteringConfig = Field(
        default_factory=FilteringConfig, description="Record-level filtering."
    )

    def resolve_paths(self, base: Path) -> GatesConfig:
        """Make relative file paths relative to `base` (the config file's folder)."""
        c = self.model_copy(deep=True)
        if c.leakage.allowlist_file and not c.leakage.allowlist_file.is_absolute():
            c.leakage.allowlist_file = base / c.leakage.allowlist_file
        if c.canaries.canaries_file and not c.canaries.canaries_file.is_absolute():
            c.canaries.canaries_file = base / c.canaries.canaries_file
        return c

    def allowlist(self) -> list[str]:
        return self.leakage.allowlist + _lines(self.leakage.allowlist_file)

    def canary_list(self) -> list[str]:
        return self.canaries.canaries + _lines(self.canaries.canaries_file)


def _lines(path: Path | None) -> list[str]:
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]


def gates_config_from_mapping(data: Any, source: str = "gates config") -> GatesConfig:
    """Validate a mapping (a gates.yaml, or a recipe's `gates:` value)."""
    if data is None:
        return GatesConfig()
    if isinstance(data, GatesConfig):
        return data
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping of gate settings, got {type(data).__name__}"
        )
    try:
        return GatesConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{source}: {loc}: {first['msg']} ({exc.error_count()} error(s))"
        ) from None


def load_gates_config(path: str | Path) -> GatesConfig:
    """Load a gates.yaml, or a recipe YAML that carries a `gates:` section."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read gates config {p}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"gates config {p} is not valid YAML: {exc}") from exc
    if (
        isinstance(data, dict)
        and "gates" in data
        and ("output_fields" in data or "task" in data or len(data) == 1)
    ):
        data = data["gates"]
    return gates_config_from_mapping(data, str(p)).resolve_paths(p.parent)
