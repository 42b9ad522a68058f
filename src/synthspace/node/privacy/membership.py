"""Membership check: are seeds used in generation closer to the output than held-out ones?

If a holdout of seeds was kept out of generation, each seed's similarity to the synthetic set
is the largest share of its character n-grams found in any single synthetic record. If the
generator memorised its seeds, used seeds score higher than held-out ones; the AUC of
"used" versus "held-out" by that score is then well above 0.5 (0.5 = indistinguishable).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def seed_max_similarity(
    hit_records: npt.NDArray[np.int64],
    hit_hash_idx: npt.NDArray[np.int64],
    pair_hash_idx: npt.NDArray[np.int64],
    pair_seed: npt.NDArray[np.int64],
    seed_ngram_counts: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Per seed: max over records of (distinct seed n-grams in the record) / (seed n-grams).

    `hit_records`/`hit_hash_idx` are the (record, unique-hash index) hits of the leakage scan;
    `pair_hash_idx`/`pair_seed` list every (hash index, seed) containing it, sorted by hash index.
    """
    nseeds = len(seed_ngram_counts)
    best = np.zeros(nseeds, dtype=np.float64)
    if len(hit_records) == 0:
        return best
    # distinct (record, hash) hits
    key = np.unique(hit_records.astype(np.int64) * np.int64(1 << 32) + hit_hash_idx)
    recs = key >> np.int64(32)
    hidx = key & np.int64((1 << 32) - 1)
    lo = np.searchsorted(pair_hash_idx, hidx, side="left")
    hi = np.searchsorted(pair_hash_idx, hidx, side="right")
    reps = hi - lo
    rec_rep = np.repeat(recs, reps)
    offs = np.repeat(lo - np.cumsum(np.concatenate(([0], reps[:-1]))), reps) + np.arange(reps.sum())
    seeds = pair_seed[offs]
    pair = seeds * np.int64(1 << 32) + rec_rep
    uniq, cnt = np.unique(pair, return_counts=True)
    s = uniq >> np.int64(32)
    np.maximum.at(best, s, cnt / np.maximum(seed_ngram_counts[s], 1))
    return best


def membership_auc(
    used_scores: npt.NDArray[np.float64], holdout_scores: npt.NDArray[np.float64]
) -> float:
    """P(score of a used seed > score of a held-out seed), ties counted one half."""
    from scipy.stats import rankdata

    n1, n0 = len(used_scores), len(holdout_scores)
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([used_scores, holdout_scores]))
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    return float(u / (n1 * n0))
