"""Persona sets: Parquet round trip, lineage digests, narratives (template and LLM backend)."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq
import pytest

from synthspace.lineage import PersonaSource
from synthspace.node.personas import (
    NarrativeError,
    Persona,
    PersonaSetError,
    create_persona_set,
    load_persona_set,
    persona_set_stats,
    read_persona_frame,
)
from synthspace.node.personas.records import METADATA_KEY


def test_round_trip_and_lineage(tmp_path, ja_spec) -> None:
    out = tmp_path / "personas.parquet"
    result = create_persona_set("ja_JP", 400, out, seed=7, where=["prefecture=京都府"])
    personas, source = load_persona_set(out)
    assert isinstance(source, PersonaSource)
    assert source.kind == "spec" and source.locale == "ja_JP" and source.count == 400
    assert source.spec_digest == ja_spec.digest
    assert source.set_digest == "sha256:" + hashlib.sha256(out.read_bytes()).hexdigest()
    assert result.source == source
    assert len(personas) == 400 and all(isinstance(p, Persona) for p in personas)
    assert len({p.persona_id for p in personas}) == 400
    frame, _ = read_persona_frame(out)
    for p, row in zip(personas[:50], frame.head(50).itertuples(), strict=True):
        assert p.persona_id == row.persona_id and p.age == row.age and p.occupation == row.occupation
        assert p.prefecture == "京都府" and p.region == "近畿地方" and p.country == "日本"
        assert p.name == f"{row.surname} {row.given_name}"
        assert p.narrative and p.name in p.narrative and "京都府" in p.narrative
    meta = pq.read_schema(out).metadata[METADATA_KEY].decode()
    assert ja_spec.digest in meta and "prefecture=京都府" in meta
    assert {"persona_id", "narrative", "sex", "age", "occupation", "prefecture"} <= set(pq.read_schema(out).names)


def test_same_seed_same_file_digest(tmp_path) -> None:
    a = create_persona_set("ja_JP", 300, tmp_path / "a.parquet", seed=1)
    b = create_persona_set("ja_JP", 300, tmp_path / "b.parquet", seed=1)
    c = create_persona_set("ja_JP", 300, tmp_path / "c.parquet", seed=2)
    assert a.source.set_digest == b.source.set_digest != c.source.set_digest


def test_stats_report_passes_for_a_sampled_set(tmp_path) -> None:
    out = tmp_path / "p.parquet"
    create_persona_set("ja_JP", 20_000, out, seed=3, where=["age_band=60-69"], narratives="none")
    report = persona_set_stats(out)
    assert report.spec_matches and report.where == ["age_band=60-69"]
    by = {v.variable: v for v in report.variables}
    assert by["age_band"].tvd == 0.0
    assert by["education"].p_value > 1e-3 and by["life_stage"].p_value > 1e-3
    # a set sampled under other conditions is flagged when compared as if unconditioned
    frame, _ = read_persona_frame(out)
    from synthspace.node.personas import load_spec
    from synthspace.node.personas.stats import compare_frame

    wrong = {v.variable: v for v in compare_frame(frame, load_spec("ja_JP"), where=None)}
    assert wrong["life_stage"].p_value < 1e-6


class FakeBackend:
    """Implements the generation backends' `complete_text`; records what it was asked."""

    def __init__(self, blank_every: int = 0, wrong_count: bool = False) -> None:
        self.prompts: list[str] = []
        self.blank_every = blank_every
        self.wrong_count = wrong_count

    def complete_text(self, prompts, max_tokens=256, temperature=0.7):
        self.prompts += prompts
        if self.wrong_count:
            return ["x"]
        return [
            "" if self.blank_every and (len(self.prompts) - len(prompts) + i) % self.blank_every == 0 else f"LLM:{p[-30:]}"
            for i, p in enumerate(prompts)
        ]


def test_llm_narratives_use_the_backend_interface(tmp_path) -> None:
    backend = FakeBackend(blank_every=10)
    result = create_persona_set("ja_JP", 40, tmp_path / "l.parquet", seed=4, narratives="llm", backend=backend)
    personas, _ = load_persona_set(tmp_path / "l.parquet")
    assert len(backend.prompts) == 40
    assert all("日本語" in p and p.endswith("プロフィール:") for p in backend.prompts)
    assert personas[1].narrative.startswith("LLM:")
    assert result.narrative_fallbacks == 4
    assert personas[0].name in personas[0].narrative  # blank answer -> template
    with pytest.raises(NarrativeError, match="returned 1 texts for"):
        create_persona_set("ja_JP", 5, tmp_path / "w.parquet", narratives="llm", backend=FakeBackend(wrong_count=True))
    assert not (tmp_path / "w.parquet").exists()
    with pytest.raises(NarrativeError, match="unknown narrative mode"):
        create_persona_set("ja_JP", 5, tmp_path / "m.parquet", narratives="poem")


def test_unreadable_files_are_clear_errors(tmp_path) -> None:
    with pytest.raises(PersonaSetError, match="does not exist"):
        load_persona_set(tmp_path / "none.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(PersonaSetError, match="not a readable Parquet"):
        load_persona_set(bad)
    with pytest.raises(PersonaSetError, match="does not exist"):
        create_persona_set("ja_JP", 5, tmp_path / "no" / "dir.parquet")


@pytest.mark.slow
def test_llm_narratives_with_the_embedded_transformers_backend(tmp_path) -> None:
    result = create_persona_set(
        "ja_JP", 2, tmp_path / "t.parquet", seed=9, narratives="llm", backend_name="transformers",
        narrative_max_tokens=24,
    )
    personas, _ = load_persona_set(tmp_path / "t.parquet")
    assert result.narratives == "llm" and len(personas) == 2
    assert all(p.narrative.strip() for p in personas)
    meta = pq.read_schema(tmp_path / "t.parquet").metadata[METADATA_KEY].decode()
    assert "transformers" in meta
