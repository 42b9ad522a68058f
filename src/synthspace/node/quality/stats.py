"""Corpus statistics: distinct-n, length distribution, compression ratio.

Distinct-n counts character units for Japanese/Chinese text (a record whose letters are at
least 30% CJK) and whitespace-separated words otherwise, pooled over a fixed-size seeded
sample of records: distinct-n grows with corpus size, so a fixed sample keeps the figure
comparable between runs of different sizes.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np


def is_cjk_text(text: str, min_share: float = 0.3) -> bool:
    """Are at least `min_share` of the letters (CJK, ASCII alphanumerics, other scripts) CJK?"""
    return bool(_cjk_flags([text], min_share)[0])


def tokens(text: str) -> list[str]:
    """Characters (whitespace dropped) for CJK text, lower-cased words otherwise."""
    if is_cjk_text(text):
        return [c for c in text if not c.isspace()]
    return text.lower().split()


def sample_indices(n: int, size: int, seed: int = 0) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _cjk_flags(texts: Sequence[str], min_share: float = 0.3) -> np.ndarray:
    """Per text: are at least `min_share` of its letters CJK? (vectorised over code points)"""
    if not texts:
        return np.zeros(0, dtype=bool)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    owner = np.repeat(np.arange(len(texts)), lengths)
    cjk = (
        ((codes >= 0x3040) & (codes <= 0x30FF))
        | ((codes >= 0x3400) & (codes <= 0x4DBF))
        | ((codes >= 0x4E00) & (codes <= 0x9FFF))
        | ((codes >= 0xF900) & (codes <= 0xFAFF))
        | ((codes >= 0xFF66) & (codes <= 0xFF9F))
    )
    ascii_alnum = ((codes >= 48) & (codes <= 57)) | ((codes | 32) >= 97) & ((codes | 32) <= 122)
    other_letter = (
        (codes >= 0xC0)
        & ~cjk
        & ~((codes >= 0x3000) & (codes <= 0x303F))
        & ~((codes >= 0xFF00) & (codes <= 0xFF0F))
    )
    letters = np.bincount(owner, weights=(cjk | ascii_alnum | other_letter), minlength=len(texts))
    n_cjk = np.bincount(owner, weights=cjk, minlength=len(texts))
    return (letters > 0) & (n_cjk >= min_share * np.maximum(letters, 1))


def distinct_n(texts: Sequence[str]) -> dict[str, float]:
    """distinct-1 and distinct-2: unique n-grams / total n-grams of the pooled tokens
    (characters of CJK records, whitespace excluded; lower-cased words of the others)."""
    flags = _cjk_flags(texts)
    uni_parts: list[np.ndarray] = []
    bi_parts: list[np.ndarray] = []
    # CJK records: code points; bigrams inside each record only.
    cjk_texts = ["".join(t.split()) for t, f in zip(texts, flags, strict=True) if f]
    if cjk_texts:
        lengths = np.fromiter((len(t) for t in cjk_texts), dtype=np.int64, count=len(cjk_texts))
        codes = np.frombuffer("".join(cjk_texts).encode("utf-32-le"), dtype=np.uint32).astype(
            np.int64
        )
        uni_parts.append(codes)
        same = np.ones(len(codes), dtype=bool)
        same[np.cumsum(lengths)[:-1]] = False  # a bigram may not start a new record
        pair = (codes[:-1] << 21) | codes[1:]
        bi_parts.append(pair[same[1:]])
    # Other records: words mapped to ids beyond the code-point range.
    vocab: dict[str, int] = {}
    word_ids: list[int] = []
    word_pairs: list[int] = []
    for t, f in zip(texts, flags, strict=True):
        if f:
            continue
        ids = [vocab.setdefault(w, (1 << 21) + len(vocab)) for w in t.lower().split()]
        word_ids.extend(ids)
        word_pairs.extend((a << 24) | b for a, b in zip(ids, ids[1:], strict=False))
    if word_ids:
        uni_parts.append(np.array(word_ids, dtype=np.int64))
        bi_parts.append(np.array(word_pairs, dtype=np.int64) | (1 << 62))
    uni = np.concatenate(uni_parts) if uni_parts else np.zeros(0, dtype=np.int64)
    bi = np.concatenate(bi_parts) if bi_parts else np.zeros(0, dtype=np.int64)
    return {
        "distinct_1": len(np.unique(uni)) / len(uni) if len(uni) else 0.0,
        "distinct_2": len(np.unique(bi)) / len(bi) if len(bi) else 0.0,
        "cjk_share": float(flags.mean()) if len(flags) else 0.0,
    }


def length_stats(lengths: np.ndarray) -> dict[str, Any]:
    """Distribution of record lengths in characters."""
    if len(lengths) == 0:
        return {"count": 0}
    q = np.percentile(lengths, [5, 25, 50, 75, 95])
    hist, edges = np.histogram(lengths, bins=10)
    return {
        "count": int(len(lengths)),
        "mean": round(float(lengths.mean()), 2),
        "std": round(float(lengths.std()), 2),
        "min": int(lengths.min()),
        "p05": float(q[0]),
        "p25": float(q[1]),
        "median": float(q[2]),
        "p75": float(q[3]),
        "p95": float(q[4]),
        "max": int(lengths.max()),
        "histogram": {"counts": hist.tolist(), "edges": [round(float(e), 1) for e in edges]},
    }


def compression_ratio(texts: Sequence[str], max_records: int = 3000) -> float:
    """Raw UTF-8 bytes / zlib-compressed bytes of (at most `max_records` of) the records
    joined: higher = more repetitive."""
    raw = "\n".join(texts[:max_records]).encode("utf-8")
    if not raw:
        return 0.0
    return round(len(raw) / len(zlib.compress(raw, 6)), 4)
