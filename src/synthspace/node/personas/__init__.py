"""Synthetic personas: census-grounded Bayesian networks per locale, fast exact sampling,
persona-set Parquet files with lineage digests, narratives, and Nemotron-Personas reading.

Python API (the CLI `synthspace personas ...` calls exactly these):
- `load_spec(locale_or_path)` -> LocaleSpec (validated; `.digest` for lineage)
- `build_model(spec)` -> pgmpy DiscreteBayesianNetwork; `query(spec, vars, evidence)` exact
- `PersonaSampler(spec).sample(n, seed, where)` -> DataFrame
- `create_persona_set(locale, n, out, seed, where, narratives)` -> PersonaSetResult
- `load_persona_set(path)` -> (list[Persona], PersonaSource)
- `persona_set_stats(path)` -> StatsReport
"""

from __future__ import annotations

from synthspace.node.personas.errors import (
    EvidenceError,
    NarrativeError,
    PersonaError,
    PersonaSetError,
    SpecError,
)
from synthspace.node.personas.nemotron import read_nemotron_parquet
from synthspace.node.personas.network import build_model, marginal, query
from synthspace.node.personas.persona_sets import (
    PersonaSetResult,
    create_persona_set,
    sample_persona_frame,
)
from synthspace.node.personas.records import (
    Persona,
    frame_to_personas,
    load_persona_set,
    read_persona_frame,
)
from synthspace.node.personas.sampler import Evidence, PersonaSampler, parse_where
from synthspace.node.personas.spec import LocaleSpec, available_locales, load_spec
from synthspace.node.personas.stats import StatsReport, persona_set_stats

__all__ = [
    "Evidence",
    "EvidenceError",
    "LocaleSpec",
    "NarrativeError",
    "Persona",
    "PersonaError",
    "PersonaSampler",
    "PersonaSetError",
    "PersonaSetResult",
    "SpecError",
    "StatsReport",
    "available_locales",
    "build_model",
    "create_persona_set",
    "frame_to_personas",
    "load_persona_set",
    "load_spec",
    "marginal",
    "parse_where",
    "persona_set_stats",
    "query",
    "read_nemotron_parquet",
    "read_persona_frame",
    "sample_persona_frame",
]
