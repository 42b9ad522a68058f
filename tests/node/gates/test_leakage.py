"""Seed leakage: planted verbatim spans at and around the thresholds, with full-width and
whitespace variants, exact copies, containment, the allowlist, and clean text."""

from __future__ import annotations

import random

import numpy as np
import pytest
from gates_helpers import clean_corpus, make_seeds

from synthspace.node.privacy.leakage import SeedIndex, SuffixAutomaton, check_leakage
from synthspace.node.privacy.text import match_form

FILL_L = "★前置きの文章です★"
FILL_R = "☆以上が回答です☆"


def fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def spaced(s: str, every: int = 4) -> str:
    return "\n".join(
        " ".join(s[i : i + every] for i in range(j, min(j + 12, len(s)), every))
        for j in range(0, len(s), 12)
    )


def seed_texts(seeds: list[dict[str, str]]) -> list[list[str]]:
    return [list(s.values()) for s in seeds]


@pytest.fixture(scope="module")
def seeds() -> list[dict[str, str]]:
    return make_seeds(40)


@pytest.fixture(scope="module")
def index(seeds: list[dict[str, str]]) -> SeedIndex:
    return SeedIndex.build(seed_texts(seeds), 13)


def spans(seeds: list[dict[str, str]], length: int, count: int, seed: int) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        i = rng.randrange(len(seeds))
        text = seeds[i]["answer"]
        start = rng.randrange(0, len(text) - length)
        out.append((i, text[start : start + length]))
    return out


@pytest.mark.parametrize("variant", ["plain", "fullwidth", "whitespace"])
def test_lcs_thresholds_exact_at_and_around(
    seeds: list[dict[str, str]], index: SeedIndex, variant: str
) -> None:
    transform = {"plain": lambda s: s, "fullwidth": fullwidth, "whitespace": spaced}[variant]
    cases = []
    for length in (20, 21, 49, 50, 51, 80):
        for i, span in spans(seeds, length, 30, seed=length):
            cases.append((length, i, FILL_L + transform(span) + FILL_R))
    res = check_leakage(index, [[t] for _, _, t in cases], lcs_review_chars=20, exact_min_chars=10)
    for k, (length, _, _) in enumerate(cases):
        # The fillers' symbols never occur in seeds, so the LCS is the span length exactly.
        if length > 20:
            assert res.lcs[k] == length, (variant, length, res.lcs[k])
    lcs = res.lcs
    lengths = np.array([c[0] for c in cases])
    assert (lcs[lengths >= 50] >= 50).all()  # recall 100% at the fail threshold
    assert (lcs[lengths == 49] < 50).all()
    assert (lcs[lengths > 20] > 20).all()  # recall 100% at the review threshold
    assert (lcs[lengths == 20] <= 20).all()


def test_seed_attribution_names_the_source_seed(
    seeds: list[dict[str, str]], index: SeedIndex
) -> None:
    planted = spans(seeds, 60, 40, seed=99)
    res = check_leakage(index, [[FILL_L + s + FILL_R] for _, s in planted], 20, 10)
    for k, (i, span) in enumerate(planted):
        owner = int(res.seed_index[k])
        assert match_form(span) in match_form(seeds[owner]["answer"]) or owner == i


def test_fullwidth_seed_matches_ascii_output() -> None:
    seeds = [
        {
            "answer": "契約書ＡＢＣ１２３号の第４５条に基づく請求は、期限内に書面で行う必要がありますので注意してください。"
        }
    ]
    idx = SeedIndex.build(seed_texts(seeds), 13)
    out = "回答:契約書abc123号の第45条に基づく請求は、期限内に書面で行う必要がありますので注意してください。"
    res = check_leakage(idx, [[out]], 20, 10)
    assert res.lcs[0] >= 50


def test_exact_field_copy(seeds: list[dict[str, str]], index: SeedIndex) -> None:
    copy = seeds[5]["question"]
    res = check_leakage(index, [[copy], [fullwidth(copy) + " "], ["短い"]], 20, 10)
    assert res.exact[0] and res.exact[1] and not res.exact[2]
    assert res.seed_index[0] == 5


def test_containment_counts_share_of_ngrams(seeds: list[dict[str, str]], index: SeedIndex) -> None:
    half = seeds[2]["answer"][:100]
    text = half + "".join(random.Random(1).choice("ABCDEFGHJK") for _ in range(100))
    res = check_leakage(index, [[text]], 20, 10)
    n_total = len(match_form(text)) - 12
    assert res.containment[0] == pytest.approx((100 - 12) / n_total, abs=0.02)


def test_allowlist_removes_boilerplate_from_matching() -> None:
    boiler = "本回答は一般的な情報提供を目的としたものであり、個別の事案については弁護士にご相談ください。"
    seeds = [{"answer": "賃料の増額請求について。" + boiler}]
    out = [["別の質問への回答です。" + boiler]]
    plain = check_leakage(SeedIndex.build(seed_texts(seeds), 13), out, 20, 10)
    allowed = check_leakage(SeedIndex.build(seed_texts(seeds), 13, [boiler]), out, 20, 10)
    assert plain.lcs[0] >= len(boiler) - 1
    assert allowed.lcs[0] == 0 and allowed.containment[0] == 0.0


def test_clean_generated_text_has_under_one_percent_review(index: SeedIndex) -> None:
    corpus = clean_corpus(5000, seed=23)
    res = check_leakage(index, [[t] for t in corpus], 20, 10)
    flagged = (res.lcs > 20) | (res.containment >= 0.2) | res.exact
    assert flagged.mean() < 0.01


def test_suffix_automaton_matches_brute_force() -> None:
    rng = random.Random(4)
    seeds = ["".join(rng.choice("abc") for _ in range(rng.randint(5, 30))) for _ in range(6)]
    starts, pos = [], 0
    for s in seeds:
        starts.append(pos)
        pos += len(s) + 1
    sam = SuffixAutomaton("\ue000".join(seeds), starts)
    for _ in range(200):
        q = "".join(rng.choice("abcd") for _ in range(rng.randint(1, 25)))
        best = max(
            (
                j - i
                for s in seeds
                for i in range(len(q))
                for j in range(i + 1, len(q) + 1)
                if q[i:j] in s
            ),
            default=0,
        )
        length, seed, _ = sam.longest_match(q)
        assert length == best
        if best:
            assert any(q[k - best + 1 : k + 1] in seeds[seed] for k in range(len(q)))
