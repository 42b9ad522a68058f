"""Builders for small run directories and text corpora used by the gate tests (imported as
`gates_helpers`; the name is unique so it cannot clash with other areas' test helpers).

Run directories follow the contract in team CONTRACTS.md: manifest.json (seeds_path,
personas_path, recipe with output fields and JSON schema), shards/part-*.parquet.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

SUBJECTS = [
    "賃借人",
    "売主",
    "買主",
    "債権者",
    "債務者",
    "会社",
    "従業員",
    "相続人",
    "管理組合",
    "保証人",
]
OBJECTS = [
    "敷金の返還",
    "契約の解除",
    "損害賠償",
    "未払い残業代",
    "遺産分割",
    "修繕費用",
    "瑕疵担保責任",
    "解雇予告手当",
]
LAWS = ["民法", "借地借家法", "労働基準法", "会社法", "消費者契約法", "区分所有法"]
VERBS = ["請求する", "主張する", "争う", "協議する", "確認する"]
RESULTS = [
    "認められる可能性が高いです",
    "認められない場合があります",
    "裁判所の判断によります",
    "専門家への相談をお勧めします",
]
KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわ"


def seed_sentence(rng: random.Random) -> str:
    return (
        f"{rng.choice(SUBJECTS)}が{rng.choice(OBJECTS)}を{rng.choice(VERBS)}場合、"
        f"{rng.choice(LAWS)}第{rng.randint(1, 900)}条により"
        + "".join(rng.choice(KANA) for _ in range(rng.randint(6, 14)))
        + f"として{rng.choice(RESULTS)}。"
    )


def make_seeds(count: int = 40, seed: int = 7) -> list[dict[str, str]]:
    """Private-looking legal Q&A seeds; each carries random kana so spans are seed-unique."""
    rng = random.Random(seed)
    return [
        {
            "question": "".join(seed_sentence(rng) for _ in range(2)) + "どうすればよいですか。",
            "answer": "".join(seed_sentence(rng) for _ in range(3)),
        }
        for _ in range(count)
    ]


EN_NOUNS = [
    "tenant",
    "landlord",
    "employer",
    "contract",
    "deposit",
    "invoice",
    "court",
    "claim",
    "notice",
    "lease",
]
JA_PLACES = ["東京都", "大阪府", "札幌市", "福岡市", "名古屋市", "仙台市", "京都市"]


def clean_record(rng: random.Random) -> str:
    """Generated-looking text full of numbers that are not PII: dates, prices, statute
    articles, case numbers, times, percentages, measures, coordinates, versions."""
    parts = [
        f"{rng.choice(JA_PLACES)}の{rng.choice(['会社', '事務所', '店舗'])}で"
        f"{rng.randint(2015, 2025)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日に契約し、",
        f"月額{rng.randint(1, 99)},{rng.randint(100, 999)}円を支払いました。",
        f"民法第{rng.randint(1, 1050)}条第{rng.randint(1, 5)}項によれば、",
        f"令和{rng.randint(1, 7)}年(ワ)第{rng.randint(100, 99999)}号事件では",
        f"{rng.randint(1, 99)}.{rng.randint(0, 9)}%の遅延損害金が認められ、",
        f"午前{rng.randint(8, 11)}時{rng.randint(10, 59)}分に通知が届きました。",
        f"The {rng.choice(EN_NOUNS)} paid ${rng.randint(1, 99)},{rng.randint(100, 999)}.{rng.randint(10, 99)} "
        f"on {rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} under Article {rng.randint(1, 99)}({rng.randint(1, 9)}).",
        f"面積は{rng.randint(10, 300)}.{rng.randint(1, 99)}㎡、重さ{rng.randint(1, 99)}kgです。",
        f"Section {rng.randint(1, 20)}.{rng.randint(1, 9)}.{rng.randint(1, 9)} of the {rng.choice(EN_NOUNS)} applies.",
        f"座標は{rng.randint(30, 45)}.{rng.randint(1000, 9999)}, {rng.randint(128, 145)}.{rng.randint(1000, 9999)}です。",
        f"請求額は{rng.randint(1, 9)}億{rng.randint(1000, 9999)}万円、残り{rng.randint(1, 999):,}件。",
        f"平成{rng.randint(1, 31)}年法律第{rng.randint(1, 150)}号の改正は{rng.randint(1, 12)}月施行。",
        f"Order {rng.randint(1000, 99999)} shipped {rng.randint(1, 500)} units at {rng.randint(1, 23)}:{rng.randint(10, 59)}.",
    ]
    rng.shuffle(parts)
    return "".join(parts[: rng.randint(4, 8)])


def clean_corpus(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [clean_record(rng) for _ in range(count)]


def make_personas(count: int = 30, seed: int = 3) -> pd.DataFrame:
    rng = random.Random(seed)
    return pd.DataFrame(
        {
            "persona_id": [f"p{i:04d}" for i in range(count)],
            "prefecture": [rng.choice(["東京都", "大阪府", "北海道"]) for _ in range(count)],
            "sex": [rng.choice(["男性", "女性"]) for _ in range(count)],
            "age": [rng.randint(20, 80) for _ in range(count)],
            "narrative": ["ペルソナの説明" for _ in range(count)],
        }
    )


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "question": {"type": "string", "minLength": 1, "maxLength": 4000},
        "answer": {"type": "string", "minLength": 1, "maxLength": 4000},
    },
    "required": ["question", "answer"],
    "additionalProperties": False,
}

RunFactory = Callable[..., Path]

# Older gate tests were written before the usefulness and diversity gates and record-level
# filtering: their corpora mix English into Japanese and repeat template sentences on purpose,
# and they check each gate's own verdict. They run all-or-nothing with those gates off unless a
# test passes its own `gates`; tests/node/gates/test_filtering.py and test_usefulness*.py cover the rest.
LEGACY_GATES: dict[str, Any] = {
    "usefulness": {"enabled": False},
    "diversity": {"enabled": False},
    "filtering": {"drop_records": False},
}


def make_manifest(
    seeds: list[dict[str, Any]],
    seeds_path: Path,
    personas_path: Path | None,
    count: int,
    *,
    gates: dict[str, Any] | None = None,
    seed_fields: list[str] | None = None,
    locale: str | None = "ja_JP",
    schema: dict[str, Any] | None = None,
    prompt: dict[str, Any] | None = None,
    status: str = "complete",
    target: int | None = None,
) -> Any:
    """A RunManifest as generation writes it (typed recipe summary, seed commitment)."""
    from datetime import UTC, datetime

    from synthspace.lineage import Generator, PersonaSource, SeedCommitment
    from synthspace.node.generate.manifest import RecipeSummary, RunManifest
    from synthspace.node.recipes.gates import gates_config_from_mapping
    from synthspace.node.recipes.models import Prompt, SeedField

    schema = SCHEMA if schema is None else schema
    names = seed_fields or sorted({k for s in seeds for k in s})
    now = datetime.now(UTC)
    return RunManifest(
        status=status,  # type: ignore[arg-type]
        recipe=RecipeSummary(
            task="ja_legal_qa",
            license="CC-BY-4.0",
            locale=locale,
            output_fields=list(schema["properties"]),
            output_schema=schema,
            seed_fields=[SeedField(name=n, required=False) for n in names],
            prompt=Prompt(**prompt) if prompt else None,
            gates=gates_config_from_mapping(LEGACY_GATES if gates is None else gates),
        ),
        recipe_digest="sha256:" + "0" * 64,
        generator=Generator(backend="transformers", model_id="SmolLM2-135M-Instruct"),
        persona_source=PersonaSource(kind="spec", locale="ja_JP", count=30),
        personas_path=str(personas_path) if personas_path else None,
        seed_commitment=SeedCommitment(root="ab" * 32, count=len(seeds)),
        seeds_path=str(seeds_path),
        requested=count,
        target=target,
        completed=count,
        started=now,
        updated=now,
    )


def build_run(
    base: Path,
    name: str,
    records: list[Any],
    seeds: list[dict[str, str]] | None = None,
    personas: pd.DataFrame | None = None,
    gates: dict[str, Any] | None = None,
    shard_size: int = 1000,
    seed_indices: list[int] | None = None,
    seed_fields: list[str] | None = None,
    locale: str | None = "ja_JP",
    schema: dict[str, Any] | None = None,
    prompt: dict[str, Any] | None = None,
    target: int | None = None,
) -> Path:
    """Write a run directory under `base` from answers (or full record dicts) and seeds."""
    run = base / name
    (run / "shards").mkdir(parents=True)
    seeds = make_seeds() if seeds is None else seeds
    personas = make_personas() if personas is None else personas
    seeds_path = base / f"{name}-seeds.jsonl"
    seeds_path.write_text(
        "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in seeds), encoding="utf-8"
    )
    personas_path = base / f"{name}-personas.parquet"
    personas.to_parquet(personas_path)
    rows = []
    for i, r in enumerate(records):
        rec = dict(r) if isinstance(r, dict) else {"question": "質問です。", "answer": r}
        rec.setdefault("record_id", f"r{i:06d}")
        rec.setdefault("persona_id", personas["persona_id"].iloc[i % len(personas)])
        rec["_seed_index"] = seed_indices[i] if seed_indices is not None else i % len(seeds)
        rows.append(rec)
    df = pd.DataFrame(rows)
    for k, start in enumerate(range(0, max(len(df), 1), shard_size)):
        df.iloc[start : start + shard_size].to_parquet(
            run / "shards" / f"part-{k:05d}.parquet", index=False
        )
    manifest = make_manifest(
        seeds,
        seeds_path,
        personas_path,
        len(records),
        gates=gates,
        seed_fields=seed_fields,
        locale=locale,
        schema=schema,
        prompt=prompt,
        target=target,
    )
    (run / "manifest.json").write_text(manifest.model_dump_json(), encoding="utf-8")
    return run
