"""The in-toto Statement v1 and synthspace's lineage predicate.

The Statement's subject is the artifact file's sha256 (the Parquet data, or the adapter's
safetensors file); the predicate records where it came from. Both are pydantic models with
`extra="forbid"` so an unknown field is an error, not silently dropped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from synthspace.canonical_json import canonicalize
from synthspace.config_model import StrictModel
from synthspace.policy import UsagePolicy, enforced_policy

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE: Final = "https://synthspace.dev/lineage/v1"


class DigestSet(StrictModel):
    sha256: str = Field(description="Lowercase hex sha256 of the subject's bytes.", pattern=r"^[0-9a-f]{64}$")


# A subject name becomes a file name on every node that pulls the artifact and text on the web
# catalog: a plain ASCII file name, no path separators, no leading dot, no control characters or
# markup. The one rule: publishing (Statement validation) and pulling (node audit) both use it.
SUBJECT_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$"
MAX_TAGS: Final = 32
MAX_TAG_CHARS: Final = 64
MAX_FACET_CHARS: Final = 200


def check_subject_name(name: str) -> str:
    """`name` if it is a plain file name (SUBJECT_NAME_PATTERN); ValueError naming it otherwise."""
    if not isinstance(name, str) or not re.fullmatch(SUBJECT_NAME_PATTERN, name) or ".." in name:
        raise ValueError(
            f"subject name {name!r} is not a plain file name (letters, digits, '._+-', no path)"
        )
    return name


class Subject(StrictModel):
    name: str = Field(description="File name of the artifact, e.g. data.parquet (SUBJECT_NAME_PATTERN).")
    digest: DigestSet = Field(description="Digests of the file's bytes.")

    @field_validator("name")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        return check_subject_name(value)


class Producer(StrictModel):
    org: str = Field(description="Organisation that produced and signed the artifact.")
    artifact_key_id: str = Field(description="Key id of the org's artifact-signing key.")
    software: str = Field(description="Producing software and version, e.g. 'synthspace 0.1.0'.")


class Generator(StrictModel):
    backend: Literal["transformers", "openai", "vllm"] = Field(description="Generation backend.")
    model_id: str = Field(description="Model identifier as the backend names it.")
    model_digest: str | None = Field(
        default=None, description="sha256 of the model weights file(s) when known ('sha256:<hex>')."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Sampling and run parameters (temperature, top_p, ...)."
    )


class PersonaSource(StrictModel):
    kind: Literal["spec", "nemotron-parquet", "none"] = Field(
        description="Sampled from a locale spec, read from a Nemotron-Personas file, or none."
    )
    locale: str | None = Field(default=None, description="Locale such as ja_JP or en_US.")
    spec_digest: str | None = Field(default=None, description="Digest of the locale spec ('sha256:<hex>').")
    set_digest: str | None = Field(default=None, description="sha256 of the persona Parquet file ('sha256:<hex>').")
    count: int = Field(ge=0, description="Number of personas in the set.")


class SeedCommitment(StrictModel):
    scheme: Literal["sha256-salted-merkle-v1"] = Field(
        default="sha256-salted-merkle-v1", description="Commitment scheme (see docs/protocol.md)."
    )
    root: str = Field(description="Hex Merkle root over salted, NFKC-normalised seed records.")
    count: int = Field(ge=0, description="Number of seed records committed to.")


class GateResult(StrictModel):
    name: str = Field(description="Gate name, e.g. seed_leakage, pii, near_duplicates, quality.")
    blocking: bool = Field(description="Whether a failure of this gate blocks publishing.")
    passed: bool = Field(description="Whether the gate passed.")
    metrics: dict[str, Any] = Field(default_factory=dict, description="Measured values; never seed text.")
    thresholds: dict[str, Any] = Field(default_factory=dict, description="Thresholds the gate applied.")


class Redaction(StrictModel):
    """PII spans replaced in the published records instead of dropping them; counts only."""

    mode: Literal["placeholder", "synthetic"] = Field(
        description="placeholder: typed markers such as [PHONE]; synthetic: fictional values of the same type."
    )
    records: int = Field(ge=1, description="Published records in which PII spans were replaced.")
    spans_by_type: dict[str, int] = Field(description="Replaced spans per PII type, over the published records.")


class Parent(StrictModel):
    artifact_id: str = Field(description="Catalog artifact id of the parent.")
    digest: DigestSet = Field(description="Subject digest of the parent artifact.")
    role: Literal["source", "training-data", "base-model", "evaluated-model"] = Field(
        default="source", description="How the parent was used (evaluated-model: the adapter an evaluation scored)."
    )


class AgreementRef(StrictModel):
    """A logged agreement the artifact relied on (an `agreement` log entry of its producer, or
    of a participant for training data): which parent, which entry, which envelope, what terms.
    The auditor's `parent_agreements` check finds each one in the verified log."""

    artifact_id: str = Field(pattern=r"^[0-9a-f]{64}$", description="The parent agreed to.")
    agreement_id: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="sha256 of the agreement envelope (its id in the API and the log entry)."
    )
    log_index: int = Field(ge=0, description="Index of the `agreement` entry in the transparency log.")
    org: str = Field(description="The org that signed the agreement.")
    action: Literal["use", "train", "evaluate", "derive"] = Field(description="The action agreed to.")
    purpose: str = Field(max_length=100, description="The purpose declared in the agreement.")
    policy_sha256: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="Digest of the parent's policy agreed to.")


class DifferentialPrivacy(StrictModel):
    """Central DP of a federated run: what was clipped and noised, and the (epsilon, delta) spent."""

    mechanism: str = Field(description="How updates were privatised, e.g. server-side fixed clipping + Gaussian noise on the aggregate.")
    unit: str = Field(description="What one neighbouring dataset differs by (the privacy unit).")
    clipping_norm: float = Field(gt=0, description="L2 bound on each org's adapter update per round.")
    noise_multiplier: float = Field(gt=0, description="Gaussian noise stddev divided by the clipping norm's sensitivity.")
    releases: int = Field(ge=0, description="Noised aggregates released (training rounds composed).")
    sampling: str = Field(description="How orgs were sampled per round, and whether amplification was claimed.")
    accountant: str = Field(description="Accountant that composed the rounds, e.g. RDP (dp-accounting).")
    epsilon: float = Field(ge=0, description="Cumulative epsilon at `delta` over all releases.")
    delta: float = Field(gt=0, lt=1, description="Target delta of the reported epsilon.")
    update_norms: dict[str, float] = Field(
        default_factory=dict, description="Largest per-org update L2 norm before and after clipping over the run."
    )


class CanaryExposure(StrictModel):
    """Secret Sharer exposure of canaries one org planted in its training data (Carlini et al. 2019)."""

    canaries: int = Field(ge=1, description="Canaries planted in the org's training data.")
    candidates: int = Field(ge=2, description="Size of the candidate space |R| each canary is ranked in.")
    exposure: list[float] = Field(description="log2|R| - log2(rank) per canary, in bits; 0 = no memorisation.")
    max_exposure: float = Field(description="The largest exposure (log2|R| means the canary ranked first).")


class TrainingPrivacy(StrictModel):
    """What privacy a federated run gave, as measured or accounted by the coordinator."""

    differential_privacy: DifferentialPrivacy | None = Field(default=None, description="DP, when noise was added.")
    secure_aggregation: str | None = Field(default=None, description="Secure aggregation protocol, when used.")
    canary_exposure: dict[str, CanaryExposure] = Field(
        default_factory=dict, description="Per org that opted in, the exposure of its planted canaries."
    )


class Training(StrictModel):
    framework: str = Field(default="flower", description="Federated learning framework.")
    strategy: str = Field(description="Aggregation strategy, e.g. FedAvg.")
    base_model: str = Field(description="Base model identifier.")
    base_model_digest: str | None = Field(default=None, description="sha256 of the base weights.")
    rounds: int = Field(ge=0, description="Federated rounds completed.")
    participants: list[str] = Field(description="Orgs whose nodes contributed updates.")
    training_artifacts: dict[str, list[str]] = Field(
        default_factory=dict, description="Per org, the sha256 digests of the artifacts it trained on."
    )
    metrics: dict[str, Any] = Field(default_factory=dict, description="Final metrics.")
    privacy: TrainingPrivacy | None = Field(default=None, description="DP accounting, secure aggregation, canaries.")


SHA256_REF: Final = r"^sha256:[0-9a-f]{64}$"
ARTIFACT_ID_PATTERN: Final = r"^[0-9a-f]{64}$"


class EvaluatedModel(StrictModel):
    """The base model an evaluation ran, and the adapter (if any) applied to it."""

    model_id: str = Field(min_length=1, max_length=200, description="Base model identifier ('embedded' model id or folder name).")
    model_digest: str | None = Field(default=None, pattern=SHA256_REF, description="sha256 of the base weights ('sha256:<hex>').")
    model_artifact_id: str | None = Field(default=None, pattern=ARTIFACT_ID_PATTERN, description="Catalog id of the base model, when it is a catalog artifact.")
    adapter_digest: str | None = Field(default=None, pattern=SHA256_REF, description="sha256 of adapter.safetensors ('sha256:<hex>').")
    adapter_artifact_id: str | None = Field(default=None, pattern=ARTIFACT_ID_PATTERN, description="Catalog id of the adapter (then also a parent, role evaluated-model).")


class EvaluationMetrics(StrictModel):
    """Accuracy of one model variant on the benchmark, with its 95% Wilson interval."""

    items: int = Field(ge=1, description="Items scored.")
    correct: int = Field(ge=0, description="Items answered correctly.")
    accuracy: float = Field(ge=0, le=1, description="correct / items.")
    ci95: tuple[float, float] = Field(description="95% Wilson score interval of the accuracy [low, high].")


class EvaluationDelta(StrictModel):
    """Paired difference adapter - base over the same items."""

    adapter_minus_base: float = Field(ge=-1, le=1, description="Mean paired difference in accuracy.")
    ci95: tuple[float, float] = Field(description="95% interval of the paired difference [low, high].")


class EvaluationJudge(StrictModel):
    """The LLM judge that scored an evaluation's judged (free-answer) items."""

    backend: Literal["openai", "vllm", "transformers"] = Field(description="Judge backend.")
    model_id: str = Field(min_length=1, max_length=200, description="Judge model id (endpoint model name or folder name).")
    model_digest: str | None = Field(default=None, pattern=SHA256_REF, description="sha256 of the judge weights, when the node can see them (None over an API).")
    rubric_digest: str = Field(pattern=SHA256_REF, description="Digest of the judge's system prompt, task, criteria and default threshold.")
    min_score: int = Field(ge=1, le=5, description="Default score (1-5) at which an answer counts correct; items may declare their own.")
    items: int = Field(ge=1, description="Judged items in the benchmark (per scored model).")


class Evaluation(StrictModel):
    """What an `evaluation` artifact measured; its subject is the per-item results file."""

    benchmark_name: str = Field(min_length=1, max_length=200, description="File name of the benchmark (JSONL).")
    benchmark_digest: str = Field(pattern=SHA256_REF, description="sha256 of the benchmark file ('sha256:<hex>').")
    benchmark_artifact_id: str | None = Field(default=None, pattern=ARTIFACT_ID_PATTERN, description="Catalog id of the benchmark, when it is a catalog artifact.")
    items: int = Field(ge=1, description="Items in the benchmark.")
    model: EvaluatedModel = Field(description="Base model and adapter evaluated.")
    metrics: dict[Literal["base", "adapter"], EvaluationMetrics] = Field(
        min_length=1, description="Per variant (base model alone, base + adapter), accuracy with its interval."
    )
    delta: EvaluationDelta | None = Field(default=None, description="adapter - base, when both were scored.")
    judge: EvaluationJudge | None = Field(default=None, description="The LLM judge of the judged items; None when every item is scored automatically.")
    scoring: str = Field(max_length=500, description="How items were scored (e.g. choice: option log-likelihood; exact: normalised match).")
    command: str = Field(max_length=2000, description="The command line that produced the results.")


class Times(StrictModel):
    started: datetime = Field(description="When the producing run started (UTC).")
    finished: datetime = Field(description="When the producing run finished (UTC).")
    signed: datetime = Field(description="When the statement was signed (UTC).")


class LineagePredicate(StrictModel):
    kind: Literal["dataset", "derived-dataset", "model-adapter", "evaluation"] = Field(description="What the artifact is.")
    title: str = Field(min_length=1, max_length=200, description="Human-readable title.")
    description: str = Field(default="", max_length=5000, description="Longer description.")
    license: str = Field(
        default="CC-BY-4.0", min_length=1, max_length=100, description="SPDX license id of the artifact."
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=MAX_TAG_CHARS)]] = Field(
        default_factory=list, max_length=MAX_TAGS, description="Free tags for search (bounded: catalog facets)."
    )
    task: str | None = Field(default=None, max_length=MAX_FACET_CHARS, description="Recipe task name.")
    locale: str | None = Field(default=None, max_length=35, description="Locale of the content.")
    record_count: int | None = Field(default=None, ge=0, description="Rows in the data file.")
    producer: Producer = Field(description="Who produced and signed it.")
    generator: Generator | None = Field(default=None, description="How records were generated.")
    persona_source: PersonaSource | None = Field(default=None, description="Persona set used.")
    seed_commitment: SeedCommitment | None = Field(default=None, description="Commitment to private seeds.")
    recipe_digest: str | None = Field(default=None, description="Digest of the recipe ('sha256:<hex>').")
    gates: list[GateResult] = Field(default_factory=list, description="Every gate result.")
    redaction: Redaction | None = Field(
        default=None, description="PII redacted in the published records (None: nothing was redacted)."
    )
    parents: list[Parent] = Field(default_factory=list, description="Artifacts this one was built from.")
    training: Training | None = Field(default=None, description="Federated training record, for adapters.")
    times: Times = Field(description="Run and signing times.")
    policy: UsagePolicy | None = Field(
        default=None,
        description="Usage policy (synthspace ODRL 2.2 profile, synthspace.policy); signed with the "
        "lineage so it cannot change after publication. None: the space default "
        "(members may use, train, evaluate; no redistribution).",
    )

    evaluation: Evaluation | None = Field(
        default=None, description="For kind evaluation: benchmark, models, metrics with intervals, command."
    )
    agreements: list[AgreementRef] | None = Field(
        default=None,
        description="The logged agreements the artifact relied on (e.g. a derived set's `derive` agreement "
        "for each other org's parent). None: published before agreements were listed.",
    )

    @model_serializer(mode="wrap")
    def _omit_absent_evaluation(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Added after release 1: absent (not null) when unset, so the statements and the
        # catalog rows of earlier artifacts serialise exactly as they were signed.
        data = handler(self)
        if isinstance(data, dict):
            if self.evaluation is None:
                data.pop("evaluation", None)
            if self.agreements is None:
                data.pop("agreements", None)
        return data

    def effective_policy(self) -> UsagePolicy:
        """The terms that apply: the signed policy, or, when the statement carries none, the
        terms the space applies to unsigned artifacts (one rule: policy.enforced_policy)."""
        return enforced_policy(self.policy)


class Statement(StrictModel):
    type_: Annotated[Literal["https://in-toto.io/Statement/v1"], Field(alias="_type")] = STATEMENT_TYPE
    subject: list[Subject] = Field(min_length=1, description="The artifact files.")
    predicateType: Literal["https://synthspace.dev/lineage/v1"] = PREDICATE_TYPE
    predicate: LineagePredicate = Field(description="The lineage.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json_obj(self) -> dict[str, Any]:
        """The Statement as JSON values (what `to_json_bytes` serialises; the catalog stores it)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)

    def to_json_bytes(self) -> bytes:
        """Canonical JSON (RFC 8785) bytes: what the DSSE payload carries."""
        return canonicalize(self.to_json_obj())

    @classmethod
    def from_json_bytes(cls, data: bytes) -> Statement:
        return cls.model_validate_json(data)

    def failed_blocking_gates(self) -> list[str]:
        return [g.name for g in self.predicate.gates if g.blocking and not g.passed]
