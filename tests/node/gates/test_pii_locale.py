"""Locale-aware PII: US/CA formats, SSN, IBAN, ZIP, names and addresses in both languages.

Planted records are built here from hand-written sentences (not the benchmark's
templates); each recogniser has a positive control, and clean texts include bundled-model
gibberish (digit runs that pass check digits, dotted number runs) that must not be flagged.
"""

from __future__ import annotations

import random

import pytest

from synthspace.node.privacy.pii import find_pii, locale_sets
from synthspace.node.privacy.pii_checksums import iban_valid, ssn_valid


def _types(text: str, locale: str | None) -> set[str]:
    return {f.type for f in find_pii([text], locale=locale)}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Please call me at (415) 555-2671 after five.", "phone"),
        ("Our office line is 212-736-5000.", "phone"),
        ("Text 646.555.0199 when you land.", "phone"),
        ("Reach him on +1 415 555 2671.", "phone"),
        ("Her SSN is 123-45-6789, keep it safe.", "ssn"),
        ("social security number 078051120", "ssn"),
        ("Wire to IBAN GB82 WEST 1234 5698 7654 32 today.", "iban"),
        ("Ship to Springfield, IL 62704-1234.", "postal_code"),
        ("Visa 4111 1111 1111 1111 exp 12/28", "payment_card"),
        ("Write to anna.k@northwind-mail.com", "email"),
        ("The login came from IP 81.2.69.160 last night.", "ip_address"),
        ("I spoke with Michael Thompson yesterday.", "person_name"),
        ("Ask Dr. Okafor about the results.", "person_name"),
        ("He lives at 742 Evergreen Terrace, Apt 3.", "street_address"),
    ],
)
def test_english_positive_controls(text: str, kind: str) -> None:
    assert kind in _types(text, "en_US")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("担当の山田太郎さんから連絡がありました。", "person_name"),
        ("佐藤様、お世話になっております。", "person_name"),
        ("住所は東京都千代田区丸の内1丁目2-3です。", "street_address"),
        ("大阪市北区梅田3丁目1番3号に移転", "street_address"),
        ("電話03-1234-5678まで", "phone"),
        ("〒100-0001 東京都", "postal_code"),
    ],
)
def test_japanese_positive_controls(text: str, kind: str) -> None:
    assert kind in _types(text, "ja_JP")


def test_locale_selects_recognisers_and_phone_region() -> None:
    assert locale_sets(None) == (frozenset({"universal", "ja"}), "JP")
    assert locale_sets("en_CA") == (frozenset({"universal", "en"}), "CA")
    # A US number is read in an English recipe, not in a Japanese one (region JP).
    assert "phone" in _types("call (415) 555-2671", "en_US")
    assert "phone" not in _types("call (415) 555-2671", "ja_JP")
    # The default call shape still finds the Japanese set.
    assert {f.type for f in find_pii(["電話 090-1234-5678"])} == {"phone"}


def test_checks_reject_invalid_ranges() -> None:
    assert ssn_valid("123", "45", "6789")
    for area, group, serial in (("000", "12", "3456"), ("666", "12", "3456"), ("912", "12", "3456"),
                                ("123", "00", "4567"), ("123", "45", "0000")):  # fmt: skip
        assert not ssn_valid(area, group, serial)
        assert "ssn" not in _types(f"SSN {area}-{group}-{serial}", "en_US")
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("DE89370400440532013001")
    assert "iban" not in _types("ref DE89 3704 0044 0532 0130 01", "en_US")


def _gibberish(rng: random.Random) -> str:
    """Bundled-model-like noise: digit runs of PII lengths, dotted number runs, versions."""
    parts = []
    for _ in range(rng.randint(3, 8)):
        k = rng.random()
        if k < 0.3:
            parts.append(
                "".join(rng.choice("0123456789") for _ in range(rng.choice((9, 10, 12, 13))))
            )
        elif k < 0.55:
            parts.append(".".join(str(rng.randint(0, 255)) for _ in range(4)))
        elif k < 0.7:
            parts.append(f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}")
        else:
            parts.append(
                rng.choice(["the", "model", "output", "出力", "結果", "の", "Total:", "第"])
            )
    return " ".join(parts)


CLEAN = [
    "The Model X200 costs $1,299.00 and ships on 2024-03-05.",
    "Release 3.2.1.4 fixes the login bug; see section 4.1.2.",
    "Article no. 4711-0815 is back in stock (order 20240305-0042).",
    "Temperatures ranged from 12.5 to 18.3 degrees on 3.4.2024.",
    "価格は12,800円(税込)、発売日は2024年3月5日です。",
    "品番ABC-12345-678の在庫は3個です。バージョン1.2.3.4で修正済み。",
    "Grace period ends in May; Will you renew? Page 12 of 30.",
    "Contact our Support Team via the help center.",
    "We visited Main Street Market and the Central Park Zoo.",
    "第3章 1.2.3 節を参照。会議は10:30から12:00まで。",
]


def test_clean_and_gibberish_flag_rate_is_low() -> None:
    rng = random.Random(15)
    texts = CLEAN * 20 + [_gibberish(rng) for _ in range(800)]
    for locale in ("en_US", "ja_JP", None):
        flagged = {f.doc for f in find_pii(texts, locale=locale)}
        assert len(flagged) / len(texts) <= 0.02, (locale, [texts[i] for i in sorted(flagged)][:5])


def test_gibberish_positive_control_is_found_when_labelled() -> None:
    """The context requirement is what suppresses gibberish: labelled, the same shapes count."""
    assert "ip_address" in _types("server address 10.20.30.40", "en_US")
    assert "ip_address" not in _types("10.20.30.40", "en_US")
    assert "corporate_number" in _types("法人番号 7000012050002", "ja_JP")
    assert "corporate_number" not in _types("7000012050002", "ja_JP")


def test_names_and_addresses_flow_into_replay_values() -> None:
    seed = find_pii(["Client: Michael Thompson, 742 Evergreen Terrace"], locale="en_US")
    out = find_pii(["I met michael Thompson? No: Michael Thompson at 742 Evergreen Terrace."],
                   locale="en_US")  # fmt: skip
    seed_values = {(f.type, f.value) for f in seed}
    assert {("person_name", "michael thompson"), ("street_address", "742 evergreen terrace")} <= {
        (f.type, f.value) for f in out if (f.type, f.value) in seed_values
    }
