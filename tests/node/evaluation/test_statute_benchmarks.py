"""The shipped statute benchmarks: size, the original 36 items first, every answer traceable to a
seed article in both languages, and the files exactly what benchmarks/make_statute_benchmarks.py
writes (no model needed)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from synthspace.node.evaluation.benchmark import ChoiceItem, load_benchmark, shipped_benchmark

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "src/synthspace/node/examples"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_statute_benchmarks", ROOT / "benchmarks/make_statute_benchmarks.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def _seeds(name: str) -> dict[str, dict[str, Any]]:
    lines = (EXAMPLES / name).read_text(encoding="utf-8").splitlines()
    return {d["statute"]: d for d in (json.loads(ln) for ln in lines if ln.strip())}


JA_SEEDS = _seeds("ja_legal_qa_seeds.jsonl")
EN_SEEDS = _seeds("en_legal_qa_seeds.jsonl")


def _article(item_id: str) -> tuple[str, int]:
    m = re.fullmatch(r"([a-z]+)-(\d+)[a-z]", item_id)
    assert m, item_id
    return m.group(1), int(m.group(2))


def _seed_for(item_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    prefix, article = _article(item_id)
    ja_law, en_law = GEN.STATUTES[prefix]
    return JA_SEEDS[f"{ja_law} 第{article}条"], EN_SEEDS[f"{en_law}, Article {article}"]



def _traceable(seed: dict[str, Any], evidence: str, correct: str) -> bool:
    """The evidence is in the seed's article text, and a correct 'Article N' / '第N条' option names
    an article the seed itself names (its own number or one its text refers to)."""
    if evidence not in seed["article_text"]:
        return False
    m = re.fullmatch(r"(?:Article (\d+)|第(\d+)条)", correct)
    if m:
        n = m.group(1) or m.group(2)
        text = seed["statute"] + " " + seed["article_text"]
        return bool(re.search(rf"(?:Article {n}\b|第{n}条)", text))
    return True


def test_files_are_what_the_generator_writes() -> None:
    for lang, items in GEN.build().items():
        assert shipped_benchmark(f"{lang}_statutes").read_text(encoding="utf-8") == GEN.render(items)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_at_least_100_items_with_the_original_36_first(lang: str) -> None:
    items = load_benchmark(shipped_benchmark(f"{lang}_statutes"))
    assert len(items) >= 100
    assert [i.id for i in items[:36]] == [f"{lang}-{row[0]}" for row in GEN.ITEMS]
    assert len(GEN.ITEMS) == 36  # the demo and the README quote figures for exactly these
    for item in items:
        assert isinstance(item, ChoiceItem)
        assert len(item.options) == 4
        assert len({o.strip().casefold() for o in item.options}) == 4, item.id
        assert 0 <= item.answer < len(item.options)
    # every answer position is used, so a positional bias cannot score well
    assert {i.answer for i in items if isinstance(i, ChoiceItem)} == {0, 1, 2, 3}


def test_every_answer_is_traceable_to_its_seed_article_in_both_languages() -> None:
    rows = GEN.all_rows()
    assert len(rows) >= 100 and len({r[0] for r in rows}) == len(rows)
    for rid, _jq, jo, _eq, eo, ja_ev, en_ev in rows:
        ja_seed, en_seed = _seed_for(rid)
        assert _traceable(ja_seed, ja_ev, jo[0]), (rid, ja_ev)
        assert _traceable(en_seed, en_ev, eo[0]), (rid, en_ev)
    # every seed article is asked about
    asked = {_seed_for(r[0])[0]["statute"] for r in rows}
    assert asked == set(JA_SEEDS)


def test_traceability_check_has_teeth() -> None:
    """Positive controls: evidence not in the article, or the wrong article number, is caught."""
    ja_seed, en_seed = _seed_for("kick-12a")
    assert _traceable(ja_seed, "五千円以下", "第12条") and _traceable(en_seed, "night", "Article 12")
    assert not _traceable(ja_seed, "一万円以下", "一万円以下")
    assert not _traceable(en_seed, "ten thousand yen", "10,000 yen")
    assert not _traceable(en_seed, "night", "Article 8")


def test_japanese_and_english_seeds_cover_the_same_articles() -> None:
    assert len(JA_SEEDS) == len(EN_SEEDS) >= 30
    ja_articles = {_parse_ja(s) for s in JA_SEEDS}
    en_articles = {_parse_en(s) for s in EN_SEEDS}
    assert ja_articles == en_articles
    # numbers agree where a Japanese article states one the English spells out
    for prefix, article in ja_articles:
        ja_law, en_law = GEN.STATUTES[prefix]
        ja_text = JA_SEEDS[f"{ja_law} 第{article}条"]["article_text"]
        en_text = EN_SEEDS[f"{en_law}, Article {article}"]["article_text"]
        for ref in re.findall(r"第(\d+)条", ja_text):
            assert f"Article {ref}" in en_text, (prefix, article)


def _parse_ja(statute: str) -> tuple[str, int]:
    law, art = statute.split(" ")
    prefix = next(k for k, (ja, _) in GEN.STATUTES.items() if ja == law)
    return prefix, int(art.removeprefix("第").removesuffix("条"))


def _parse_en(statute: str) -> tuple[str, int]:
    law, art = statute.split(", ")
    prefix = next(k for k, (_, en) in GEN.STATUTES.items() if en == law)
    return prefix, int(art.removeprefix("Article "))


@pytest.mark.parametrize(("small", "count"), [(True, 12), (False, 36)])
def test_demo_scores_the_original_items_only(tmp_path: Path, small: bool, count: int) -> None:
    """The demo's figures (README) are for the original 36 items (12 with --small): it scores
    exactly the shipped file's first lines, verbatim, however many items were appended since."""
    from synthspace.demo.evaluation import demo_benchmark

    shipped = shipped_benchmark("en_statutes").read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(shipped) > count  # positive control: the file holds more than the demo scores
    subset = demo_benchmark(tmp_path, small)
    assert subset.read_text(encoding="utf-8") == "".join(shipped[:count])
