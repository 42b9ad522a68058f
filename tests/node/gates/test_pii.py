"""PII detectors: every type found when glued to Japanese text, check digits enforced,
recall 100% on a planted set and under 1% false positives on clean generated text."""

from __future__ import annotations

import random

import pytest
from gates_helpers import clean_corpus

from synthspace.node.privacy.pii import find_pii
from synthspace.node.privacy.pii_checksums import (
    corporate_number_valid,
    luhn_valid,
    my_number_valid,
)

FW = str.maketrans("0123456789-", "０１２３４５６７８９－")


# Independent implementations of the published check-digit rules, so a bug in the module
# cannot make both sides agree.
def my_number_check(body11: str) -> str:
    s = sum(int(body11[10 - i]) * (i + 2 if i < 6 else i - 4) for i in range(11))
    r = s % 11
    return str(0 if r <= 1 else 11 - r)


def corporate_check(body12: str) -> str:
    s = sum(int(d) * (2 if i % 2 == 0 else 1) for i, d in enumerate(body12))
    return str(9 - s % 9)


def luhn_complete(body: str) -> str:
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError


def test_known_check_digits() -> None:
    assert my_number_valid("123456789018")
    assert not my_number_valid("123456789012")
    assert corporate_number_valid("1180301018771")  # a real, published corporate number
    assert not corporate_number_valid("2180301018771")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def planted(rng: random.Random) -> list[tuple[str, str]]:
    """(text, expected type) pairs: each value glued to kana/kanji on both sides."""
    out: list[tuple[str, str]] = []
    for _ in range(25):
        body = "".join(rng.choice("0123456789") for _ in range(11))
        mn = body + my_number_check(body)
        out += [
            (f"個人番号は{mn}です", "my_number"),
            (f"番号{mn[:4]}-{mn[4:8]}-{mn[8:]}を記入", "my_number"),
        ]
        out.append((f"マイナンバー{mn.translate(FW)}の写し", "my_number"))
        b12 = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(11))
        cn = corporate_check(b12) + b12
        out += [
            (f"法人番号{cn}の会社", "corporate_number"),
            (f"登録番号T{cn}です", "corporate_number"),
        ]
        card = luhn_complete("4" + "".join(rng.choice("0123456789") for _ in range(14)))
        out += [
            (f"カード番号{card}で支払い", "payment_card"),
            (f"カード{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}を使用", "payment_card"),
            (f"番号{card.translate(FW)}です", "payment_card"),
        ]
        mc = luhn_complete(
            "5" + str(rng.randint(1, 5)) + "".join(rng.choice("0123456789") for _ in range(13))
        )
        out.append((f"マスター{mc[:4]}-{mc[4:8]}-{mc[8:12]}-{mc[12:]}決済", "payment_card"))
        mobile = f"0{rng.choice('789')}0{rng.randint(1000, 9999)}{rng.randint(1000, 9999)}"
        out += [
            (f"携帯{mobile}に電話", "phone"),
            (f"電話は{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}まで", "phone"),
            (f"電話は{mobile[:3]}ー{mobile[3:7]}ー{mobile[7:]}まで", "phone"),
            (
                f"連絡先：{(mobile[:3] + '-' + mobile[3:7] + '-' + mobile[7:]).translate(FW)}です",
                "phone",
            ),
            (f"国際電話は+81 {mobile[1:3]} {mobile[3:7]} {mobile[7:]}へ", "phone"),
            (f"事務所03-{rng.randint(3000, 6999)}-{rng.randint(1000, 9999)}へ", "phone"),
            (f"代表(06){rng.randint(6000, 6999)}-{rng.randint(1000, 9999)}です", "phone"),
        ]
        user = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 10)))
        out += [
            (f"メールは{user}.{rng.randint(1, 99)}@mail{rng.randint(1, 99)}.co.jpまで", "email"),
            (f"宛先{user}@gmail.comに送付", "email"),
            (f"ｍａｉｌ：{user}＠ｅｘａｍｐｌｅ－ｃｏｒｐ．ｊｐへ", "email"),
        ]
        out += [
            (f"〒{rng.randint(100, 999)}-{rng.randint(0, 9999):04d}東京都", "postal_code"),
            (f"郵便番号{rng.randint(100, 999)}{rng.randint(0, 9999):04d}の住所", "postal_code"),
            (
                f"〒{(str(rng.randint(100, 999)) + '-' + str(rng.randint(1000, 9999))).translate(FW)}大阪府",
                "postal_code",
            ),
        ]
        ip = f"{rng.choice([133, 150, 210, 61])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        out += [
            (f"接続元{ip}からアクセス", "ip_address"),
            (
                f"アドレス2400:{rng.randint(4096, 65535):x}::{rng.randint(1, 65535):x}に接続",
                "ip_address",
            ),
        ]
    return out


def test_recall_is_total_on_planted_pii() -> None:
    cases = planted(random.Random(5))
    findings = find_pii([t for t, _ in cases])
    found = {(f.doc, f.type) for f in findings if not f.reserved}
    missed = [(t, k) for i, (t, k) in enumerate(cases) if (i, k) not in found]
    assert not missed, missed[:5]
    types = {k for _, k in cases}
    assert types == {
        "my_number",
        "corporate_number",
        "payment_card",
        "phone",
        "email",
        "postal_code",
        "ip_address",
    }


@pytest.mark.parametrize("seed", range(5))
def test_wrong_check_digit_is_not_flagged(seed: int) -> None:
    rng = random.Random(seed)
    texts, bad_my, bad_corp, bad_card = [], 0, 0, 0
    for _ in range(200):
        body = "".join(rng.choice("0123456789") for _ in range(11))
        wrong = str((int(my_number_check(body)) + rng.randint(1, 9)) % 10)
        if wrong == my_number_check(body):
            continue
        texts.append(f"番号{body}{wrong}です")
        bad_my += 1
        b12 = "".join(rng.choice("0123456789") for _ in range(12))
        wrong_c = str((int(corporate_check(b12)) + rng.randint(1, 8)) % 10)
        texts.append(f"法人番号{wrong_c}{b12}です")
        bad_corp += 1
        card = luhn_complete("4" + "".join(rng.choice("0123456789") for _ in range(14)))
        texts.append(f"カード{card[:-1]}{(int(card[-1]) + rng.randint(1, 9)) % 10}です")
        bad_card += 1
    findings = find_pii(texts)
    # Each text i was built to look like expected[i] with a broken check digit.
    expected = ["my_number", "corporate_number", "payment_card"] * (len(texts) // 3)
    wrongly = [(texts[f.doc], f.type) for f in findings if f.type == expected[f.doc]]
    assert not wrongly, wrongly[:5]
    assert bad_my and bad_corp and bad_card


def test_glued_digits_do_not_split_longer_numbers() -> None:
    # A valid My Number embedded in a longer digit run is not a My Number.
    body = "12345678901"
    mn = body + my_number_check(body)
    assert find_pii([f"注文番号9{mn}9です"]) == []


def test_reserved_documentation_values_are_marked() -> None:
    found = find_pii(["連絡はinfo@example.comまで、サーバ192.0.2.15、本番127.0.0.1"])
    assert found and all(f.reserved for f in found)


def test_false_positive_rate_on_clean_text_is_below_one_percent() -> None:
    corpus = clean_corpus(5000)
    findings = find_pii(corpus)
    flagged = {f.doc for f in findings if not f.reserved}
    assert len(flagged) / len(corpus) < 0.01, [corpus[i] for i in sorted(flagged)[:5]]
