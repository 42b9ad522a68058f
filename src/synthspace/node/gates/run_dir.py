"""Reading what the gates need from a run directory (format: docs/CONTRACTS, run directory).

The manifest is read as plain JSON so the gates depend only on the documented fields:
`seeds_path`, `personas_path`, `recipe` (output fields and JSON schema). Shards are the
fully written `shards/part-*.parquet` files; temp files under other names are ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthspace.node.gates.errors import RunDirError

_RESERVED_COLUMNS = {"record_id", "persona_id"}


@dataclass
class RunData:
    run_dir: Path
    manifest: dict[str, Any]
    records: pd.DataFrame
    output_fields: list[str]
    schema: dict[str, Any] | None
    seeds: list[dict[str, Any]]
    personas: pd.DataFrame | None


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise RunDirError(f"{run_dir} is not a run directory: manifest.json is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunDirError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise RunDirError(f"{path} must hold a JSON object")
    return data


def read_shards(run_dir: Path) -> pd.DataFrame:
    """All records of the run, shards in name order."""
    files = sorted((run_dir / "shards").glob("part-*.parquet"))
    if not files:
        raise RunDirError(f"{run_dir / 'shards'} holds no part-*.parquet shard: nothing to gate")
    try:
        frames = [pd.read_parquet(f) for f in files]
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        raise RunDirError(f"cannot read a shard of {run_dir}: {exc}") from exc
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _resolve(run_dir: Path, value: Any, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise RunDirError(f"manifest.json of {run_dir} has no {what}")
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = run_dir / p
    return p


def read_seeds(path: Path) -> list[dict[str, Any]]:
    """Seed records from JSONL, JSON (a list), CSV or Parquet."""
    if not path.is_file():
        raise RunDirError(
            f"seed file {path} not found: the gates compare outputs with the seeds, which must "
            "stay readable on this node"
        )
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            rows = [
                json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()
            ]
        elif suffix == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
        elif suffix == ".csv":
            rows = pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")
        elif suffix in (".parquet", ".pq"):
            rows = pd.read_parquet(path).to_dict("records")
        else:
            raise RunDirError(
                f"seed file {path}: unsupported format {suffix!r} (use .jsonl, .json, .csv or .parquet)"
            )
    except RunDirError:
        raise
    except Exception as exc:
        raise RunDirError(f"cannot read seed file {path}: {exc}") from exc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise RunDirError(f"seed file {path} must hold one object per record")
    return rows


def _schema_and_fields(
    manifest: dict[str, Any], df: pd.DataFrame
) -> tuple[list[str], dict[str, Any] | None]:
    recipe = manifest.get("recipe") if isinstance(manifest.get("recipe"), dict) else {}
    assert isinstance(recipe, dict)
    schema: Any = None
    for holder in (recipe, manifest):
        for key in ("output_json_schema", "output_schema", "json_schema", "schema"):
            if isinstance(holder.get(key), dict) and "properties" in holder[key]:
                schema = holder[key]
                break
        if schema is not None:
            break
    fields: list[str] = []
    raw = (
        recipe.get("output_fields")
        or recipe.get("output_field_names")
        or manifest.get("output_fields")
    )
    if isinstance(raw, list):
        for f in raw:
            if isinstance(f, str):
                fields.append(f)
            elif isinstance(f, dict) and isinstance(f.get("name"), str):
                fields.append(f["name"])
    if schema is None and isinstance(raw, list) and raw and all(isinstance(f, dict) for f in raw):
        try:
            from synthspace.node.recipes.models import Recipe

            schema = Recipe.model_validate(recipe).output_json_schema()
        except Exception:
            schema = None
    if not fields and schema is not None:
        fields = list(schema["properties"])
    if not fields:
        fields = [
            c for c in df.columns if c not in _RESERVED_COLUMNS and not str(c).startswith("_")
        ]
    return fields, schema


def load_run(run_dir: str | Path) -> RunData:
    """Everything the gates read, validated; raises RunDirError with an actionable message."""
    rd = Path(run_dir)
    if not rd.is_dir():
        raise RunDirError(f"run directory {rd} does not exist")
    manifest = read_manifest(rd)
    if manifest.get("status") == "running":
        raise RunDirError(
            f"run {rd} is still running (manifest status 'running'): gate it once generation has "
            "completed, or resume it with `synthspace generate` if it was interrupted"
        )
    records = read_shards(rd)
    fields, schema = _schema_and_fields(manifest, records)
    seeds = read_seeds(_resolve(rd, manifest.get("seeds_path"), "seeds_path"))
    personas = None
    if manifest.get("personas_path"):
        ppath = _resolve(rd, manifest["personas_path"], "personas_path")
        if ppath.is_file():
            try:
                personas = pd.read_parquet(ppath)
            except Exception as exc:
                raise RunDirError(f"cannot read persona file {ppath}: {exc}") from exc
    return RunData(rd, manifest, records, fields, schema, seeds, personas)


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
