"""PII recall/precision: synthspace's detector vs Microsoft Presidio on one planted corpus.

    flock /tmp/synthspace-heavy.lock python benchmarks/pii_recall.py [--n 1200] [--json OUT]

The corpus is generated here from sentence templates and real formats (valid check digits,
phonenumbers-valid numbers, mod-97 IBANs): per locale ``n`` texts with one planted PII span
each and ``n`` clean texts (prices, dates, versions, article numbers, model-like digit and
dotted-number noise). A planted record counts as found when a finding overlaps the planted
span; precision is over flagged records (a flagged clean record is a false positive).

Presidio runs its predefined recognisers directly (email, phone with the locale's region,
credit card, US SSN, IBAN, IP, US driver licence off): no spaCy model is installable here,
so Presidio has no NER for names or addresses (stated in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable

from synthspace.node.privacy.pii import find_pii

EN_GIVEN = ["Michael", "Sarah", "David", "Jennifer", "Robert", "Emily", "Marcus", "Priya",
            "Thomas", "Laura", "Kevin", "Olivia", "Brandon", "Megan", "Tobias", "Keisha"]  # fmt: skip
EN_SUR = ["Thompson", "Garcia", "Nguyen", "O'Brien", "Patel", "Kowalski", "Reyes", "Fischer",
          "McAllister", "Johnson", "Okafor", "Lindqvist", "Brennan", "Castillo"]  # fmt: skip
STREETS = ["Maple", "Oak Ridge", "Pennsylvania", "Sunset", "Lakeview", "Mill", "Cedar", "Elm"]
SUFFIX = ["Street", "Avenue", "Road", "Blvd", "Lane", "Drive", "Court", "Way"]
JA_SUR = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村", "小林", "加藤"]
JA_GIVEN = ["太郎", "花子", "健一", "美咲", "翔太", "陽子", "大輔", "由美", "直樹", "恵子"]
JA_PLACES = ["東京都千代田区丸の内", "大阪市北区梅田", "横浜市中区山下町", "札幌市中央区北一条西",
             "福岡県福岡市博多区博多駅前", "名古屋市中村区名駅", "京都市下京区四条通"]  # fmt: skip


def _luhn_complete(body: str) -> str:
    for d in "0123456789":
        s = body + d
        total = 0
        for i, ch in enumerate(reversed(s)):
            v = int(ch) * (2 if i % 2 else 1)
            total += v - 9 if v > 9 else v
        if total % 10 == 0:
            return s
    raise AssertionError


def _iban(rng: random.Random) -> str:
    bban = "".join(rng.choice("0123456789") for _ in range(18))
    moved = bban + "DE00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    raw = f"DE{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def _my_number(rng: random.Random) -> str:
    body = "".join(rng.choice("0123456789") for _ in range(11))
    s = sum(int(body[10 - i]) * (i + 2 if i < 6 else i - 4) for i in range(11))
    r = s % 11
    return body + str(0 if r <= 1 else 11 - r)


def _corporate(rng: random.Random) -> str:
    body = "".join(rng.choice("0123456789") for _ in range(12))
    s = sum(int(d) * (2 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return str(9 - s % 9) + body


def _us_phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(201, 989), rng.randint(0, 9999)
    fmt = rng.choice(
        ["({a}) {b}-{c:04d}", "{a}-{b}-{c:04d}", "{a}.{b}.{c:04d}", "+1 {a} {b} {c:04d}"]
    )
    return fmt.format(a=a, b=b, c=c)


def en_planted(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(9)
    name = f"{rng.choice(EN_GIVEN)} {rng.choice(EN_SUR)}"
    if kind == 0:
        v = _us_phone(rng)
        return f"Please call me back at {v} after 5pm.", v
    if kind == 1:
        v = f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        return f"The customer's SSN is {v} according to the form.", v
    if kind == 2:
        v = f"{name.split()[0].lower()}.{rng.randint(1, 99)}@mailbox-{rng.randint(1, 50)}.com"
        return f"You can reach her at {v} anytime.", v
    if kind == 3:
        v = _luhn_complete("4" + "".join(rng.choice("0123456789") for _ in range(14)))
        v = " ".join(v[i : i + 4] for i in range(0, 16, 4))
        return f"Charge the Visa {v} for the renewal.", v
    if kind == 4:
        v = _iban(rng)
        return f"Refund to IBAN {v} please.", v
    if kind == 5:
        v = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        return f"The suspicious login came from IP {v} yesterday.", v
    if kind == 6:
        return f"I already spoke to {name} about the refund.", name
    if kind == 7:
        v = f"{rng.randint(1, 9999)} {rng.choice(STREETS)} {rng.choice(SUFFIX)}"
        return f"Send the replacement to {v}, second floor.", v
    v = f"Mr. {rng.choice(EN_SUR)}"
    return f"{v} asked whether the warranty covers water damage.", v


def ja_planted(rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(8)
    if kind == 0:
        v = f"0{rng.choice(['3', '6', '90', '80', '45'])}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
        return f"折り返しは{v}までお願いします。", v
    if kind == 1:
        v = _my_number(rng)
        return f"マイナンバーは{v}です。", v
    if kind == 2:
        v = _corporate(rng)
        return f"取引先の法人番号{v}を確認しました。", v
    if kind == 3:
        v = f"〒{rng.randint(100, 999)}-{rng.randint(1, 9999):04d}"
        return f"送付先は{v}です。", v
    if kind == 4:
        v = f"{rng.choice(JA_SUR)}{rng.choice(JA_GIVEN)}"
        return f"担当の{v}が対応いたしました。", v
    if kind == 5:
        v = f"{rng.choice(JA_SUR)}様"
        return f"{v}、いつもご利用ありがとうございます。", v
    if kind == 6:
        v = f"{rng.choice(JA_PLACES)}{rng.randint(1, 9)}丁目{rng.randint(1, 30)}-{rng.randint(1, 20)}"
        return f"ご住所は{v}で登録されています。", v
    v = f"user{rng.randint(1, 999)}@mail-{rng.randint(1, 40)}.co.jp"
    return f"メールアドレス{v}に送信しました。", v


def _noise(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(3, 7)):
        k = rng.random()
        if k < 0.3:
            parts.append(
                "".join(rng.choice("0123456789") for _ in range(rng.choice((9, 10, 12, 13))))
            )
        elif k < 0.55:
            parts.append(".".join(str(rng.randint(0, 255)) for _ in range(4)))
        else:
            parts.append(rng.choice(["output", "token", "の", "結果", "v2.1.0", "step"]))
    return " ".join(parts)


def en_clean(rng: random.Random) -> str:
    return rng.choice([
        f"The Model {rng.choice('XYZ')}{rng.randint(100, 999)} costs ${rng.randint(10, 2999)}.{rng.randint(0, 99):02d} and ships on 2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}.",
        f"Version {rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}.{rng.randint(0, 999)} fixes the sync issue.",
        f"Article no. {rng.randint(1000, 9999)}-{rng.randint(100, 999)} is back in stock; order {rng.randint(10**7, 10**8)}.",
        f"Meeting moved to {rng.randint(1, 12)}/{rng.randint(1, 28)}/2025 at {rng.randint(1, 12)}:30 in room {rng.randint(100, 999)}.",
        f"Our Support Team answers within {rng.randint(2, 48)} hours on Monday through Friday.",
        _noise(rng),
    ])  # fmt: skip


def ja_clean(rng: random.Random) -> str:
    return rng.choice([
        f"価格は{rng.randint(1, 99)},{rng.randint(100, 999)}円(税込)、発売日は2025年{rng.randint(1, 12)}月{rng.randint(1, 28)}日です。",
        f"品番ABC-{rng.randint(10000, 99999)}-{rng.randint(100, 999)}の在庫は{rng.randint(1, 50)}個です。",
        f"バージョン{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}で修正済みです。",
        f"第{rng.randint(1, 12)}章{rng.randint(1, 9)}.{rng.randint(1, 9)}節を参照してください。会議は{rng.randint(9, 17)}:00からです。",
        f"お客様の注文番号{rng.randint(10**7, 10**9)}は発送済みです。",
        _noise(rng),
    ])  # fmt: skip


def corpus(locale: str, n: int, seed: int) -> tuple[list[str], list[str | None]]:
    rng = random.Random(seed)
    planted_fn, clean_fn = (en_planted, en_clean) if locale == "en_US" else (ja_planted, ja_clean)
    texts: list[str] = []
    spans: list[str | None] = []
    for _ in range(n):
        t, v = planted_fn(rng)
        texts.append(t)
        spans.append(v)
    for _ in range(n):
        texts.append(clean_fn(rng))
        spans.append(None)
    return texts, spans


def ours(locale: str) -> Callable[[list[str]], list[list[tuple[int, int]]]]:
    def run(texts: list[str]) -> list[list[tuple[int, int]]]:
        out: list[list[tuple[int, int]]] = [[] for _ in texts]
        for f in find_pii(texts, locale=locale):
            out[f.doc].append((f.start, f.end))
        return out

    return run


def presidio(locale: str) -> Callable[[list[str]], list[list[tuple[int, int]]]]:
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    region = "US" if locale == "en_US" else "JP"
    recs = [
        EmailRecognizer(),
        PhoneRecognizer(supported_regions=(region,)),
        CreditCardRecognizer(),
        UsSsnRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
    ]

    def run(texts: list[str]) -> list[list[tuple[int, int]]]:
        out: list[list[tuple[int, int]]] = []
        for t in texts:
            spans: list[tuple[int, int]] = []
            for r in recs:
                ents = r.supported_entities
                for res in r.analyze(t, ents, None) or []:  # type: ignore[arg-type]
                    if res.score > 0:
                        spans.append((res.start, res.end))
            out.append(spans)
        return out

    return run


def score(
    texts: list[str], spans: list[str | None], found: list[list[tuple[int, int]]]
) -> dict[str, float]:
    tp = fp = fn = 0
    for t, v, fs in zip(texts, spans, found, strict=True):
        if v is None:
            fp += bool(fs)
            continue
        s = t.index(v)
        hit = any(a < s + len(v) and s < b for a, b in fs)
        tp += hit
        fn += not hit
    n_clean = sum(v is None for v in spans)
    return {
        "recall": tp / (tp + fn),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "clean_flag_rate": fp / n_clean,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1200, help="planted (and clean) texts per locale")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    rows = []
    for locale in ("en_US", "ja_JP"):
        texts, spans = corpus(locale, args.n, seed=15)
        for name, make in (("synthspace", ours), ("presidio", presidio)):
            fn = make(locale)
            fn(texts[:20])  # warm up (dictionary / recogniser loading)
            t0 = time.perf_counter()
            found = fn(texts)
            dt = time.perf_counter() - t0
            row = {"locale": locale, "detector": name, **score(texts, spans, found),
                   "records_per_s": len(texts) / dt}  # fmt: skip
            rows.append(row)
            print(
                f"{locale:6} {name:11} recall {row['recall']:.3f} precision {row['precision']:.3f} "
                f"clean flagged {row['clean_flag_rate']:.3f} {row['records_per_s']:,.0f} rec/s"
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
