"""Guard for the usefulness gate's performance work: the optimised character counting (summed
lengths of maximal runs) gives the same per-record verdicts as the reference per-record path
(one regex match per character), on the labelled sets plus a few thousand synthetic records
from the gates benchmark's generator (mixed Japanese/English, seed spans, digits, prices)."""

from __future__ import annotations

import importlib.util
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from synthspace.node.examples import example_path
from synthspace.node.gates import gate_records
from synthspace.node.quality import degenerate, language, usefulness
from synthspace.node.recipes.loading import load_recipe

DATA = Path(__file__).parent / "data"
BENCH = Path(__file__).parents[3] / "benchmarks" / "gates_full.py"
RECIPES = {"en": "en_support.yaml", "ja": "ja_legal_qa.yaml"}


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (DATA / name).read_text(encoding="utf-8").splitlines()]


def _synthetic(n: int) -> list[str]:
    spec = importlib.util.spec_from_file_location("gates_full_bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rng = random.Random(7)
    out = [bench.record_text(rng, rng.choice([40, 120, 240])) for _ in range(n)]
    # Edge cases for the counting: digits, underscores, full-width forms, empty and blank text.
    out += ["", "   ", "123_456", "ＡＢＣ１２３", "a_b_c", "第3条の2", "Ⅻ ① ½ 〇〇", "x" * 5]
    return out


def _records(lang: str) -> list[dict[str, Any]]:
    recs = _lines(f"good_{lang}.jsonl") + _lines(f"bad_{lang}.jsonl")
    recs += [d["record"] for d in _lines("bad_issue.jsonl") if d["recipe"].startswith(lang)]
    texts = _synthetic(3200)  # 1,604 records of two texts each
    base = recs[0]
    if lang == "en":
        recs += [{**base, "dialogue": [a, b]} for a, b in zip(texts[::2], texts[1::2], strict=True)]
    else:
        recs += [
            {**base, "question": a, "answer": b}
            for a, b in zip(texts[::2], texts[1::2], strict=True)
        ]
    return recs


def _per_char(runs: re.Pattern[str], text: str) -> int:
    """Reference: one match per character (the pattern without its run quantifier)."""
    return len(re.compile(runs.pattern.removesuffix("+")).findall(text))


def _near_empty_per_char(text: str, min_meaningful: int) -> str | None:
    return "near_empty" if len(re.findall(r"[^\W\d_]", text)) < min_meaningful else None


def _gate(tmp_path: Path, lang: str, records: list[dict[str, Any]]) -> list[list[str]]:
    path = tmp_path / f"{lang}.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return gate_records(path, load_recipe(example_path(RECIPES[lang]))).reasons


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_optimised_verdicts_equal_reference(
    lang: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _records(lang)
    assert len(records) > 1500
    fast = _gate(tmp_path, lang, records)
    with monkeypatch.context() as m:
        m.setattr(language, "count_chars", _per_char)
        m.setattr(usefulness, "count_chars", _per_char)
        m.setattr(degenerate, "near_empty", _near_empty_per_char)
        reference = _gate(tmp_path, lang, records)
    assert fast == reference
    # The comparison is not vacuous: both verdicts occur among these records.
    assert any(any(r.startswith("usefulness:") for r in why) for why in fast)
    assert any(not why for why in fast)


def test_run_counts_equal_per_character_counts() -> None:
    patterns = [language._LETTER, language._JA_CHARS, usefulness._JA]
    for text in _synthetic(500):
        for p in patterns:
            assert language.count_chars(p, text) == _per_char(p, text), (p.pattern, text)
        assert degenerate.near_empty(text, 12) == _near_empty_per_char(text, 12)
