"""Confidence intervals: Wilson score interval for an accuracy, normal interval for a paired delta."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of correct/n (well-behaved near 0 and 1, unlike the Wald interval)."""
    if n <= 0:
        return (0.0, 1.0)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def paired_delta_interval(
    base: list[bool], other: list[bool], z: float = Z95
) -> tuple[float, float, float]:
    """(mean of other-base per item, low, high): normal interval on the paired per-item differences."""
    if len(base) != len(other):
        raise ValueError("paired results must cover the same items")
    n = len(base)
    if n == 0:
        return (0.0, -1.0, 1.0)
    diffs = [int(b) - int(a) for a, b in zip(base, other, strict=True)]
    mean = sum(diffs) / n
    if n == 1:
        return (mean, -1.0, 1.0)
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    half = z * math.sqrt(var / n)
    return (mean, max(-1.0, mean - half), min(1.0, mean + half))
