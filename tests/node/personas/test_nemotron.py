"""Reading a Nemotron-Personas (Japan) Parquet file as a persona set."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthspace.node.personas import PersonaSetError, load_persona_set, persona_set_stats
from synthspace.node.personas.nemotron import NEMOTRON_JA_FIELDS

ROWS = [
    {
        "uuid": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "persona": "大阪の下町で育った元気な看護師。",
        "professional_persona": "急性期病棟で10年働くベテラン看護師。",
        "sports_persona": "週末はジョギング。",
        "arts_persona": "落語を聴くのが好き。",
        "travel_persona": "温泉巡りが趣味。",
        "culinary_persona": "お好み焼きにうるさい。",
        "cultural_background": "大阪府出身。",
        "skills_and_expertise": "救急看護、患者対応。",
        "skills_and_expertise_list": ["救急看護", "患者対応"],
        "hobbies_and_interests": "ジョギング、落語。",
        "hobbies_and_interests_list": ["ジョギング", "落語"],
        "career_goals_and_ambitions": "認定看護師の資格を取りたい。",
        "sex": "女",
        "age": 34,
        "marital_status": "未婚",
        "education_level": "専門学校",
        "occupation": "看護師",
        "region": "近畿地方",
        "area": "大阪市",
        "prefecture": "大阪府",
        "country": "日本",
    },
    {
        "uuid": "11112222333344445555666677778888",
        "persona": "北海道の農家を継いだ寡黙な男性。",
        "professional_persona": "酪農を営む。",
        "sports_persona": "冬はスキー。",
        "arts_persona": "写真を撮る。",
        "travel_persona": "道内をドライブ。",
        "culinary_persona": "ジンギスカンが好物。",
        "cultural_background": "北海道出身。",
        "skills_and_expertise": "酪農、機械整備。",
        "skills_and_expertise_list": ["酪農", "機械整備"],
        "hobbies_and_interests": "スキー、写真。",
        "hobbies_and_interests_list": ["スキー", "写真"],
        "career_goals_and_ambitions": "牧場を広げたい。",
        "sex": "男",
        "age": 58,
        "marital_status": "既婚",
        "education_level": "高校",
        "occupation": "酪農家",
        "region": "北海道地方",
        "area": "十勝",
        "prefecture": "北海道",
        "country": "日本",
    },
]


def _write(path, rows) -> None:
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_nemotron_japan_file_maps_to_personas(tmp_path) -> None:
    path = tmp_path / "nemotron-ja.parquet"
    _write(path, ROWS)
    assert set(NEMOTRON_JA_FIELDS) <= set(ROWS[0])
    personas, source = load_persona_set(path)
    assert source.kind == "nemotron-parquet" and source.locale == "ja_JP" and source.count == 2
    assert source.spec_digest is None
    assert source.set_digest == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    a, b = personas
    assert a.persona_id == ROWS[0]["uuid"] and a.sex == "女" and a.age == 34
    assert a.education == "専門学校" and a.occupation == "看護師" and a.prefecture == "大阪府"
    assert a.region == "近畿地方" and a.area == "大阪市" and a.country == "日本"
    assert a.narrative == ROWS[0]["persona"]
    assert a.texts["professional_persona"] == ROWS[0]["professional_persona"]
    assert a.texts["career_goals_and_ambitions"] == "認定看護師の資格を取りたい。"
    assert a.texts["skills_and_expertise_list"] == "救急看護、患者対応"
    assert b.marital_status == "既婚" and b.texts["culinary_persona"] == "ジンギスカンが好物。"


def test_file_without_uuid_gets_stable_ids_and_stats_compare_matching_states(tmp_path) -> None:
    rows = [{k: v for k, v in r.items() if k != "uuid"} for r in ROWS]
    path = tmp_path / "n.parquet"
    _write(path, rows)
    p1, _ = load_persona_set(path)
    p2, _ = load_persona_set(path)
    assert [p.persona_id for p in p1] == [p.persona_id for p in p2]
    assert len({p.persona_id for p in p1}) == 2
    report = persona_set_stats(path)
    assert not report.spec_matches
    assert {v.variable for v in report.variables} >= {"region", "prefecture"}


def test_missing_columns_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "other.parquet"
    _write(path, [{"text": "hello"}])
    with pytest.raises(PersonaSetError, match="missing column"):
        load_persona_set(path)
    path2 = tmp_path / "ages.parquet"
    _write(path2, [{**ROWS[0], "age": "thirty"}])
    with pytest.raises(PersonaSetError, match="non-numeric"):
        load_persona_set(path2)
