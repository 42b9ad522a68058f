"""Issue 13 acceptance: on labelled sets of real bundled-model failures and hand-written good
records, the usefulness gate drops >= 95% of the bad and keeps >= 90% of the good, in both
locales. Run through `gate_records` (the code behind `synthspace gate --records`), with the
shipped example recipes and without seeds, as a third party would vet a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from synthspace.node.examples import example_path
from synthspace.node.gates import gate_records
from synthspace.node.recipes.loading import load_recipe

DATA = Path(__file__).parent / "data"
RECIPES = {"en": "en_support.yaml", "ja": "ja_legal_qa.yaml"}
ISSUE_RECIPE = {"en_support": "en", "ja_legal_qa": "ja"}


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (DATA / name).read_text(encoding="utf-8").splitlines()]


def _verdicts(tmp_path: Path, lang: str, records: list[dict[str, Any]]) -> list[list[str]]:
    path = tmp_path / f"{lang}-{len(records)}.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    outcome = gate_records(path, load_recipe(example_path(RECIPES[lang])))
    return outcome.reasons


def _usefulness(reasons: list[str]) -> bool:
    return any(r.startswith("usefulness:") for r in reasons)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_drops_bad_and_keeps_good(lang: str, tmp_path: Path) -> None:
    bad = _lines(f"bad_{lang}.jsonl")
    bad += [d["record"] for d in _lines("bad_issue.jsonl") if ISSUE_RECIPE[d["recipe"]] == lang]
    good = _lines(f"good_{lang}.jsonl")
    assert len(bad) >= 40 and len(good) >= 40
    # Judged one record at a time, so that duplicates or run-level context never help.
    bad_dropped = sum(_usefulness(_verdicts(tmp_path, lang, [r])[0]) for r in bad)
    good_reasons = _verdicts(tmp_path, lang, good)
    good_kept = sum(not _usefulness(r) for r in good_reasons)
    drop_rate, keep_rate = bad_dropped / len(bad), good_kept / len(good)
    print(
        f"{lang}: dropped {bad_dropped}/{len(bad)} bad ({drop_rate:.1%}), kept {good_kept}/{len(good)} good ({keep_rate:.1%})"
    )
    assert drop_rate >= 0.95, [r for r in bad if not _usefulness(_verdicts(tmp_path, lang, [r])[0])]
    assert keep_rate >= 0.90, [
        (g, r) for g, r in zip(good, good_reasons, strict=True) if _usefulness(r)
    ]


def test_positive_controls_each_check_fires(tmp_path: Path) -> None:
    """Every usefulness check has a record that trips it, and a near-miss that does not."""
    base = _lines("good_en.jsonl")[0]
    cases = {
        "placeholder": ["Hello {{ name }}, thanks for waiting.", "We fixed it."],
        "digit_run": ["My reference is 12345678901234567890.", "Thanks, found it."],
        "hex_run": ["Token deadbeefcafe1a2b3c4d5e6f7a8b failed.", "We reset it."],
        "repeated_sentence": [
            "The kettle is broken again today.",
            "The kettle is broken again today.",
        ],
        "unknown_words": [
            "Zorbly flimtap quanzor brekkle the snarfbottle.",
            "Glorptastic wuzzle, frandibble.",
        ],
        "wrong_language": ["私のケトルが壊れました。どうすればいいですか。", "交換いたします。"],
        "truncated": ["My kettle stopped working after a week and", "We will send a new one."],
        # Both from a `demo --small` run of the bundled model (support, agent reply).
        "shouting": [
            "My coffee maker has a problem. Can you help?",
            "CHENNACOKE, BILLED IN THROUGH SHEET, SHOP THE ORDER IN YOUR OWN BILLING CODE.",
        ],
        "repeated_clause": [
            "My coffee maker has a problem. Can you help?",
            "Billed in through sheet, this is how to save you the cycle, shop the billed out "
            "order, this is how to save you the cycle!",
        ],
    }
    for reason, dialogue in cases.items():
        why = _verdicts(tmp_path, "en", [{**base, "dialogue": dialogue}])[0]
        assert f"usefulness:{reason}" in why, (reason, why)
    near_miss = {
        **base,
        "dialogue": ["Order placed on 2024-05-01 at 10:30, total £45.99.", "It ships on Monday."],
    }
    assert _verdicts(tmp_path, "en", [near_miss])[0] == []
    # Near misses of the two newest checks: acronyms and names in ordinary prose, and a short
    # clause ("thank you") said twice, are fine.
    acronyms = {
        **base,
        "dialogue": [
            "My NAS from ACME sends an HTTP 500 over VPN, and the USB port is dead. Thank you.",
            "Thank you, we will replace the NAS and the USB cable, thank you for waiting.",
        ],
    }
    assert _verdicts(tmp_path, "en", [acronyms])[0] == []
    shouted = {**base, "dialogue": ["My kettle is broken.", "BILLING REPAYLOADS WELCOME!!! Let's get started now!"]}
    assert "usefulness:shouting" in _verdicts(tmp_path, "en", [shouted])[0]
    # From a `demo --small` run at df3139a (support): a clause begun and left empty.
    empty = {**base, "dialogue": ["I need your help to fix the problem. I will, .", "Milo, thank you. I will, ."]}
    assert "usefulness:empty_clause" in _verdicts(tmp_path, "en", [empty])[0]
    ellipsis = {**base, "dialogue": ["Well, ... my kettle leaks again.", "Sorry, we will send a new one."]}
    assert _verdicts(tmp_path, "en", [ellipsis])[0] == []


def test_stutter_and_dangling_end(tmp_path: Path) -> None:
    """From the `demo` run at f7e9d39 (legal): "a library's calendar calendar ... cannot use a."
    was published. A word written twice in a row, and a sentence ending on an article or a
    conjunction, now drop a record; English's real doublings and stranded prepositions do not."""
    base = _lines("good_en.jsonl")[0]
    bad = {
        "stutter": ["Can I borrow a book for a month?", "You may borrow it for the library's calendar calendar term."],
        "dangling_end": ["Can I borrow a book for a month?", "You may borrow it, and if it is late you cannot use a."],
    }
    for reason, dialogue in bad.items():
        assert f"usefulness:{reason}" in _verdicts(tmp_path, "en", [{**base, "dialogue": dialogue}])[0]
    for dialogue in (
        ["The Calendar calendar is wrong.", "We will fix it."],  # any case
        ["Is the refund on the way?", "It is; we sent it to your."],
        ["What is the price, or?", "We will check and."],
        # From the next `demo` run (legal): a sentence left on a conjunction after a comma.
        ["Can I see my data?", "It says that a business must disclose the information it holds, so."],
    ):
        assert _verdicts(tmp_path, "en", [{**base, "dialogue": dialogue}])[0], dialogue
    # From a `demo` run at 7644830 (support): a preposition whose object went missing.
    lost = ["Wrong colour delivered. Can you help?", "We will exchange it and your courier collects the wrong item from ."]
    assert "usefulness:dangling_end" in _verdicts(tmp_path, "en", [{**base, "dialogue": lost}])[0]
    # From a `demo` run at 8611928 (support): a subject pronoun left as a sentence of its own.
    alone = ["Kettle shuts off before boiling. I am looking for a solution to this issue. I.", "Descale it with vinegar."]
    assert "usefulness:dangling_end" in _verdicts(tmp_path, "en", [{**base, "dialogue": alone}])[0]
    fine = [
        ["The parcel I had had for a week broke.", "We will send another; that that happened is our fault."],
        ["Which drawer does the filter go in?", "The filter is the one you asked about. Please log in."],
        ["Where do I send it to?", "Send it to us. What is it for?"],
        ["Is it covered under Schedule A?", "Yes, it is covered by Plan B or Plan A."],
        ["Thanks, bye bye.", "You are welcome. I'm sure it will be fine and..."],
        ["Will it arrive today? I think so.", "It should, though. Why so?"],
        ["My sister is taller than I.", "Then we will send the larger size. We can do that, I promise."],
    ]
    for dialogue in fine:
        assert _verdicts(tmp_path, "en", [{**base, "dialogue": dialogue}])[0] == [], dialogue
