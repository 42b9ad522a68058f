"""What the gates read: a generation run directory, or a records file with its recipe.

A run directory is read through the generation module's contract (docs/run-directory.md):
the manifest with `load_manifest` (typed: recipe output schema, seed fields, prompt, gate
thresholds), the complete shards with `shard_paths`, the seeds with `node/seeds.load_seeds`
against the recipe's seed fields, checked against the manifest's seed commitment. Every
problem is one `RunDirError` (the generation module's class).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthspace.errors import SynthspaceError
from synthspace.node.generate.manifest import RunManifest, load_manifest
from synthspace.node.generate.run_dir import RunDirError, shard_paths
from synthspace.node.private_store import PrivateStore
from synthspace.node.recipes.gates import GatesConfig
from synthspace.node.recipes.models import Prompt, Recipe, SeedField
from synthspace.node.seeds import commit_records, load_seeds, salt_key


@dataclass
class RunData:
    """Records to gate and what they are judged against."""

    source: Path  # the run directory, or the records file
    run_dir: Path | None  # None for `gate --records`
    records: pd.DataFrame
    output_fields: list[str]
    schema: dict[str, Any] | None
    locale: str | None
    prompt: Prompt | None
    gates: GatesConfig | None  # the recipe's thresholds (None = defaults)
    seeds: list[dict[str, Any]]
    personas: pd.DataFrame | None
    facts: dict[str, Any] = field(default_factory=dict)  # how the inputs were verified
    target: int | None = None  # records wanted after gating (overgenerating runs)
    task: str = ""  # the recipe's task name (shown to an LLM judge)

    @property
    def text_fields(self) -> list[str]:
        """Free-text output fields (strings without an enum, lists of strings)."""
        props = (self.schema or {}).get("properties", {})
        out = []
        for name in self.output_fields:
            spec = props.get(name, {})
            if spec.get("type") == "string" and "enum" not in spec:
                out.append(name)
            elif spec.get("type") == "array" and spec.get("items", {}).get("type") == "string":
                out.append(name)
        return out

    @property
    def prose_fields(self) -> list[str]:
        """Text fields long enough to hold sentences (max length of 100+ characters)."""
        props = (self.schema or {}).get("properties", {})
        out = []
        for name in self.text_fields:
            spec = props.get(name, {})
            limit = (
                spec.get("items", {}).get("maxLength")
                if spec.get("type") == "array"
                else spec.get("maxLength")
            )
            if limit is None or limit >= 100:
                out.append(name)
        return out

    @property
    def list_fields(self) -> list[str]:
        props = (self.schema or {}).get("properties", {})
        return [n for n in self.output_fields if props.get(n, {}).get("type") == "array"]

    @property
    def enum_fields(self) -> dict[str, list[str]]:
        props = (self.schema or {}).get("properties", {})
        return {
            n: list(props[n]["enum"])
            for n in self.output_fields
            if isinstance(props.get(n), dict) and isinstance(props[n].get("enum"), list)
        }

    @property
    def seed_index(self) -> list[int | None]:
        """Per record, the index of the seed it was generated from (node-private column)."""
        if "_seed_index" not in self.records.columns:
            return [None] * len(self.records)
        return [
            None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
            for v in self.records["_seed_index"].tolist()
        ]

    def prompt_texts(self) -> list[str]:
        """The recipe's instructions: system message, template, and the output fields'
        descriptions (the model reads them in the structured-output schema, and copies them
        back: "A new question a resident asks about the article")."""
        if self.prompt is None:
            return []
        props = (self.schema or {}).get("properties", {})
        described = [
            str(spec["description"])
            for spec in props.values()
            if isinstance(spec, dict) and spec.get("description")
        ]
        return [t for t in (self.prompt.system, self.prompt.template, *described) if t]


def read_shards(run_dir: Path) -> pd.DataFrame:
    """All records of the run, complete shards in write order."""
    files = shard_paths(run_dir)
    if not files:
        raise RunDirError(f"{run_dir / 'shards'} holds no part-*.parquet shard: nothing to gate")
    try:
        frames = [pd.read_parquet(f) for f in files]
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        raise RunDirError(f"cannot read a shard of {run_dir}: {exc}") from exc
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def read_seeds(path: Path, fields: list[SeedField]) -> list[dict[str, Any]]:
    try:
        return load_seeds(path, fields).records
    except SynthspaceError as exc:
        raise RunDirError(
            f"{exc} (the gates compare outputs with the seeds, which must stay readable on this node)"
        ) from None


def _verify_seeds(
    manifest: RunManifest, seeds: list[dict[str, Any]], home: str | Path | None
) -> str:
    """Check the seeds are those the run committed to; returns how far that was verified."""
    commitment = manifest.seed_commitment
    if commitment.count != len(seeds):
        raise RunDirError(
            f"the seed file {manifest.seeds_path} holds {len(seeds)} records, the run committed to "
            f"{commitment.count}: the seeds changed since generation"
        )
    if home is None:
        # Only the home that generated the run holds its salt; another home (the default one)
        # may hold a different salt for the same seeds, which would prove nothing.
        return "count"
    store = PrivateStore.for_home(home)
    salt_file = store.directory / "salts" / salt_key(seeds)
    if not salt_file.is_file():
        # The salt is keyed by the seeds' content: no salt means other seeds, or another home.
        return "count"
    root = commit_records(seeds, store.seed_salt(salt_key(seeds))).root
    if root != commitment.root:
        raise RunDirError(
            f"the seeds in {manifest.seeds_path} do not match the run's seed commitment: "
            "they changed since generation"
        )
    return "root"


def _path(run_dir: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else run_dir / p


def load_run(run_dir: str | Path, home: str | Path | None = None) -> RunData:
    """Everything the gates read from a run directory; RunDirError with an actionable message."""
    rd = Path(run_dir)
    if not rd.is_dir():
        raise RunDirError(f"run directory {rd} does not exist")
    manifest = load_manifest(rd)
    if manifest.status == "running":
        raise RunDirError(
            f"run {rd} is still running (manifest status 'running'): gate it once generation has "
            "completed, or resume it with `synthspace generate` if it was interrupted"
        )
    recipe = manifest.recipe
    if not recipe.seed_fields:
        raise RunDirError(
            f"the manifest of {rd} records no seed fields (written by an older synthspace): "
            "generate the run again"
        )
    records = read_shards(rd)
    seeds = read_seeds(_path(rd, manifest.seeds_path), recipe.seed_fields)
    verified = _verify_seeds(manifest, seeds, home)
    personas = None
    if manifest.personas_path:
        ppath = _path(rd, manifest.personas_path)
        if ppath.is_file():
            try:
                personas = pd.read_parquet(ppath)
            except Exception as exc:
                raise RunDirError(f"cannot read persona file {ppath}: {exc}") from exc
    gates = recipe.gates
    if gates is not None and recipe.path:
        gates = gates.resolve_paths(Path(recipe.path).parent)
    return RunData(
        source=rd,
        run_dir=rd,
        records=records,
        output_fields=list(recipe.output_fields),
        schema=recipe.output_schema,
        locale=recipe.locale,
        prompt=recipe.prompt,
        gates=gates,
        seeds=seeds,
        personas=personas,
        facts={"seed_commitment": verified},
        target=manifest.target,
        task=recipe.task,
    )


def read_records_file(path: Path) -> pd.DataFrame:
    """Records from JSONL (one object per line) or Parquet; RunDirError when malformed."""
    if not path.is_file():
        raise RunDirError(f"records file {path} not found")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except Exception as exc:
            raise RunDirError(f"{path}: not a readable Parquet file: {exc}") from None
    if suffix not in (".jsonl", ".ndjson"):
        raise RunDirError(f"{path}: unsupported records file {suffix!r} (use .jsonl or .parquet)")
    rows: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    raise RunDirError(f"{path}:{lineno}: empty line (one JSON object per line)")
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RunDirError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from None
                if not isinstance(obj, dict):
                    raise RunDirError(f"{path}:{lineno}: expected a JSON object")
                rows.append(obj)
    except UnicodeDecodeError as exc:
        raise RunDirError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not rows:
        raise RunDirError(f"{path}: holds no records")
    return pd.DataFrame(rows)


def records_data(records_path: Path, recipe: Recipe, seeds_path: Path | None = None) -> RunData:
    """RunData for `gate --records`: a records file judged by a recipe (and its seeds)."""
    records = read_records_file(records_path)
    missing = [f for f in recipe.output_field_names if f not in records.columns]
    if missing:
        raise RunDirError(
            f"{records_path}: records lack the recipe's output field(s) {', '.join(missing)}"
        )
    seeds = read_seeds(seeds_path, list(recipe.seed_fields)) if seeds_path is not None else []
    return RunData(
        source=records_path,
        run_dir=None,
        records=records.drop(columns=[c for c in records.columns if str(c).startswith("_")]),
        output_fields=recipe.output_field_names,
        schema=recipe.output_json_schema(),
        locale=recipe.locale,
        prompt=recipe.prompt,
        gates=recipe.gates,
        seeds=seeds,
        personas=None,
        facts={"seed_commitment": "not applicable"},
        task=recipe.task,
    )


def value_texts(value: Any) -> list[str]:
    """The text pieces of one field value (lists flattened, missing values dropped)."""
    if value is None:
        return []
    if isinstance(value, float) and math.isnan(value):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [s for v in value for s in value_texts(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in value_texts(v)]
    if isinstance(value, bytes):
        return []
    return [str(value)]


def record_texts(df: pd.DataFrame, fields: list[str]) -> list[list[str]]:
    """Per record, the text of its output fields."""
    cols = [f for f in fields if f in df.columns]
    if not cols:
        return [[] for _ in range(len(df))]
    columns = [df[c].tolist() for c in cols]
    if all(all(isinstance(v, str) for v in col) for col in columns):
        return [list(t) for t in zip(*columns, strict=True)]
    return [[s for v in row for s in value_texts(v)] for row in zip(*columns, strict=True)]


def seed_texts(seeds: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [s for k, v in rec.items() if not str(k).startswith("_") for s in value_texts(v)]
        for rec in seeds
    ]
