"""Corpus statistics: distinct-n, length distribution, compression ratio.

Distinct-n counts character units for Japanese/Chinese text (a record whose letters are at
least 30% CJK) and whitespace-separated words otherwise, pooled over a fixed-size seeded
sample of records: distinct-n grows with corpus size, so a fixed sample keeps the figure
comparable between runs of different sizes.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_LETTER = re.compile(r"\w")


def is_cjk_text(text: str, min_share: float = 0.3) -> bool:
    letters = len(_LETTER.findall(text))
    return letters > 0 and len(_CJK.findall(text)) / letters >= min_share


def tokens(text: str) -> list[str]:
    """Characters (whitespace dropped) for CJK text, lower-cased words otherwise."""
    if is_cjk_text(text):
        return [c for c in text if not c.isspace()]
    return text.lower().split()


def sample_indices(n: int, size: int, seed: int = 0) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def distinct_n(texts: Sequence[str]) -> dict[str, float]:
    """distinct-1 and distinct-2: unique n-grams / total n-grams of the pooled tokens."""
    uni: set[str] = set()
    bi: set[tuple[str, str]] = set()
    n_uni = n_bi = 0
    for t in texts:
        toks = tokens(t)
        uni.update(toks)
        n_uni += len(toks)
        pairs = list(zip(toks, toks[1:], strict=False))
        bi.update(pairs)
        n_bi += len(pairs)
    return {
        "distinct_1": len(uni) / n_uni if n_uni else 0.0,
        "distinct_2": len(bi) / n_bi if n_bi else 0.0,
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


def compression_ratio(texts: Sequence[str]) -> float:
    """Raw UTF-8 bytes / zlib-compressed bytes of the records joined: higher = more repetitive."""
    raw = "\n".join(texts).encode("utf-8")
    if not raw:
        return 0.0
    return round(len(raw) / len(zlib.compress(raw, 6)), 4)
