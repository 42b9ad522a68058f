"""The Python API behind `synthspace personas sample`: sample, name, narrate, write, digest."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from synthspace.config_model import StrictModel
from synthspace.lineage import PersonaSource
from synthspace.node.personas.errors import EvidenceError
from synthspace.node.personas.narratives import (
    MODES,
    NarrativeError,
    TextBackend,
    get_text_backend,
    write_narratives,
)
from synthspace.node.personas.records import SET_FORMAT, write_persona_frame
from synthspace.node.personas.sampler import PersonaSampler, parse_where
from synthspace.node.personas.spec import LocaleSpec, load_spec

# progress(stage, advance, total): stage is "sample" or "narratives".
Progress = Callable[[str, int, int], None]
_SAMPLERS: dict[str, PersonaSampler] = {}


class PersonaSetResult(StrictModel):
    """What `create_persona_set` wrote, for the CLI and for lineage."""

    path: str = Field(description="Where the Parquet file was written.")
    source: PersonaSource = Field(description="Lineage record: kind, locale, spec and set digests, count.")
    seed: int = Field(description="Random seed used.")
    where: list[str] = Field(default_factory=list, description="Conditions the personas were sampled under.")
    narratives: str = Field(description="Narrative mode: template, llm or none.")
    narrative_fallbacks: int = Field(default=0, description="LLM narratives replaced by the template (empty answers).")
    seconds: float = Field(description="Wall time of the whole operation.")


def get_sampler(spec: LocaleSpec) -> PersonaSampler:
    if spec.digest not in _SAMPLERS:
        _SAMPLERS[spec.digest] = PersonaSampler(spec)
    return _SAMPLERS[spec.digest]


def sample_persona_frame(
    locale: str | LocaleSpec,
    n: int,
    seed: int = 0,
    where: list[str] | dict[str, str] | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """`n` personas as a DataFrame: persona_id, locale, name and every attribute (no narrative)."""
    spec = locale if isinstance(locale, LocaleSpec) else load_spec(locale)
    if n < 1:
        raise EvidenceError("the number of personas must be at least 1")
    evidence = parse_where(spec, where)
    sampler = get_sampler(spec)
    frame = sampler.sample(n, seed, evidence, progress=(lambda k: progress("sample", k, n)) if progress else None)
    tag = hashlib.sha256(f"{spec.digest}|{seed}|{'|'.join(evidence.text)}".encode()).hexdigest()[:8]
    width = max(7, len(str(n - 1)))
    ids = [f"{spec.locale}-{tag}-{i:0{width}d}" for i in range(n)]
    if {"surname", "given_name"} <= set(frame.columns):
        # every (surname, given name) pair as one categorical: no per-row string work
        sur, giv = frame["surname"].cat, frame["given_name"].cat
        pairs = [
            (f"{a} {b}" if spec.language == "ja" else f"{b} {a}") for a in sur.categories for b in giv.categories
        ]
        codes = sur.codes.to_numpy(np.int64) * len(giv.categories) + giv.codes.to_numpy(np.int64)
        used, inverse = np.unique(codes, return_inverse=True)
        name: object = pd.Categorical.from_codes(inverse, categories=[pairs[i] for i in used])
    else:
        name = [None] * n
    head = pd.DataFrame({"persona_id": ids, "locale": spec.locale, "name": name})
    order = [
        "surname", "given_name", "sex", "age", "age_band", "marital_status", "education", "life_stage",
        "occupation", "occupation_group", "region", "prefecture", "state",
    ]
    cols = [c for c in order if c in frame.columns] + [c for c in frame.columns if c not in order]
    out = pd.concat([head, frame[cols]], axis=1)
    out["country"] = spec.country
    return out


def check_request(locale: str | LocaleSpec, where: list[str] | dict[str, str] | None, narratives: str) -> LocaleSpec:
    """Validate a sampling request up front (spec, conditions, narrative mode); return the spec."""
    spec = locale if isinstance(locale, LocaleSpec) else load_spec(locale)
    if where:
        get_sampler(spec).posterior(parse_where(spec, where))  # raises on impossible conditions
    if narratives not in MODES:
        raise NarrativeError(f"unknown narrative mode {narratives!r}; choose one of {', '.join(MODES)}")
    return spec


def create_persona_set(
    locale: str | LocaleSpec,
    n: int,
    out: str | Path,
    seed: int = 0,
    where: list[str] | dict[str, str] | None = None,
    narratives: str = "template",
    backend: TextBackend | None = None,
    backend_name: str | None = None,
    backend_options: dict[str, Any] | None = None,
    progress: Progress | None = None,
    narrative_max_tokens: int = 160,
    narrative_temperature: float = 0.7,
) -> PersonaSetResult:
    """Sample `n` personas, write their narratives and the Parquet file; return its lineage record."""
    started = time.perf_counter()
    spec = locale if isinstance(locale, LocaleSpec) else load_spec(locale)
    frame = sample_persona_frame(spec, n, seed, where, progress)
    if narratives == "llm" and backend is None:
        backend = get_text_backend(backend_name or "transformers", **(backend_options or {}))
    result = write_narratives(
        frame, spec.language, narratives, backend,
        progress=(lambda k: progress("narratives", k, n)) if progress else None,
        **({"max_tokens": narrative_max_tokens, "temperature": narrative_temperature} if narratives == "llm" else {}),
    )
    frame["narrative"] = result.texts
    evidence = parse_where(spec, where)
    metadata = {
        "format": SET_FORMAT,
        "kind": "spec",
        "locale": spec.locale,
        "spec_digest": spec.digest,
        "seed": seed,
        "where": list(evidence.text),
        "count": n,
        "narratives": result.mode,
        "narrative_backend": result.backend,
        "narrative_fallbacks": result.fallbacks,
    }
    set_digest = write_persona_frame(frame, out, metadata)
    source = PersonaSource(kind="spec", locale=spec.locale, spec_digest=spec.digest, set_digest=set_digest, count=n)
    return PersonaSetResult(
        path=str(out), source=source, seed=seed, where=list(evidence.text), narratives=result.mode,
        narrative_fallbacks=result.fallbacks, seconds=time.perf_counter() - started,
    )
