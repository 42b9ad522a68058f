"""Spec loading and validation: shipped specs are valid, broken ones name the bad table."""

from __future__ import annotations

import copy
import json
from importlib import resources

import numpy as np
import pytest

from synthspace import canonical_json
from synthspace.node.personas import SpecError, build_model, load_spec
from synthspace.node.personas.spec import parse_spec


def _doc(locale: str) -> dict:
    path = resources.files("synthspace.node.personas") / "specs" / f"{locale}.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("locale", ["ja_JP", "en_US"])
def test_shipped_spec_is_valid_and_pgmpy_checks_it(locale: str) -> None:
    spec = load_spec(locale)
    model = build_model(spec)
    assert model.check_model()
    assert set(model.nodes()) == {v.name for v in spec.variables}
    for v in spec.variables:
        cpd = model.get_cpds(v.name)
        assert np.allclose(cpd.get_values(), spec.table(v.name).T)
        assert v.sources and all(s in spec.sources for s in v.sources)


def test_spec_digest_is_canonical_json_sha256(ja_spec) -> None:
    assert ja_spec.digest == canonical_json.digest(ja_spec.model_dump(mode="json"))
    assert ja_spec.digest.startswith("sha256:") and len(ja_spec.digest) == 71


def test_ja_jp_coverage(ja_spec) -> None:
    prefectures = ja_spec.variable("prefecture").states
    assert len(prefectures) == 47 and "東京都" in prefectures and "沖縄県" in prefectures
    assert len(ja_spec.variable("region").states) == 8
    occupation_group = next(d for d in ja_spec.derived_mappings() if d.name == "occupation_group")
    detailed = [o for o, g in occupation_group.mapping.items() if g != "非就業"]
    assert len(detailed) >= 200
    assert {g[0] for g in occupation_group.mapping.values() if g != "非就業"} == set("ABCDEFGHIJKL")
    assert set(ja_spec.variable("life_stage").states) == {"学生", "就業者", "求職者", "退職者", "主婦・主夫"}
    assert ja_spec.variable("marital_status").parents == ["sex", "age_band"]
    assert {"sex", "age_band"} <= set(ja_spec.variable("education").parents)
    assert len(ja_spec.variable("education").states) >= 7  # finer than the census classes
    assert {"sex", "education"} <= set(ja_spec.variable("occupation").parents)
    assert "sex" in ja_spec.variable("given_name").parents
    # Tokyo's weight within 関東 is its census population share
    p = ja_spec.table("prefecture")[ja_spec.variable("region").states.index("関東地方")]
    assert p[prefectures.index("東京都")] == pytest.approx(14048 / 43653, rel=1e-6)


def _broken(mutate) -> str:
    doc = copy.deepcopy(_doc("ja_JP"))
    mutate(doc)
    with pytest.raises(SpecError) as err:
        parse_spec(doc, "test")
    return str(err.value)


def _var(doc: dict, name: str) -> dict:
    return next(v for v in doc["variables"] if v["name"] == name)


def test_column_not_summing_to_one_names_table_and_column() -> None:
    def mutate(doc):
        _var(doc, "marital_status")["probabilities"][11][0] += 0.05

    msg = _broken(mutate)
    assert "'marital_status'" in msg and "column 11" in msg and "sex=女性" in msg and "sums to" in msg


def test_wrong_column_count_names_table() -> None:
    msg = _broken(lambda d: _var(d, "sex")["probabilities"].pop())
    assert "'sex'" in msg and "configurations" in msg


def test_wrong_state_count_names_table() -> None:
    msg = _broken(lambda d: _var(d, "life_stage")["states"].append("兼業"))
    assert "'life_stage'" in msg and "values for 6 states" in msg


def test_parent_declared_later_is_rejected() -> None:
    def mutate(doc):
        doc["variables"].insert(0, doc["variables"].pop(3))  # sex before its parent age_band

    msg = _broken(mutate)
    assert "'sex'" in msg and "age_band" in msg and "topological" in msg


def test_duplicate_state_unknown_source_and_negative_value() -> None:
    assert "duplicate states" in _broken(lambda d: _var(d, "sex")["states"].__setitem__(1, "男性"))
    assert "unknown source" in _broken(lambda d: _var(d, "region")["sources"].append("nowhere"))

    def negative(doc):
        col = _var(doc, "region")["probabilities"][0]
        col[0], col[1] = -0.1, col[1] + col[0] + 0.1

    assert "negative" in _broken(negative)


def test_pydantic_error_names_the_table() -> None:
    msg = _broken(lambda d: _var(d, "education").pop("approximate"))
    assert "'education'" in msg


def test_derived_mapping_must_cover_states() -> None:
    def mutate(doc):
        d = next(x for x in doc["derived"] if x["name"] == "occupation_group")
        d["mapping"].pop("医師")

    msg = _broken(mutate)
    assert "occupation_group" in msg and "医師" in msg


def test_unknown_locale_and_bad_file(tmp_path) -> None:
    with pytest.raises(SpecError, match="shipped locales"):
        load_spec("xx_XX")
    bad = tmp_path / "spec.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec(bad)
    good = tmp_path / "copy.json"
    good.write_text(json.dumps(_doc("ja_JP"), ensure_ascii=False), encoding="utf-8")
    assert load_spec(good).digest == load_spec("ja_JP").digest
