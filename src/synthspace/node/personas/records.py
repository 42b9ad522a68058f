"""Persona records and persona-set Parquet files.

A persona set is one Parquet file: a `persona_id` column, the attribute columns, `narrative`
(and, for sets read from Nemotron-Personas, their persona texts). File-level metadata under
`synthspace.persona_set` records the kind, locale, spec digest, seed and conditions. The
file's own sha256 cannot be inside it; it is returned as `PersonaSource.set_digest` and is
reproducible: no timestamps are written, so the same spec, seed and options give the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from synthspace.atomic_files import atomic_output
from synthspace.config_model import StrictModel
from synthspace.lineage import PersonaSource
from synthspace.node.personas.digests import file_digest
from synthspace.node.personas.errors import PersonaSetError
from synthspace.node.personas.nemotron import read_nemotron_parquet

METADATA_KEY = b"synthspace.persona_set"
SET_FORMAT = "synthspace-persona-set/v1"
# Persona texts of NVIDIA's Nemotron-Personas sets, kept in `Persona.texts`.
NEMOTRON_TEXT_FIELDS = (
    "persona",
    "professional_persona",
    "sports_persona",
    "arts_persona",
    "travel_persona",
    "culinary_persona",
    "cultural_background",
    "skills_and_expertise",
    "skills_and_expertise_list",
    "hobbies_and_interests",
    "hobbies_and_interests_list",
    "career_goals_and_ambitions",
)


class Persona(StrictModel):
    """One synthetic persona: attributes, a short profile narrative, optional persona texts."""

    persona_id: str = Field(min_length=1, description="Stable id of the persona within its set.")
    locale: str | None = Field(default=None, description="Locale such as ja_JP or en_US.")
    name: str | None = Field(default=None, description="Full name as written in the locale.")
    surname: str | None = Field(default=None, description="Family name.")
    given_name: str | None = Field(default=None, description="Given name.")
    sex: str | None = Field(default=None, description="Sex as the source states it.")
    age: int | None = Field(default=None, ge=0, le=130, description="Age in years.")
    age_band: str | None = Field(default=None, description="Age band the age was drawn from.")
    marital_status: str | None = Field(default=None, description="Marital status.")
    education: str | None = Field(default=None, description="Highest education completed or attended.")
    life_stage: str | None = Field(default=None, description="Student, employed, job-seeking, retired or homemaker.")
    occupation: str | None = Field(default=None, description="Detailed occupation (or non-employed status).")
    occupation_group: str | None = Field(default=None, description="Major occupation group.")
    region: str | None = Field(default=None, description="Region of the country.")
    area: str | None = Field(default=None, description="Area within the region (Nemotron sets).")
    prefecture: str | None = Field(default=None, description="Prefecture (ja_JP).")
    state: str | None = Field(default=None, description="State (en_US).")
    city: str | None = Field(default=None, description="City (Nemotron sets).")
    country: str | None = Field(default=None, description="Country.")
    narrative: str = Field(default="", description="Short profile text in the locale's language.")
    texts: dict[str, str] = Field(
        default_factory=dict, description="Further persona texts (e.g. Nemotron's professional_persona)."
    )


PERSONA_COLUMNS = [name for name in Persona.model_fields if name != "texts"]


def write_persona_frame(frame: pd.DataFrame, path: str | Path, metadata: dict[str, Any]) -> str:
    """Write `frame` to `path` atomically with `metadata`; return 'sha256:<hex>' of the file."""
    if "persona_id" not in frame.columns:
        raise PersonaSetError("a persona set needs a persona_id column")
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise PersonaSetError(f"output folder {path.parent} does not exist")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta.pop(b"pandas", None)  # pandas metadata embeds library versions; keep only ours
    meta[METADATA_KEY] = json.dumps(metadata, ensure_ascii=False, sort_keys=True).encode("utf-8")
    table = table.replace_schema_metadata(meta)
    with atomic_output(path) as fh:
        pq.write_table(table, fh, compression="zstd")
    return file_digest(path)


def read_metadata(path: str | Path) -> dict[str, Any] | None:
    """The synthspace metadata of a persona Parquet file, or None for a foreign file."""
    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError) as exc:
        raise PersonaSetError(f"{path} is not a readable Parquet file: {exc}") from None
    raw = (schema.metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else None


def read_persona_frame(path: str | Path, locale: str | None = None) -> tuple[pd.DataFrame, PersonaSource]:
    """A persona set as a DataFrame with its lineage source (synthspace sets or Nemotron-Personas files)."""
    path = Path(path)
    if not path.is_file():
        raise PersonaSetError(f"persona set {path} does not exist")
    meta = read_metadata(path)
    if meta is None:
        return read_nemotron_parquet(path, locale=locale)
    if meta.get("format") != SET_FORMAT:
        raise PersonaSetError(f"{path}: unknown persona-set format {meta.get('format')!r}")
    frame = pq.read_table(path).to_pandas()
    if "persona_id" not in frame.columns:
        raise PersonaSetError(f"{path} has no persona_id column")
    source = PersonaSource(
        kind=meta.get("kind", "spec"),
        locale=meta.get("locale"),
        spec_digest=meta.get("spec_digest"),
        set_digest=file_digest(path),
        count=len(frame),
    )
    return frame, source


def frame_to_personas(frame: pd.DataFrame) -> list[Persona]:
    """Persona records from a persona-set frame; unknown string columns go to `texts`."""
    known = [c for c in PERSONA_COLUMNS if c in frame.columns]
    extra = [c for c in frame.columns if c not in PERSONA_COLUMNS and c != "texts"]
    out: list[Persona] = []
    records = frame[known + extra].astype(object).where(frame[known + extra].notna(), None).to_dict("records")
    for rec in records:
        texts = {k: str(rec.pop(k)) for k in extra if rec.get(k) is not None}
        for k in extra:
            rec.pop(k, None)
        if rec.get("age") is not None:
            rec["age"] = int(rec["age"])
        if rec.get("narrative") is None:
            rec["narrative"] = ""
        fields: dict[str, Any] = {k: (str(v) if v is not None and k != "age" else v) for k, v in rec.items()}
        out.append(Persona(**fields, texts=texts))
    return out


def load_persona_set(path: str | Path, locale: str | None = None) -> tuple[list[Persona], PersonaSource]:
    """The personas of a set (synthspace or Nemotron-Personas Parquet) and its lineage source."""
    frame, source = read_persona_frame(path, locale=locale)
    return frame_to_personas(frame), source
