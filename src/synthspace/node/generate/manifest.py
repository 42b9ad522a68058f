"""The run manifest: `RUN_DIR/manifest.json`, read by the gates and by publishing.

It holds what lineage needs (recipe digest, generator, persona source, seed commitment, counts,
times) and node-local paths (`seeds_path`, `personas_path`) that never leave the node: publishing
copies the lineage fields into the signed Statement, not this file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from synthspace.atomic_files import atomic_write_bytes
from synthspace.config_model import StrictModel
from synthspace.lineage import Generator, PersonaSource, SeedCommitment
from synthspace.node.generate.errors import RunDirError
from synthspace.node.recipes.gates import GatesConfig
from synthspace.node.recipes.models import Prompt, SeedField

MANIFEST_NAME = "manifest.json"


def utcnow() -> datetime:
    return datetime.now(UTC)


class ManifestModel(StrictModel):
    pass


class RecipeSummary(ManifestModel):
    task: str = Field(description="Recipe task name.")
    description: str = Field(default="", description="Recipe description.")
    license: str = Field(description="SPDX license id of the generated data.")
    locale: str | None = Field(default=None, description="Locale of the content.")
    tags: list[str] = Field(default_factory=list, description="Recipe tags.")
    output_fields: list[str] = Field(description="Output column names, in order.")
    output_schema: dict[str, Any] = Field(description="JSON schema of one output record.")
    path: str | None = Field(default=None, description="Local path of the recipe file (node-only).")
    seed_fields: list[SeedField] = Field(
        default_factory=list, description="The recipe's seed fields: how the gates read the seeds."
    )
    prompt: Prompt | None = Field(
        default=None, description="The recipe's prompt: the gates spot its instructions copied back."
    )
    gates: GatesConfig | None = Field(
        default=None, description="The recipe's gate thresholds (None = the defaults)."
    )


class ShardInfo(ManifestModel):
    name: str = Field(description="File name under shards/.")
    rows: int = Field(ge=0, description="Records in the shard.")
    sha256: str = Field(description="Hex sha256 of the shard file.")


class RunManifest(ManifestModel):
    format_version: Literal[1] = Field(default=1, description="Manifest format version.")
    status: Literal["running", "complete", "failed"] = Field(description="State of the run.")
    recipe: RecipeSummary = Field(description="What the recipe asked for.")
    recipe_digest: str = Field(description="'sha256:<hex>' of the validated recipe's canonical JSON.")
    generator: Generator = Field(description="Backend, model id, weights digest and run parameters.")
    persona_source: PersonaSource = Field(description="The persona set used (kind 'none' when no personas).")
    personas_path: str | None = Field(default=None, description="Local path of the persona Parquet file (node-only).")
    seed_commitment: SeedCommitment = Field(description="Salted Merkle commitment to the seed records.")
    seeds_path: str = Field(description="Local path of the seed file (node-only; the seeds are never copied here).")
    requested: int = Field(ge=0, description="Records this run was asked for (after --limit).")
    target: int | None = Field(
        default=None,
        ge=0,
        description="Records wanted after gating when the recipe overgenerates (None = requested); "
        "the gates drop kept records beyond it as surplus.",
    )
    completed: int = Field(ge=0, description="Records written to shards.")
    dropped: dict[str, int] = Field(default_factory=dict, description="Records given up after retries, by reason.")
    dropped_record_ids: list[str] = Field(default_factory=list, description="Ids of dropped records (not retried on resume).")
    retries: int = Field(default=0, ge=0, description="Outputs that failed validation and were generated again.")
    prompt_tokens: int = Field(default=0, ge=0, description="Prompt tokens processed (this and earlier attempts).")
    completion_tokens: int = Field(default=0, ge=0, description="Tokens generated (this and earlier attempts).")
    shards: list[ShardInfo] = Field(default_factory=list, description="Shard files in write order.")
    started: datetime = Field(description="When the run first started (UTC).")
    updated: datetime = Field(description="When the manifest was last written (UTC).")
    finished: datetime | None = Field(default=None, description="When the last record was written (UTC).")
    resumes: int = Field(default=0, ge=0, description="How many times the run was restarted after an interruption.")

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


def write_manifest(run_dir: str | Path, manifest: RunManifest) -> None:
    manifest.updated = utcnow()
    atomic_write_bytes(Path(run_dir) / MANIFEST_NAME, manifest.model_dump_json(indent=2).encode())


def load_manifest(run_dir: str | Path) -> RunManifest:
    """The manifest of a run directory; raises RunDirError when absent or unreadable."""
    path = Path(run_dir) / MANIFEST_NAME
    try:
        return RunManifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise RunDirError(f"{run_dir} is not a generation run directory (no {MANIFEST_NAME})") from None
    except ValueError as exc:
        raise RunDirError(f"{path} is not a valid run manifest: {exc}") from None
