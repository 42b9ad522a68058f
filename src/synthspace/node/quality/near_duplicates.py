"""Exact and near duplicates inside the synthetic set.

Exact duplicates (same match-form text across all output fields) are listed for removal: the
first occurrence is kept. Near duplicates are found with MinHash + LSH banding implemented
in numpy over character 5-gram shingles:

* shingles are the same vectorised rolling hashes the leakage scan uses; a fixed,
  hash-determined 1/`shingle_sample` of them is kept (identical text keeps identical
  shingles, so Jaccard similarity is preserved in expectation) to bound the work;
* each of `num_perm` min-hash functions is one multiply/xor-shift over all shingles followed
  by `np.minimum.reduceat` over the records' contiguous shingle ranges;
* bands of rows are combined into one 64-bit key per band; records sharing a key with their
  group's first member and whose estimated Jaccard reaches the threshold are joined, and the
  connected components are the near-duplicate clusters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synthspace.node.privacy.text import CodeArray, blocks, mix64

_U64 = np.uint64


def exact_duplicates(match_texts: Sequence[str]) -> npt.NDArray[np.bool_]:
    """True for every record whose text already occurred earlier (keep-first)."""
    seen: set[str] = set()
    dup = np.zeros(len(match_texts), dtype=bool)
    for i, t in enumerate(match_texts):
        if t in seen:
            dup[i] = True
        else:
            seen.add(t)
    return dup


def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.2, fn_weight: float = 0.8
) -> tuple[int, int]:
    """(bands, rows) minimising weighted false-positive + false-negative area around
    `threshold`. False negatives weigh more: candidates are verified on their signatures
    afterwards, so a false positive costs only a comparison."""
    xs = np.linspace(0.0, 1.0, 201)
    best = (1, num_perm)
    best_err = float("inf")
    for b in range(1, num_perm + 1):
        r = num_perm // b
        if r == 0:
            continue
        p = 1.0 - (1.0 - xs**r) ** b
        fp = np.trapezoid(np.where(xs < threshold, p, 0.0), xs)
        fn = np.trapezoid(np.where(xs >= threshold, 1.0 - p, 0.0), xs)
        err = float(fp_weight * fp + fn_weight * fn)
        if err < best_err:
            best, best_err = (b, r), err
    return best


def minhash_signatures(
    texts: Sequence[str], num_perm: int = 64, shingle: int = 5, sample: int = 4, seed: int = 1
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """(signatures [n, num_perm], empty) for match-form texts; `empty` marks records too short
    to have any sampled shingle (their signature is meaningless and never matched)."""
    n = len(texts)
    sig = np.zeros((n, num_perm), dtype=np.uint64)
    empty = np.ones(n, dtype=bool)
    rng = np.random.default_rng(seed)
    mults = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * _U64(2) + _U64(1)
    salts = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    for b0, b1 in blocks([len(t) for t in texts]):
        arr = CodeArray.from_texts(texts[b0:b1])
        h, valid = arr.ngram_hashes(shingle)
        keep = valid
        if sample > 1:
            keep = valid & ((h & _U64(sample - 1)) == 0)
        pos = np.flatnonzero(keep)
        if not len(pos):
            continue
        hs = h[pos]
        rec = arr.doc_of(pos)
        counts = np.bincount(rec, minlength=b1 - b0)
        nonempty = counts > 0
        empty[b0:b1] = ~nonempty
        # reduceat over each record's contiguous range of sampled shingles
        seg_starts = np.searchsorted(rec, np.flatnonzero(nonempty))
        rows = b0 + np.flatnonzero(nonempty)
        tmp = np.empty_like(hs)
        for k in range(num_perm):
            # (h xor salt) * odd multiplier: a bijection whose high bits, which decide the
            # minimum, depend on every bit of the (already mixed) shingle hash.
            np.bitwise_xor(hs, salts[k], out=tmp)
            np.multiply(tmp, mults[k], out=tmp)
            sig[rows, k] = np.minimum.reduceat(tmp, seg_starts)
    return sig, empty


@dataclass
class NearDuplicateResult:
    cluster_of: npt.NDArray[np.int64]  # component id per record (records alone have their own)
    redundant: npt.NDArray[np.bool_]  # in a cluster, and not its first member
    clusters: int  # clusters with more than one member
    largest_cluster: int
    bands: int
    rows: int


def near_duplicates(
    texts: Sequence[str],
    threshold: float = 0.8,
    num_perm: int = 64,
    shingle: int = 5,
    sample: int = 4,
) -> NearDuplicateResult:
    """Cluster near-duplicate records (estimated Jaccard >= `threshold`)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(texts)
    bands, rows = optimal_bands(threshold, num_perm)
    if n == 0:
        return NearDuplicateResult(np.zeros(0, np.int64), np.zeros(0, bool), 0, 0, bands, rows)
    sig, empty = minhash_signatures(texts, num_perm, shingle, sample)
    live = np.flatnonzero(~empty)
    src: list[npt.NDArray[np.int64]] = []
    dst: list[npt.NDArray[np.int64]] = []
    for b in range(bands):
        block = sig[live, b * rows : (b + 1) * rows]
        key = np.zeros(len(live), dtype=np.uint64)
        for j in range(rows):
            key = mix64(key ^ block[:, j])
        order = np.argsort(key, kind="stable")
        ks = key[order]
        same = np.zeros(len(ks), dtype=bool)
        same[1:] = ks[1:] == ks[:-1]
        if not same.any():
            continue
        group_start = np.maximum.accumulate(np.where(~same, np.arange(len(ks)), 0))
        members = np.flatnonzero(same)
        a = live[order[members]]
        rep = live[order[group_start[members]]]
        est = (sig[a] == sig[rep]).mean(axis=1)
        ok = est >= threshold
        src.append(a[ok])
        dst.append(rep[ok])
    if src:
        s = np.concatenate(src)
        d = np.concatenate(dst)
    else:
        s = d = np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(s), dtype=np.int8), (s, d)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    labels = labels.astype(np.int64)
    sizes = np.bincount(labels)
    first = np.zeros(n, dtype=bool)
    _, first_idx = np.unique(labels, return_index=True)
    first[first_idx] = True
    redundant = (sizes[labels] > 1) & ~first
    return NearDuplicateResult(
        cluster_of=labels,
        redundant=redundant,
        clusters=int((sizes > 1).sum()),
        largest_cluster=int(sizes.max()) if len(sizes) else 0,
        bands=bands,
        rows=rows,
    )
