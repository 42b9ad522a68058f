"""Read NVIDIA Nemotron-Personas Parquet files from disk as a persona set.

A node can condition generation on NVIDIA's published personas instead of sampling its own.
The Japanese set's fields (persona, professional_persona, sports_persona, arts_persona,
travel_persona, culinary_persona, cultural_background, skills_and_expertise,
hobbies_and_interests, career_goals_and_ambitions, sex, age, marital_status, education_level,
occupation, region, area, prefecture, country) map onto the same `Persona` model: attributes
to attributes (`education_level` -> `education`), `persona` to `narrative`, the other texts to
`texts`. The US set's `state`/`city` map the same way. Nothing is fetched from the network.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from synthspace.lineage import PersonaSource
from synthspace.node.personas.digests import file_digest
from synthspace.node.personas.errors import PersonaSetError

NEMOTRON_JA_FIELDS = (
    "persona",
    "professional_persona",
    "sports_persona",
    "arts_persona",
    "travel_persona",
    "culinary_persona",
    "cultural_background",
    "skills_and_expertise",
    "hobbies_and_interests",
    "career_goals_and_ambitions",
    "sex",
    "age",
    "marital_status",
    "education_level",
    "occupation",
    "region",
    "area",
    "prefecture",
    "country",
)
ATTRIBUTE_MAP = {
    "sex": "sex",
    "age": "age",
    "marital_status": "marital_status",
    "education_level": "education",
    "occupation": "occupation",
    "region": "region",
    "area": "area",
    "prefecture": "prefecture",
    "state": "state",
    "city": "city",
    "country": "country",
}
REQUIRED = ("persona", "sex", "age")
COUNTRY_LOCALES = {"日本": "ja_JP", "japan": "ja_JP", "usa": "en_US", "united states": "en_US", "us": "en_US"}


def read_nemotron_parquet(path: str | Path, locale: str | None = None) -> tuple[pd.DataFrame, PersonaSource]:
    """A Nemotron-Personas file as a persona-set frame and a `nemotron-parquet` PersonaSource."""
    path = Path(path)
    try:
        frame = pq.read_table(path).to_pandas()
    except (OSError, ValueError) as exc:
        raise PersonaSetError(f"{path} is not a readable Parquet file: {exc}") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise PersonaSetError(
            f"{path} is neither a synthspace persona set nor a Nemotron-Personas file: "
            f"missing column(s) {', '.join(missing)}"
        )
    digest = file_digest(path)
    if locale is None and "country" in frame.columns and len(frame):
        country = str(frame["country"].iloc[0]).strip().lower()
        locale = COUNTRY_LOCALES.get(country)
    out = pd.DataFrame(index=range(len(frame)))
    if "uuid" in frame.columns:
        out["persona_id"] = frame["uuid"].astype(str).to_numpy()
    else:
        prefix = digest.split(":")[1][:8]
        out["persona_id"] = [f"nemotron-{prefix}-{i:07d}" for i in range(len(frame))]
    if out["persona_id"].duplicated().any():
        raise PersonaSetError(f"{path}: the uuid column has duplicate values")
    out["locale"] = locale
    for src, dst in ATTRIBUTE_MAP.items():
        if src in frame.columns:
            out[dst] = frame[src].to_numpy()
    if "age" in out.columns:
        ages = pd.to_numeric(out["age"], errors="coerce")
        if ages.isna().any():
            raise PersonaSetError(f"{path}: column age has non-numeric values")
        out["age"] = ages.astype("int64")
    out["narrative"] = frame["persona"].fillna("").astype(str).to_numpy()
    for col in frame.columns:
        if col not in ATTRIBUTE_MAP and col not in ("uuid", "persona"):
            out[col] = frame[col].map(_text).to_numpy()
    source = PersonaSource(kind="nemotron-parquet", locale=locale, spec_digest=None, set_digest=digest, count=len(out))
    return out, source


def _text(value: object) -> str | None:
    """Persona texts as strings; list-valued fields (e.g. skills lists) joined."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, list | tuple) or type(value).__name__ == "ndarray":
        return "、".join(str(v) for v in list(value))  # type: ignore[call-overload]
    return str(value)
