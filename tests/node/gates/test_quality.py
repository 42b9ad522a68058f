"""Quality statistics and near duplicates against straightforward reference definitions."""

from __future__ import annotations

import random

import numpy as np
from gates_helpers import clean_corpus

from synthspace.node.quality.near_duplicates import exact_duplicates, near_duplicates, optimal_bands
from synthspace.node.quality.stats import compression_ratio, distinct_n, length_stats, tokens


def test_distinct_n_matches_the_token_definition_on_mixed_text() -> None:
    rng = random.Random(3)
    texts = clean_corpus(300) + [
        " ".join(
            rng.choice(["the", "court", "held", "that", "rent", "was", "due"]) for _ in range(20)
        )
        for _ in range(100)
    ]
    toks = [tokens(t) for t in texts]
    uni = [u for t in toks for u in t]
    bi = [p for t in toks for p in zip(t, t[1:], strict=False)]
    got = distinct_n(texts)
    assert got["distinct_1"] == len(set(uni)) / len(uni)
    assert got["distinct_2"] == len(set(bi)) / len(bi)
    assert 0.5 < got["cjk_share"] < 0.75  # at most the 300 clean records (some are English-heavy)


def test_repetitive_text_scores_lower_diversity_and_higher_compression() -> None:
    varied = clean_corpus(500)
    repeated = [varied[0]] * 500
    assert distinct_n(repeated)["distinct_2"] < distinct_n(varied)["distinct_2"]
    assert compression_ratio(repeated) > 5 * compression_ratio(varied)
    stats = length_stats(np.array([len(t) for t in varied]))
    assert stats["min"] <= stats["p05"] <= stats["median"] <= stats["p95"] <= stats["max"]
    assert sum(stats["histogram"]["counts"]) == 500


def test_near_duplicates_recall_and_precision() -> None:
    rng = random.Random(6)
    base = clean_corpus(600, seed=31)
    edited = []
    for t in base[:100]:  # a few characters changed: Jaccard well above 0.8
        i = rng.randrange(20, len(t) - 10)
        edited.append(t[:i] + "★" + t[i + 1 :])
    res = near_duplicates(base + edited, threshold=0.8)
    redundant = set(np.flatnonzero(res.redundant).tolist())
    found = sum(1 for k in range(100) if res.cluster_of[k] == res.cluster_of[600 + k])
    assert found >= 95
    # Unrelated records are not merged (templated clean text shares structure, not content).
    assert len(redundant - set(range(600, 700)) - set(range(100))) <= 6
    assert optimal_bands(0.8, 64)[0] * optimal_bands(0.8, 64)[1] <= 64


def test_exact_duplicates_keep_first() -> None:
    assert exact_duplicates(["a", "b", "a", "a", "c"]).tolist() == [False, False, True, True, False]
